"""guesswhat prompts, in our own words (clembench's protocol markers: QUESTION:, GUESS:, ANSWER:).

An official experiment carries clembench's prompts (``guesser_initial_prompt`` with ``$LIST$`` and ``$N$``,
``answerer_initial_prompt`` with ``$TARGET WORD$``): then those are filled in and sent."""

from __future__ import annotations

from string import Template
from typing import Any, Mapping

from playpen.games.official import fill, official_text

GUESSER = Template(
    """Let's play a guessing game. One of the words in the list below is the target word. Find out which one by asking questions that can be answered with yes or no, and use as few questions as you can. You may ask at most $n questions, and you have exactly one guess, so make it count.

The rules:

1. Ask one question per turn, never more than one.

2. Every question must be answerable with "yes" or "no", and it must not be about the word itself: not its spelling, its letters, its length, its syllables or its part of speech.

3. To ask a question, reply with this and nothing else:

$question_tag <your question>

4. To make your one guess, reply with this and nothing else:

$guess_tag <the word>

There are no hints. Keep your questions short. Let's begin!

Candidate words: $candidates"""
)

ANSWERER = Template(
    """Let's play a guessing game. The secret word is: $target. The other player will ask you questions about it, or try to guess it. Answer each one truthfully with yes or no only: add no explanation or other words, and never give the word away.

Reply in exactly this form and add nothing else:

$answer_tag <yes or no>

Secret word: $target"""
)


def guesser_prompt(experiment: Mapping[str, Any], candidates: list[str], max_questions: int, question_tag: str,
                   guess_tag: str) -> str:
    official = official_text(experiment, "guesser_initial_prompt")
    if official is not None:
        # clembench writes the candidates as a Python list
        return fill(official, {"$LIST$": str(candidates), "$N$": str(max_questions)})
    return GUESSER.substitute(n=max_questions, question_tag=question_tag, guess_tag=guess_tag,
                              candidates=", ".join(candidates))


def answerer_prompt(experiment: Mapping[str, Any], target: str, answer_tag: str) -> str:
    official = official_text(experiment, "answerer_initial_prompt")
    if official is not None:
        return fill(official, {"$TARGET WORD$": target})
    return ANSWERER.substitute(target=target, answer_tag=answer_tag)
