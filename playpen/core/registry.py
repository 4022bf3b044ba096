"""Game specifications. The list of games lives in :mod:`playpen.games`; core only defines the shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from playpen.core.errors import PlaypenError
from playpen.core.master import GameMaster
from playpen.core.messages import Policy

#: Builds a scripted player for one episode: (role, skill, experiment, instance, seed) -> Policy.
ScriptedFactory = Callable[[str, str, Mapping[str, Any], Mapping[str, Any], int], Policy]

SPLITS = ("train", "validation", "test")
#: the skills of every game's scripted players (a game may offer more: ``GameSpec.extra_skills``)
SKILLS = ("competent", "bad")


@dataclass(frozen=True)
class GameSpec:
    """Everything the framework needs to know about one game."""

    name: str
    master: type[GameMaster]
    description: str
    #: the paper's split of the dialogue games; ``static`` for clembench's single-turn reference tasks
    domain: Literal["in", "out", "static"]
    #: folder holding ``train.json`` / ``validation.json`` / ``test.json`` in clembench's instance format
    instances_dir: Path
    scripted: ScriptedFactory
    #: ``generate(seed) -> {split: instances_dict}``; writes nothing itself (``playpen generate`` writes)
    generate: Callable[[int], dict[str, dict]] | None = None
    #: the seed the committed instance files were generated with
    seed: int = 0
    #: for ``verify``/``score`` on clembench records: fold what the record says beyond the replies into the
    #: instance — choices clembench drew from an unseeded random source, or rules that depend on the clembench
    #: version that recorded it — so replay stays a pure function of (instance, replies)
    replay_instance: Callable[[Mapping[str, Any], Mapping[str, Any]], dict] | None = None
    #: extra facts (instance source, clembench version, ...)
    info: Mapping[str, Any] = field(default_factory=dict)
    #: the Playpen paper's GRPO episode reward (``playpen.envs.rewards.paper``): ``success`` (1 for a win),
    #: ``per_round`` (1/#rounds for a win) or ``quality`` (Main Score / 100; the games it did not train on too)
    paper_reward: Literal["success", "per_round", "quality"] = "quality"
    #: the role a learner plays by default (TextEnv, GRPO, evaluation in the training setup): the paper's
    #: learner in its training games; None = the first role
    learner: str | None = None
    #: scripted skills beyond ``SKILLS`` (e.g. referencegame's ``literal`` giver, a teacher a small model can
    #: imitate); the scripted backend refuses a skill the game does not list
    extra_skills: tuple[str, ...] = ()
    #: a game that ships no instance splits: what to tell a user who asks for one (where to get the files)
    instances_help: str = ""
    #: a small instances file for ``check_game`` and the tests when the game ships no splits
    examples: Path | None = None
    #: for ``verify``/``score`` on clembench records that name an instance no public file holds (hot_air_balloon's
    #: v3.0 sets): (interactions, its messages as ``results.records.recorded_messages`` reads them) -> (experiment,
    #: instance) rebuilt from what the record's prompts show; None when it cannot
    record_instance: Callable[[Mapping[str, Any], Any], tuple[dict, dict] | None] | None = None
    #: where a later clembench version changed the game's rules or scores: experiment keys that select that
    #: version's behaviour, per benchmark version (``playpen run --benchmark 3.0``), e.g. {"3.0": {flag: True}}
    benchmark_flags: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: checks one (experiment, instance) of an instance file before it is played; raises PlaypenError
    validate: Callable[[Mapping[str, Any], Mapping[str, Any], str], None] | None = None
    #: instance fields naming the word a player must find (taboo's and wordle's ``target_word``): training and
    #: evaluation are disjoint only if these words are, across every game of an experiment
    target_keys: tuple[str, ...] = ()
    #: (role, skill, instance) -> why the game's scripted player of that role and skill cannot play this
    #: instance as it plays ours (e.g. taboo's describer has no description of a clembench target), or None;
    #: ``playpen run`` says so
    scripted_limits: Callable[[str, str, Mapping[str, Any]], str | None] | None = None
    #: instance splits the game ships beyond ``SPLITS`` (taboo's ``heldout``: curated words no other split uses)
    extra_splits: tuple[str, ...] = ()
    #: replies that imitate the game's protocol: its tags and commands empty, doubled or with malformed moves (the
    #: edge cases of its parser); ``check_game`` plays them among its hostile replies (``core.check``)
    protocol_markers: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        return self.master.roles

    @property
    def skills(self) -> tuple[str, ...]:
        return SKILLS + self.extra_skills

    @property
    def players(self) -> int:
        return len(self.master.roles)

    def learner_role(self, chosen: str | None = None) -> str:
        """``chosen`` if given (checked against the roles), else the game's default learner role."""
        role = chosen or self.learner or self.roles[0]
        if role not in self.roles:
            raise PlaypenError(f"{self.name} has no role '{role}' (roles: {', '.join(self.roles)})")
        return role

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS + self.extra_splits

    def instances_file(self, split: str) -> Path:
        path = self.instances_dir / f"{split}.json"
        if self.instances_help and not path.is_file():
            raise PlaypenError(f"{self.name} ships no '{split}' instances: {self.instances_help}")
        return path

    def check_instances_file(self) -> Path:
        """The instances ``check_game`` plays by default: the examples, else the validation split."""
        return self.examples if self.examples is not None else self.instances_file("validation")

    def targets(self, instance: Mapping[str, Any]) -> set[str]:
        """The words ``instance`` asks players to find (lower case; empty for games without such words)."""
        return {str(instance[key]).strip().lower() for key in self.target_keys if instance.get(key)}

    def new_episode(self, experiment: Mapping[str, Any], instance: Mapping[str, Any]) -> GameMaster:
        return self.master(experiment, instance)
