"""Scripted wordle players.

* competent guesser: a Wordle solver that plays only from the colour feedback in its own messages. It keeps
  the vocabulary words consistent with every feedback so far and guesses the most answer-like of them,
  unless one of the next few splits the remaining candidates into clearly more colour patterns.
* competent critic: a teacher that knows the target word (a fact the real critic does not have). It agrees
  when the proposal could still be the target given the colours of the proposals it has seen.
* literal guesser (wordle_withclue): guesses the word the clue describes first (it knows the target), then plays
  as the competent solver; the teacher of reading a clue, for SFT.
* bad players: the guesser guesses common words at random, ignoring the feedback, and breaks the format
  now and then; the critic says yes or no at random and sometimes breaks the format.

Every reply is a pure function of (seed, role, messages).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from playpen.core.messages import Policy
from playpen.games.wordle.rules import (
    AGREEMENT_TAG,
    EXPLANATION_TAG,
    FEEDBACK_TAG,
    GREEN,
    GUESS_AGREEMENT_TAG,
    GUESS_TAG,
    YELLOW,
    colours,
    parse_feedback,
)
from playpen.games.wordle.words import Vocabulary, vocabulary_for, word_ranks

Observation = tuple[str, list[str]]  # a guess and its colours

OPENERS = ("slate", "crane", "trace", "crate", "stare", "arise", "raise", "slant")
#: the solver scores the best ``SHORTLIST`` candidates by how many colour patterns they split the best
#: ``SAMPLE`` candidates into, and leaves the most answer-like one only for ``SPLIT_MARGIN`` more patterns
SHORTLIST = 12
SAMPLE = 120
SPLIT_MARGIN = 3
BAD_FORMAT_RATE = 0.15
BAD_VOCABULARY = 3000  # the bad guesser picks among this many most common words


# ---------------------------------------------------------------------------------------------- solver
class Constraints:
    """What a set of observations says about the target: letters fixed, banned per position, letter counts."""

    def __init__(self, observations: Iterable[Observation], length: int = 5):
        self.fixed: list[str | None] = [None] * length
        self.banned: list[set[str]] = [set() for _ in range(length)]
        self.min_count: Counter[str] = Counter()
        self.max_count: dict[str, int] = {}
        for guess, colour_list in observations:
            present: Counter[str] = Counter()
            capped = set()
            for i, (letter, colour) in enumerate(zip(guess, colour_list)):
                if i >= length:
                    break
                if colour == GREEN:
                    self.fixed[i] = letter
                    present[letter] += 1
                else:
                    self.banned[i].add(letter)
                    if colour == YELLOW:
                        present[letter] += 1
                    else:
                        capped.add(letter)
            for letter, count in present.items():
                self.min_count[letter] = max(self.min_count[letter], count)
            for letter in capped:
                self.max_count[letter] = min(self.max_count.get(letter, length), present[letter])

    def pattern(self) -> re.Pattern:
        """A line regex for the positional constraints (letter counts are checked afterwards)."""
        absent = {letter for letter, count in self.max_count.items() if count == 0}
        parts = []
        for fixed, banned in zip(self.fixed, self.banned):
            if fixed:
                parts.append(re.escape(fixed))
            else:
                excluded = "".join(sorted(banned | absent))
                parts.append(f"[^\\n{re.escape(excluded)}]" if excluded else "[^\\n]")
        return re.compile("^" + "".join(parts) + "$", re.MULTILINE)

    def counts_fit(self, word: str) -> bool:
        for letter, count in self.min_count.items():
            if word.count(letter) < count:
                return False
        return all(word.count(letter) <= count for letter, count in self.max_count.items())


class Solver:
    """Candidate filtering over one vocabulary, its words ordered by answer-likeness."""

    def __init__(self, vocabulary: Vocabulary):
        ranks = word_ranks()
        unranked = len(ranks)
        self.words = sorted(vocabulary.words, key=lambda w: (ranks.get(w, unranked), w))
        self.text = "\n".join(self.words)

    def candidates(self, observations: Sequence[Observation], length: int = 5) -> list[str]:
        constraints = Constraints(observations, length)
        return [w for w in constraints.pattern().findall(self.text) if constraints.counts_fit(w)]

    def best_guess(self, candidates: Sequence[str]) -> str:
        """The most answer-like candidate, unless one of the next few splits the rest clearly better."""
        if len(candidates) <= 2:
            return candidates[0]
        sample = candidates[:SAMPLE]

        def patterns(word: str) -> int:
            return len({tuple(colours(word, other)) for other in sample})

        best, best_score = candidates[0], patterns(candidates[0])
        for word in candidates[1:SHORTLIST]:
            score = patterns(word)
            if score >= best_score + SPLIT_MARGIN:
                best, best_score = word, score
        return best


_SOLVERS: dict[int, tuple[Vocabulary, Solver]] = {}


def solver_for(vocabulary: Vocabulary) -> Solver:
    entry = _SOLVERS.get(id(vocabulary))
    if entry is None or entry[0] is not vocabulary:
        if len(_SOLVERS) >= 8:
            _SOLVERS.pop(next(iter(_SOLVERS)))
        entry = (vocabulary, Solver(vocabulary))
        _SOLVERS[id(vocabulary)] = entry
    return entry[1]


# ---------------------------------------------------------------------------------------------- reading messages
_GUESS_LINE = re.compile(rf"{re.escape(GUESS_TAG)}\s*([^\n]*)", re.IGNORECASE)


def observations_in(messages: Sequence[Mapping[str, str]]) -> list[Observation]:
    """The colour feedback the guesser has received (the rules' example in the first message is skipped)."""
    found = []
    for message in messages[1:]:
        content = message.get("content", "")
        if message.get("role") == "user" and content.startswith(FEEDBACK_TAG):
            tokens = parse_feedback(content.split("\n", 1)[0])
            found.append(("".join(t[0] for t in tokens), [t[1] for t in tokens]))
    return found


def guesses_in(messages: Sequence[Mapping[str, str]], role: str) -> list[str]:
    """The word after the last ``guess:`` of every message of ``role`` (a prompt's example comes first)."""
    words = []
    for message in messages:
        if message.get("role") == role:
            matches = _GUESS_LINE.findall(message.get("content", ""))
            if matches:
                words.append(matches[-1].strip().lower())
    return words


def tagged_value(text: str, tag: str) -> str:
    for line in text.split("\n"):
        if line.lower().startswith(tag):
            return line[len(tag):].strip()
    return ""


def reply(explanation: str, content: str, tag: str = GUESS_TAG) -> str:
    return f"{EXPLANATION_TAG} {explanation}\n{tag} {content}"


# ---------------------------------------------------------------------------------------------- players
def competent_guesser(vocabulary: Vocabulary, seed: int, length: int) -> Policy:
    solver = solver_for(vocabulary)
    openers = [w for w in OPENERS if w in vocabulary] or solver.words[:1]
    opener = random.Random(f"wordle-opener-{seed}").choice(openers)

    def play(messages: list[dict[str, str]]) -> str:
        last = messages[-1]["content"] if messages else ""
        observations = observations_in(messages)
        coloured = {guess for guess, _ in observations}
        proposals = guesses_in(messages, "assistant")
        if GUESS_AGREEMENT_TAG in last and proposals:  # wordle_withcritic: commit after the critic's opinion
            proposal = proposals[-1]
            if tagged_value(last, GUESS_AGREEMENT_TAG).lower() == "yes":
                return reply("my partner agrees, so I keep the word I proposed.", proposal)
            candidates = [w for w in solver.candidates(observations, length) if w not in coloured | {proposal}]
            if not candidates:
                return reply("no other word fits the colours, so I keep my word.", proposal)
            guess = solver.best_guess(candidates)
            return reply(f"my partner disagrees; {guess} fits the colours as well.", guess)
        if not observations:
            return reply("a word with common letters, to learn as much as possible.", opener)
        candidates = [w for w in solver.candidates(observations, length) if w not in coloured]
        if not candidates:
            fallback = next(w for w in solver.words if w not in coloured)
            return reply("no word I know fits all the colours, so I try a common word.", fallback)
        guess = solver.best_guess(candidates)
        return reply(f"{len(candidates)} words still fit all the colours; this one narrows them down best.", guess)

    return play


def literal_guesser(target: str, fallback: Policy) -> Policy:
    """wordle_withclue's literal guesser: its first guess is the word the clue describes (it knows the target,
    as a perfect clue dictionary would), later ones are the competent solver's. A teacher of the skill a small
    model can learn: reading a clue as a word."""

    def play(messages: list[dict[str, str]]) -> str:
        if not observations_in(messages) and not guesses_in(messages, "assistant"):
            return reply("the clue describes this word.", target)
        return fallback(messages)

    return play


def competent_critic(target: str) -> Policy:
    def judge(messages: list[dict[str, str]]) -> str:
        proposals = guesses_in(messages, "user")
        if not proposals:
            return reply("I cannot see a guess to judge.", "no", AGREEMENT_TAG)
        proposal, earlier = proposals[-1], proposals[:-1]
        fits = all(colours(word, target) == colours(word, proposal) for word in earlier)
        if proposal == target or (fits and len(proposal) == len(target)):
            return reply("the guess fits the clue and what we learned from the earlier guesses.", "yes", AGREEMENT_TAG)
        return reply("the guess contradicts the letters we already know; try another word.", "no", AGREEMENT_TAG)

    return judge


_BROKEN_GUESSES = (
    "guess: {word}",  # no explanation first
    "explanation: a nice word.\n\nguess: {word}",  # an empty line too many
    "explanation: a short word this time.\nguess: {short}",
    "explanation: I am quite sure.\nguess: {word}.",
    "explanation: two options.\nguess: {word}\nguess: {other}",
    "explanation: maybe this one.\nguess: {nonword}",
)


def bad_guesser(vocabulary: Vocabulary, seed: int) -> Policy:
    common = solver_for(vocabulary).words[:BAD_VOCABULARY]

    def play(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"wordle-bad-guesser-{seed}-{len(messages)}")
        word, other = rng.choice(common), rng.choice(common)
        if rng.random() < BAD_FORMAT_RATE:
            nonword = "".join(rng.choice("qxzjv") for _ in range(len(word)))
            return rng.choice(_BROKEN_GUESSES).format(word=word, other=other, short=word[:4], nonword=nonword)
        return reply("I like this word.", word)

    return play


_BROKEN_AGREEMENTS = (
    "agreement: yes",
    "explanation: hard to say.\nagreement: maybe",
    "I agree with the guess.",
    "explanation: fine.\nagreement: yes\nagreement: no",
)


def bad_critic(seed: int) -> Policy:
    def judge(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"wordle-bad-critic-{seed}-{len(messages)}")
        if rng.random() < BAD_FORMAT_RATE:
            return rng.choice(_BROKEN_AGREEMENTS)
        return reply("just my feeling.", rng.choice(("yes", "no")), AGREEMENT_TAG)

    return judge


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    """The scripted-player factory of all three wordle variants (``literal``: wordle_withclue's guesser)."""
    if skill not in ("competent", "bad", "literal"):
        raise ValueError(f"unknown skill '{skill}' (expected 'competent', 'bad' or 'literal')")
    vocabulary = vocabulary_for(experiment)
    length = int((experiment.get("common_config") or {}).get("max_word_length", 5))
    if role in ("WordGuesser", "ReflectingWordGuesser"):
        if skill == "literal":
            target = str(instance["target_word"]).strip().lower()
            return literal_guesser(target, competent_guesser(vocabulary, seed, length))
        return competent_guesser(vocabulary, seed, length) if skill == "competent" else bad_guesser(vocabulary, seed)
    if role == "WordCritic":
        target = str(instance["target_word"]).strip().lower()
        return competent_critic(target) if skill == "competent" else bad_critic(seed)
    raise ValueError(f"wordle has no role '{role}' (roles: WordGuesser, ReflectingWordGuesser, WordCritic)")
