"""Branching rollouts: at a learner's turn, fork the episode into K continuations.

Forking copies the game master's state (never the models). Each branching point keeps its prompt (the
learner's messages at that turn) and its K children; when the episodes below a child finish, their rewards
give the child's value (mean over its leaves). Uses: GRPO groups that share a history, tree search, and
turn-level preference pairs (same history, different next turn, ranked by the final scores).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from playpen.core.master import GameMaster
from playpen.models.base import GenerationResult
from playpen.rollout.engine import EpisodeJob, _answer, _Open, _request


@dataclass
class Branch:
    response: str
    #: rewards of the finished episodes below this child
    leaf_rewards: list[float] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        return statistics.fmean(self.leaf_rewards) if self.leaf_rewards else None


@dataclass
class BranchPoint:
    id: int
    job: EpisodeJob
    role: str
    turn: int
    messages: list[dict[str, str]]
    children: list[Branch] = field(default_factory=list)

    def ranked(self) -> list[Branch]:
        """Children with a value, best first."""
        return sorted((c for c in self.children if c.value is not None), key=lambda c: c.value, reverse=True)


@dataclass
class BranchingResult:
    points: list[BranchPoint]
    #: finished (or errored) leaves: (job, game master or None, error or None, path of (point id, child index))
    leaves: list[tuple[EpisodeJob, GameMaster | None, str | None, tuple[tuple[int, int], ...]]]


@dataclass
class _Item:
    open: _Open
    path: tuple[tuple[int, int], ...] = ()


def branch_rollouts(
    jobs: Iterable[EpisodeJob],
    *,
    branch_roles: set[str],
    factor: int,
    reward_fn: Callable[[GameMaster], float],
    max_points: int = 1,
    batch_size: int = 16,
) -> BranchingResult:
    """Play every job; at each of the first ``max_points`` turns of a role in ``branch_roles`` ask the model
    for ``factor`` replies and continue each in its own copy of the game."""
    items = [_Item(_Open(job, job.spec.new_episode(job.row.experiment, job.row.instance))) for job in jobs]
    points: list[BranchPoint] = []
    leaves: list = []

    def finish(item: _Item, error: str | None) -> None:
        master = item.open.master
        leaves.append((item.open.job, master, error, item.path))
        if error is None:
            value = reward_fn(master)
            for point_id, child in item.path:
                points[point_id].children[child].leaf_rewards.append(value)

    while items:
        groups: dict[int, tuple[object, list[tuple[_Item, int]]]] = {}
        for item in items:
            role = item.open.master.current_role
            model = item.open.job.players[role]
            copies = factor if role in branch_roles and len(item.path) < max_points else 1
            groups.setdefault(id(model), (model, []))[1].append((item, copies))
        next_items: list[_Item] = []
        for model, entries in groups.values():
            requests = [_request(item.open) for item, copies in entries for _ in range(copies)]
            answers = iter(_answer(model, requests, batch_size))
            for item, copies in entries:
                replies: list[GenerationResult] = [next(answers) for _ in range(copies)]
                role = item.open.master.current_role
                if copies == 1:
                    children = [(item, replies[0])]
                else:
                    point = BranchPoint(len(points), item.open.job, role, item.open.master.requests,
                                        item.open.master.messages_for(role))
                    points.append(point)
                    children = []
                    for index, reply in enumerate(replies):
                        point.children.append(Branch(reply.text))
                        fork = _Open(item.open.job, item.open.master.copy(), list(item.open.generations))
                        children.append((_Item(fork, item.path + ((point.id, index),)), reply))
                for child, reply in children:
                    if reply.error is not None and reply.error_kind != "context":
                        finish(child, f"backend error: {reply.error}")
                        continue
                    if reply.error is not None:
                        child.open.master.abort(f"the conversation no longer fits the model's context ({reply.error})")
                    else:
                        try:
                            child.open.master.step(reply.text)
                        except Exception as error:  # a game bug ends only this branch
                            finish(child, f"game error: {type(error).__name__}: {error}")
                            continue
                    if child.open.master.done:
                        finish(child, None)
                    else:
                        next_items.append(child)
        items = next_items
    return BranchingResult(points, leaves)
