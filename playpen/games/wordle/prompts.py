"""Wordle's prompts, in our own words. Protocol markers (``explanation:``, ``guess:``, ``guess_feedback:``,
``clue:``, ``agreement:``, ``guess_agreement:``, ``agreement_explanation:``) are clembench's.

An official experiment carries clembench's texts: the guesser's and the critic's first prompts
(``guesser_prompt``, ``guesser_critic_prompt``) and, in ``lang_keywords``, the markers and sentences clembench
builds its later messages from (feedback, the retry after an unknown word, the critic's opinion). Then the
messages are built from those, in clembench's layout, which is also ours: a message, a blank line, and the
two-line answer skeleton."""

from __future__ import annotations

from typing import Any, Mapping

from playpen.games.official import official_text

from playpen.games.wordle.rules import (
    AGREEMENT_EXPLANATION_TAG,
    AGREEMENT_TAG,
    CLUE_TAG,
    EXPLANATION_TAG,
    FEEDBACK_TAG,
    GUESS_AGREEMENT_TAG,
    GUESS_TAG,
)

_RULES = f"""Let's play Wordle. I have chosen a secret English word of exactly five lowercase letters (a-z). \
You have {{turns}} tries to find it.

Every answer you give must be exactly two lines: first a short explanation of your choice, then the word \
you guess. For example:
{EXPLANATION_TAG} a common word with frequent letters, a good way to start.
{GUESS_TAG} trace

After each guess I colour every letter of it:
- green: the letter is in the secret word, at this very position;
- yellow: the letter is in the secret word, but at another position;
- red: the letter is not in the secret word (or not as many times as you used it).
If the secret word were "crane", the guess "trace" would get:
{FEEDBACK_TAG} t<red> r<green> a<green> c<yellow> e<green>

Use the colours to narrow down the possible words, and say in your explanation how you used them."""

_CLUE_RULE = f"""You also get a crossword-style clue for the secret word, on a line that starts with \
"{CLUE_TAG}". Use the clue together with the colours."""

_CRITIC_RULE = f"""Each turn has two steps. First you propose a guess. A partner who knows the clue (but not \
the secret word) then tells you whether they agree with it ("{GUESS_AGREEMENT_TAG} yes" or "no") and why \
("{AGREEMENT_EXPLANATION_TAG} ..."). Then you give your final guess for the turn, in the same two-line \
format: keep your word or change it. Only the final guess is coloured and counts as a try."""

_CLOSING = "Write nothing but the two lines. Make your first guess now."

#: The two-line answer skeleton repeated after every feedback.
GUESS_FORMAT = f"Answer with these two lines only:\n{EXPLANATION_TAG} details\n{GUESS_TAG} word"
AGREEMENT_FORMAT = f"Answer with these two lines only:\n{EXPLANATION_TAG} details\n{AGREEMENT_TAG} yes or no"


def official_keywords(experiment: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The experiment's ``lang_keywords`` (clembench's texts for the later messages); None for our experiments."""
    keywords = experiment.get("lang_keywords")
    return keywords if isinstance(keywords, Mapping) and "error_prompt_text" in keywords else None


def _skeleton(words: Mapping[str, Any], answer: str) -> str:
    """clembench's answer skeleton: its format sentence, then ``explanation: details`` and the answer line
    (``answer``: ``guess`` or ``agreement``)."""
    return (f"{words['error_prompt_text']['INVALID_FORMAT']}\n"
            f"{words['explanation_lang']} {words['explanataion_details_lang']}\n"
            f"{words[answer + '_lang']} {words[answer + '_word_lang']}")


def guesser_prompt(experiment: Mapping[str, Any], turns: int, *, clue: bool, critic: bool) -> str:
    official = official_text(experiment, "guesser_prompt")
    if official is not None:
        return official
    parts = [_RULES.format(turns=turns)]
    if clue:
        parts.append(_CLUE_RULE)
    if critic:
        parts.append(_CRITIC_RULE)
    parts.append(_CLOSING)
    return "\n\n".join(parts)


def clue_message(words: Mapping[str, Any] | None, clue: str) -> str:
    return f"{words['clue_lang'] if words else CLUE_TAG} {clue}"


def feedback_message(words: Mapping[str, Any] | None, feedback: str) -> str:
    if words:
        return f"{words['guess_feedback_lang']} {feedback}\n\n{_skeleton(words, 'guess')}"
    return f"{FEEDBACK_TAG} {feedback}\n\n{GUESS_FORMAT}"


def unknown_word_message(words: Mapping[str, Any] | None, guess: str) -> str:
    if words:
        errors = words["error_prompt_text"]
        return f"{errors['NOT_VALID_WORD_FOR_GAME']} {errors['RETRY']}\n\n{_skeleton(words, 'guess')}"
    return f'"{guess}" is not in the list of words this game accepts. Please guess another word.\n\n{GUESS_FORMAT}'


def critic_prompt(experiment: Mapping[str, Any]) -> str:
    official = official_text(experiment, "guesser_critic_prompt")
    return CRITIC_PROMPT if official is None else official


CRITIC_PROMPT = f"""You are helping a player in a word-guessing game. The player looks for a secret English \
word of five letters and has a crossword-style clue for it. At each turn I show you the clue, the player's \
explanation and the word the player proposes, like this:
{CLUE_TAG} fruit that keeps the doctor away
{EXPLANATION_TAG} the saying is about an apple a day, and apple has five letters.
{GUESS_TAG} apple

Tell the player whether you agree that the proposed word is a good guess for the clue. Later in the game \
the player also knows which letters are right from earlier guesses, so judge the explanation too. Do not \
propose a word of your own.

Answer with exactly two lines, in lowercase:
{EXPLANATION_TAG} your reason
{AGREEMENT_TAG} yes or no

Write nothing else. Here is the first guess."""


def critic_message(words: Mapping[str, Any] | None, clue: str, explanation: str, guess: str, *,
                   with_format: bool) -> str:
    tags = (words["clue_lang"], words["explanation_lang"], words["guess_lang"]) if words else (
        CLUE_TAG, EXPLANATION_TAG, GUESS_TAG)
    text = f"{tags[0]} {clue}\n{tags[1]} {explanation}\n{tags[2]} {guess}"
    if not with_format:
        return text
    return f"{text}\n\n{_skeleton(words, 'agreement') if words else AGREEMENT_FORMAT}"


def critic_opinion_message(words: Mapping[str, Any] | None, clue: str, agreement: str, explanation: str) -> str:
    if words:
        return (f"{words['clue_lang']} {clue}\n{words['guess_agreement_lang']} {agreement}\n"
                f"{words['agreement_explanation_lang']} {explanation}\n\n{_skeleton(words, 'guess')}")
    return (
        f"{CLUE_TAG} {clue}\n{GUESS_AGREEMENT_TAG} {agreement}\n{AGREEMENT_EXPLANATION_TAG} {explanation}"
        f"\n\n{GUESS_FORMAT}"
    )
