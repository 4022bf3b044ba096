"""Scripted players. They play from the messages they see, sharing the lexicon's themes as their convention:
the cluegiver names a theme's clue word for the team words in that theme, the guesser looks the clue up and
guesses the listed words of that theme. Where a board word is in no theme (official clembench boards), the
cluegiver falls back to clembench's own mock convention: the target spelt backwards.

The competent guesser cheats in one place only: among the words the clue points to, it puts the team's words
(from the instance) first; a clue outside the convention gets a blind guess, so a learning cluegiver paired
with it is not rewarded for clues that mean nothing. The bad players pick wrong words and now and then break
the format.
"""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Mapping

from playpen.core.messages import Policy
from playpen.games.codenames.board import TEAM
from playpen.games.codenames.lemmas import lemma
from playpen.games.codenames.lexicon import lexicon
from playpen.games.codenames.master import CLUEGIVER_ROLE, GUESSER_ROLE
from playpen.games.codenames.prompts import LIST_LABELS

MAX_TARGETS = 4
_CLUE = re.compile(r"clue is '(.*)' and it is meant for (\d+) ")


def _last_prompt(messages: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def read_lists(prompt: str) -> dict[str, list[str]]:
    """The cluegiver's four word lists, by assignment."""
    lists = {kind: [] for kind in LIST_LABELS}
    for line in prompt.splitlines():
        for kind, label in LIST_LABELS.items():
            if line.startswith(label):
                lists[kind] = [word for word in line.removeprefix(label).strip().split(", ") if word]
    return lists


def read_clue_prompt(prompt: str) -> tuple[str, int, list[str]]:
    """The guesser's clue, number of words and board (the last paragraph)."""
    match = _CLUE.search(prompt)
    clue, number = (match.group(1), int(match.group(2))) if match else ("", 1)
    board = [word for word in prompt.rsplit("\n\n", 1)[-1].strip().split(", ") if word]
    return clue, number, board


def _backwards(word: str) -> str:
    return word[::-1] if word != word[::-1] else word + word


def theme_clue(team: list[str], hidden: list[str], rng: random.Random) -> tuple[str, list[str]] | None:
    """The best theme clue for the team's words: most targets, fewest other hidden words of the theme."""
    hidden_set = set(hidden)
    hidden_lemmas = {lemma(word) for word in hidden}
    best: tuple[tuple[float, ...], str, list[str]] | None = None
    lex = lexicon()
    candidates = dict.fromkeys(theme for word in team for theme in lex.themes_with(word))
    for theme in candidates:
        members = theme.members
        targets = [word for word in team if word in members]
        clue = next((c for c in theme.clues if c not in hidden_set and lemma(c) not in hidden_lemmas), None)
        if clue is None:
            continue
        others = sum(word in members and word not in team for word in hidden)
        targets = targets[:MAX_TARGETS]
        key = (len(targets), -others, rng.random())
        if best is None or key > best[0]:
            best = (key, clue, targets)
    return None if best is None else (best[1], best[2])


def competent_cluegiver(rng: random.Random) -> Policy:
    def play(messages: list[dict[str, str]]) -> str:
        lists = read_lists(_last_prompt(messages))
        hidden = [word for words in lists.values() for word in words]
        chosen = theme_clue(lists[TEAM], hidden, rng)
        if chosen is None:
            hidden_lemmas = {lemma(word) for word in hidden}
            usable = [w for w in lists[TEAM] if lemma(_backwards(w)) not in hidden_lemmas] or lists[TEAM] or hidden
            target = rng.choice(usable)
            chosen = (_backwards(target), [target])
        clue, targets = chosen
        return f"CLUE: {clue}\nTARGETS: {', '.join(targets)}"

    return play


def pointed_words(clue: str, board: list[str]) -> list[str]:
    """The board words the clue stands for under the shared convention, in board order."""
    themed = {word for theme in lexicon().themes_for_clue(clue) for word in theme.words}
    return [word for word in board if word in themed or _backwards(word) == clue]


def competent_guesser(instance: Mapping[str, Any]) -> Policy:
    team = set(instance.get("assignments", {}).get(TEAM, []))

    def play(messages: list[dict[str, str]]) -> str:
        clue, number, board = read_clue_prompt(_last_prompt(messages))
        # a clue outside the convention gets an honest blind guess: the first listed word
        candidates = pointed_words(clue, board) or board[:1]
        candidates.sort(key=lambda word: word not in team)  # the one cheat: team words first
        return f"GUESS: {', '.join(candidates[:max(number, 1)])}"

    return play


def bad_cluegiver(rng: random.Random) -> Policy:
    def play(messages: list[dict[str, str]]) -> str:
        lists = read_lists(_last_prompt(messages))
        hidden = [word for words in lists.values() for word in words] or ["word"]
        theme = rng.choice(lexicon().themes)
        clue = rng.choice(theme.clues)
        targets = ", ".join(rng.sample(hidden, rng.randint(1, min(3, len(hidden)))))
        roll = rng.random()
        if roll < 0.05:
            return f"My clue is {clue}.\nCLUE: {clue}\nTARGETS: {targets}"
        if roll < 0.1:
            return f"CLUE: {clue} {rng.choice(hidden)}\nTARGETS: {targets}"
        if roll < 0.15:
            return f"CLUE: {clue}"
        return f"CLUE: {clue}\nTARGETS: {targets}"

    return play


def bad_guesser(rng: random.Random) -> Policy:
    def play(messages: list[dict[str, str]]) -> str:
        _, number, board = read_clue_prompt(_last_prompt(messages))
        board = board or ["word"]
        roll = rng.random()
        if roll < 0.08:
            return f"I would say {rng.choice(board)}"
        if roll < 0.15:
            return f"GUESS: {', '.join(rng.sample(board, min(number + 1, len(board))))}"
        return f"GUESS: {', '.join(rng.sample(board, rng.randint(1, min(max(number, 1), len(board)))))}"

    return play


_FACTORIES: dict[tuple[str, str], Callable[[random.Random, Mapping[str, Any]], Policy]] = {
    (CLUEGIVER_ROLE, "competent"): lambda rng, instance: competent_cluegiver(rng),
    (GUESSER_ROLE, "competent"): lambda rng, instance: competent_guesser(instance),
    (CLUEGIVER_ROLE, "bad"): lambda rng, instance: bad_cluegiver(rng),
    (GUESSER_ROLE, "bad"): lambda rng, instance: bad_guesser(rng),
}


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    factory = _FACTORIES.get((role, skill))
    if factory is None:
        raise ValueError(f"codenames has no scripted {skill!r} player for role {role!r}")
    return factory(random.Random(f"codenames/{role}/{skill}/{seed}"), instance)
