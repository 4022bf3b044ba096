"""Scripted players for guesswhat.

The competent Guesser halves the candidates it still believes in with every question: "Is it a kind of
<label>?" when a category label of the instance splits them evenly, else "Is it one of these: a, b, c,
d?"; it rebuilds its beliefs from the dialogue it sees. The competent Answerer answers those questions
truthfully from the instance. The bad players guess early, ask useless or forbidden questions, lie, and
break the format now and then.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.guesswhat.master import ANSWERER, DEFAULTS, GUESSER

LIST_QUESTION = re.compile(r"one of these:\s*(.+?)\?", re.IGNORECASE)
LABEL_QUESTION = re.compile(r"a kind of\s+(.+?)\?", re.IGNORECASE)


def labels_of(instance: Mapping[str, Any], word: str) -> list[str]:
    """The category and subcategory of a candidate (our instances carry them; clembench's do not)."""
    return [label.lower() for label in instance.get("candidate_categories", {}).get(word, [])]


def tested_words(question: str, instance: Mapping[str, Any]) -> set[str] | None:
    """The candidates for which ``question`` is true, or None if the question is not one we understand."""
    candidates = instance["candidate_list"]
    listed = LIST_QUESTION.search(question)
    if listed:
        named = {w.strip().lower() for w in listed.group(1).split(",")}
        return {c for c in candidates if c.lower() in named}
    label = LABEL_QUESTION.search(question)
    if label:
        return {c for c in candidates if label.group(1).strip().lower() in labels_of(instance, c)}
    return None


def remaining_candidates(messages: list[dict[str, str]], instance: Mapping[str, Any]) -> list[str]:
    """Replay the guesser's own questions and the answers it got."""
    remaining = list(instance["candidate_list"])
    for asked, answer in zip(messages[1::2], messages[2::2]):
        if asked["role"] != "assistant":
            continue
        subset = tested_words(asked["content"], instance)
        words = re.findall(r"[a-z]+", answer["content"].lower())
        if subset is None or ("yes" in words) == ("no" in words):
            continue
        keep = [c for c in remaining if (c in subset) == ("yes" in words)]
        remaining = keep or list(instance["candidate_list"])  # contradictory answers: start over
    return remaining


def best_question(remaining: list[str], instance: Mapping[str, Any]) -> str:
    half = len(remaining) // 2
    labels = sorted({label for word in remaining for label in labels_of(instance, word)})
    for label in labels:
        if sum(label in labels_of(instance, w) for w in remaining) in (half, len(remaining) - half):
            return f"Is it a kind of {label}?"
    return f"Is it one of these: {', '.join(remaining[:half])}?"


def guesser(skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    question_tag = experiment.get("question_tag", DEFAULTS["question_tag"])
    guess_tag = experiment.get("guess_tag", DEFAULTS["guess_tag"])
    max_questions = int(experiment.get("max_turns", DEFAULTS["max_turns"])) - 1
    candidates = list(instance["candidate_list"])

    def competent(messages: list[dict[str, str]]) -> str:
        remaining = remaining_candidates(messages, instance)
        asked = sum(m["role"] == "assistant" for m in messages)
        if len(remaining) == 1 or asked >= max_questions:
            return f"{guess_tag} {remaining[0]}"
        return f"{question_tag} {best_question(remaining, instance)}"

    def bad(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"{seed}|guesser|{len(messages)}")
        asked = sum(m["role"] == "assistant" for m in messages)
        draw = rng.random()
        if draw < 0.15:
            return rng.choice([
                f"{question_tag} Is it big? I think it might be.",
                f"{question_tag} Does the target word start with the letter {candidates[0][0].lower()}?",
                f"I would say it is {rng.choice(candidates)}.",
            ])
        if draw < 0.5 or asked >= 3:
            return f"{guess_tag} {rng.choice(candidates)}"
        return f"{question_tag} Is it something people like?"

    return competent if skill == "competent" else bad


def answerer(skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    answer_tag = experiment.get("answer_tag", DEFAULTS["answer_tag"])
    question_tag = experiment.get("question_tag", DEFAULTS["question_tag"])
    target = instance["target_word"]

    def truth(question: str) -> bool:
        subset = tested_words(question, instance)
        if subset is not None:
            return target in subset
        return re.search(rf"\b{re.escape(target.lower())}\b", question.lower()) is not None

    def policy(messages: list[dict[str, str]]) -> str:
        text = messages[-1]["content"]
        question = text[text.rfind(question_tag):] if question_tag in text else text
        answer = truth(question)
        if skill != "competent":
            rng = random.Random(f"{seed}|answerer|{len(messages)}")
            draw = rng.random()
            if draw < 0.2:
                return "Yes, I think so." if answer else "No, not really."
            if draw < 0.45:
                answer = not answer
        return f"{answer_tag} {'yes' if answer else 'no'}"

    return policy


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    if role == GUESSER:
        return guesser(skill, experiment, instance, seed)
    if role == ANSWERER:
        return answerer(skill, experiment, instance, seed)
    raise ValueError(f"guesswhat has no scripted role {role!r}")
