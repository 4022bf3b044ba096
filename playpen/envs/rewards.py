"""Episode rewards for learning: functions of a finished game master.

Every reward function takes the finished :class:`GameMaster` and returns a float. They are available by name
(``get_reward("paper")``) so that configs and the CLI can pick them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from playpen.core import metrics
from playpen.core.errors import PlaypenError
from playpen.core.master import GameMaster, Status

RewardFn = Callable[[GameMaster], float]


def _main_score(master: GameMaster) -> float:
    value = master.scores()[metrics.EPISODE_SCORES_KEY][metrics.MAIN_SCORE]
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def main_score(master: GameMaster, *, abort_penalty: float = 0.0) -> float:
    """Main Score / 100 for a won episode, 0 for a lost one, ``-abort_penalty`` for an aborted one."""
    if master.outcome.status is Status.ABORTED:
        return -abort_penalty or 0.0
    if master.outcome.status is Status.LOSE:
        return 0.0
    return _main_score(master) / 100


def quality(master: GameMaster, *, abort_penalty: float = 0.0) -> float:
    """Main Score / 100 for every played episode (partial credit for lost ones), ``-abort_penalty`` if aborted."""
    if master.outcome.status is Status.ABORTED:
        return -abort_penalty or 0.0
    return _main_score(master) / 100


def success(master: GameMaster, *, abort_penalty: float = 0.0) -> float:
    """1 for a win, 0 for a loss, ``-abort_penalty`` for an abort."""
    if master.outcome.status is Status.ABORTED:
        return -abort_penalty or 0.0
    return float(master.outcome.status is Status.SUCCESS)


def paper(master: GameMaster, *, abort_penalty: float = 0.0) -> float:
    """The Playpen paper's GRPO episode rewards (its final reward code), as each game's
    ``GameSpec.paper_reward`` declares it (taboo: 1/#rounds when guessed; wordle variants, referencegame,
    imagegame: success; privateshared and the games it did not train on: Main Score / 100); aborts ->
    ``-abort_penalty`` (the paper's ``fail_reward``, 0 by default). A game outside the registry gets quality."""
    from playpen.games import get_game

    if master.outcome.status is Status.ABORTED:
        return -abort_penalty or 0.0
    try:
        kind = get_game(master.name).paper_reward
    except PlaypenError:
        kind = "quality"
    won = master.outcome.status is Status.SUCCESS
    if kind == "per_round":
        return 1 / len(master.rounds) if won else 0.0
    if kind == "success":
        return float(won)
    return _main_score(master) / 100


REWARDS: dict[str, Callable[..., float]] = {
    "main_score": main_score,
    "quality": quality,
    "success": success,
    "paper": paper,
}


def get_reward(name: str | RewardFn, *, abort_penalty: float = 0.0) -> RewardFn:
    if callable(name):
        return name
    if name not in REWARDS:
        raise PlaypenError(f"unknown reward '{name}' (choose one of {', '.join(REWARDS)})")
    return partial(REWARDS[name], abort_penalty=abort_penalty)
