"""clembench's metric names, so that our scores files line up with the public leaderboard."""

ABORTED = "Aborted"
LOSE = "Lose"
SUCCESS = "Success"
REQUEST_COUNT = "Request Count"
PARSED_REQUEST_COUNT = "Parsed Request Count"
VIOLATED_REQUEST_COUNT = "Violated Request Count"
REQUEST_SUCCESS_RATIO = "Request Success Ratio"
MAIN_SCORE = "Main Score"
# Derived by eval only (1 - Aborted); games never log it.
PLAYED = "Played"

TURN_SCORES_KEY = "turn scores"
EPISODE_SCORES_KEY = "episode scores"
