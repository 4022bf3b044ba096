"""Prompts for codenames, in our own words. Protocol markers (``CLUE: ``, ``TARGETS: ``, ``GUESS: ``) and
the facts given to the players are clembench's; the scripted players read the labelled lines below."""

from __future__ import annotations

from string import Template

#: labels of the four word lists in the cluegiver's prompts, by assignment
LIST_LABELS = {
    "team": "Your team's words:",
    "opponent": "The other team's words:",
    "innocent": "Innocent words:",
    "assassin": "Assassin words:",
}

CLUEGIVER_INITIAL = Template("""\
You are the clue giver of your team in a game of Codenames. Your teammate, the guesser, sees the words on \
the board but does not know which of them belong to your team.

In each turn you give one clue word and name the words of your team it is meant to point to (your targets). \
Your teammate may then guess as many words as you named targets. Guessed words are uncovered one after the \
other; the guessing stops at the first word that is not your team's. An opponent or innocent word ends your \
turn and lets the other team uncover words; an assassin word loses the game for your team at once. Your team \
wins when all of its words are uncovered before the other team has uncovered all of theirs.

A clue that points to more words gets you there faster but is harder to guess. The clue must be connected to \
its targets by meaning; it may not be a word on the board or a form of one (such as its plural).

Reply with exactly these two lines and nothing else:
CLUE: <one word>
TARGETS: <your target words, separated by commas>

$lists""")

CLUEGIVER_NEXT = Template("""\
Now give your next clue for some of your team's remaining words, again in two lines: 'CLUE: ' followed by \
one word, then 'TARGETS: ' followed by the target words, separated by commas. Uncovered words are no longer \
listed.

$lists""")

GUESSER_INITIAL = Template("""\
You are the guesser of your team in a game of Codenames. Your teammate, the clue giver, knows which of the \
words below belong to your team and gives you one-word clues for them.

The clue is '$clue' and it is meant for $number of the words below. Name the words you think it points to, \
the most likely first, at most $number of them, separated by commas. They are uncovered in that order and \
your turn stops at the first word that is not your team's; an assassin word loses the game. Start your \
answer with 'GUESS: ' and write nothing else.

$board""")

GUESSER_NEXT = Template("""\
The next clue is '$clue' and it is meant for $number of the words below. Name at least 1 and at most $number \
of them, the most likely first, separated by commas, on one line that starts with 'GUESS: '. Uncovered words \
are no longer listed.

$board""")

CLUEGIVER_TURN_OVER = "That ends your teammate's turn."
GUESSER_TURN_OVER = "That ends your turn."


def word_lists(hidden: dict[str, list[str]]) -> str:
    return "\n".join(f"{label} {', '.join(hidden[kind])}" for kind, label in LIST_LABELS.items())


def board_line(words: list[str]) -> str:
    return ", ".join(words)


def guess_feedback(correct: list[str], wrong: tuple[str, str] | None) -> str:
    """What the guesses uncovered: the team words, then the word that ended the turn (word, assignment)."""
    parts = []
    if len(correct) == 1:
        parts.append(f"Correct: {correct[0]} is a team word.")
    elif correct:
        parts.append(f"Correct: {', '.join(correct)} are team words.")
    if wrong is not None:
        word, kind = wrong
        parts.append(f"Wrong: {word} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} word.")
    return " ".join(parts)


def opponent_feedback(words: list[str]) -> str:
    """Only with ``playpen_fix_stale_lists``: tell the players what the other team uncovered."""
    return f"Then the other team uncovered: {', '.join(words)}." if words else "Then the other team uncovered nothing."
