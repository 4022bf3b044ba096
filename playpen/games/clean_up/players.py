"""Scripted clean_up players.

Competent: Player 1 proposes its own layout as the goal ("Goal: A at (2,3); ...") and keeps its objects where they
are; Player 2 reads the goal from the relayed message and moves one object per turn to its goal cell (first the
objects whose goal cell is free; when every remaining goal is blocked by one of its own objects, it parks a
blocker on a free cell that is nobody's goal). When its board matches it asks the terminate question, and Player 1
answers with the terminate answer. Both track their board from the instance and their own moves (they never make
an invalid move, so every move they sent was made).

Bad: now and then talks around its command, moves objects to random cells, or asks to finish too early.

A policy is a pure function of the messages it sees and its seed.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.clean_up.board import Board
from playpen.games.clean_up.master import CleanUpMaster

_GOAL = re.compile(r"Goal: ((?:\S+ at \(\d+,\d+\)(?:; )?)+)")
_PLACE = re.compile(r"(\S+) at \((\d+),(\d+)\)")
_MOVE = re.compile(r"^MOVE: (\S+), \((\d+), (\d+)\)$")


def _board(instance: Mapping[str, Any], key: str, messages: list[dict[str, str]]) -> Board:
    """The player's board now: its objects from the instance, moved as its own MOVE replies said."""
    board = Board(instance["background"], instance[key], instance["move_messages"])
    for message in messages:
        match = _MOVE.match(message["content"]) if message["role"] == "assistant" else None
        if match:
            board.move(match.group(1), int(match.group(2)), int(match.group(3)))
    return board


def _goal(messages: list[dict[str, str]]) -> dict[str, tuple[int, int]] | None:
    for message in reversed(messages):
        found = _GOAL.search(message["content"]) if message["role"] == "user" else None
        if found:
            return {obj: (int(x), int(y)) for obj, x, y in _PLACE.findall(found.group(1))}
    return None


def next_move(board: Board, goal: Mapping[str, tuple[int, int]]) -> tuple[str, int, int] | None:
    """One step towards ``goal``: an object onto its free goal cell, else a blocker out of the way; None when
    every object stands on its goal."""
    pending = [obj for obj, cell in goal.items() if obj in board.objects and board.objects[obj] != cell]
    if not pending:
        return None
    for obj in pending:
        if board.is_free(*goal[obj]):
            return obj, *goal[obj]
    targets = set(goal.values())
    parking = next((x, y) for y in range(board.height) for x in range(board.width)
                   if board.is_free(x, y) and (x, y) not in targets)
    return pending[0], *parking


def _competent(role: str, instance: Mapping[str, Any]) -> Policy:
    first = role == CleanUpMaster.roles[0]
    question, answer = instance["terminate_question"], instance["terminate_answer"]

    def policy(messages: list[dict[str, str]]) -> str:
        board = _board(instance, "objects_1" if first else "objects_2", messages)
        if first:
            if len(messages) == 1:
                places = "; ".join(f"{obj} at ({x},{y})" for obj, (x, y) in board.objects.items())
                return f"SAY: Goal: {places}. I keep mine there, please move yours."
            if question in messages[-1]["content"]:
                return f"SAY: {answer}"
            return "SAY: My board stays as it is."
        goal = _goal(messages)
        step = next_move(board, goal) if goal else None
        if goal is None:
            return "SAY: Please tell me the goal positions."
        if step is None:
            return f"SAY: {question}"
        obj, x, y = step
        return f"MOVE: {obj}, ({x}, {y})"

    return policy


def _bad(role: str, instance: Mapping[str, Any], seed: int) -> Policy:
    first = role == CleanUpMaster.roles[0]
    letters = [obj["id"] for obj in instance["objects_1"]]
    size = len(instance["background"].strip().split("\n"))

    def policy(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"{seed}-{len(messages)}")
        roll = rng.random()
        if roll < 0.15:
            return "Let me think about this. SAY: where are your objects?"
        if roll < 0.25:
            return f"SAY: {instance['terminate_question']}"
        if roll < 0.3:
            return f"SAY: {instance['terminate_answer']}"
        if first and len(messages) == 1 or roll < 0.55:
            return "SAY: I moved some things around, did you?"
        return f"MOVE: {rng.choice(letters)}, ({rng.randrange(size)}, {rng.randrange(size)})"

    return policy


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    if role not in CleanUpMaster.roles:
        raise ValueError(f"clean_up has no role '{role}' (roles: {', '.join(CleanUpMaster.roles)})")
    if skill == "competent":
        return _competent(role, instance)
    if skill == "bad":
        return _bad(role, instance, seed)
    raise ValueError(f"unknown skill '{skill}' (competent, bad)")
