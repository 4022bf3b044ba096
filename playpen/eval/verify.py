"""``playpen verify``: replay recorded clembench episodes through our games and compare the outcomes.

For every episode folder holding ``instance.json``, ``interactions.json`` and ``scores.json`` the recorded
replies of the model-backed players are fed, in order, into our game master built from the recorded
experiment (``experiment.json`` one level up) and instance. Aborted / Success / Lose / Main Score are then
compared with the recorded ``scores.json``.

clemcore 3.x (clembench v3.0) writes no ``instance.json``: its records name their instance by experiment and
``game_id`` in the game's instance file. ``InstanceFiles`` (``playpen verify -i``) supplies those files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen.core import metrics
from playpen.core.errors import PlaypenError
from playpen.core.instances import load_instances
from playpen.core.master import GameMaster
from playpen.games import get_game, game_names
from playpen.results.records import (
    EXPERIMENT_FILE,
    INSTANCE_FILE,
    INTERACTIONS_FILE,
    SCORES_FILE,
    Episode,
    ResultsFileError,
    episodes,
    recorded_messages,
    recorded_prompts,
    recorded_replies,
    walking,
)

COMPARED = (metrics.ABORTED, metrics.SUCCESS, metrics.LOSE, metrics.MAIN_SCORE)


@dataclass(frozen=True)
class PromptAgreement:
    """How many of a record's requests put word for word the same text before the player in our replay (``same``
    of ``recorded``), and whether the first one did (the prompt a model sees before any reply)."""

    same: int
    recorded: int
    first: bool
    #: the first recorded request text ours differs from, and ours at that position ("" when ours has none)
    first_difference: tuple[str, str] | None = None


@dataclass
class EpisodeCheck:
    path: Path
    game: str
    status: str  # "agree" | "disagree" | "skipped" | "error"
    reason: str = ""
    recorded: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)
    #: how far the replay's request texts are the recorded ones (None when the episode was not replayed)
    prompts: PromptAgreement | None = None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):
        # clembench leaves some metrics out of aborted episodes; we write them as NaN
        return _missing(a) and _missing(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-6 + 1e-4 * abs(a)
    return a == b


@dataclass(frozen=True)
class InstanceFiles:
    """clembench instance files, for records that carry no ``instance.json``: (game, experiment name, game id) ->
    (experiment, instance). ``game`` is None for a file given on its own (it serves every game)."""

    entries: dict[tuple[str | None, str, Any], tuple[dict[str, Any], dict[str, Any]]]

    @classmethod
    def load(cls, path: str | Path) -> "InstanceFiles":
        """One instance file, or a folder searched for ``<game>/in/*.json`` (clembench's layout). Where two files
        of a game hold the same experiment (clean_up's ``mm_``/``hybrid_`` variants), ``instances*.json`` wins."""
        path = Path(path)
        if path.is_file():
            files = [(None, path)]
        elif path.is_dir():
            found = sorted(path.rglob("*.json"), key=lambda p: (not p.name.startswith("instances"), str(p)))
            files = [(p.parent.parent.name, p) for p in found if p.parent.name == "in"]
        else:
            raise PlaypenError(f"instance files not found: {path}")
        entries: dict[tuple[str | None, str, Any], tuple[dict[str, Any], dict[str, Any]]] = {}
        for game, file in files:
            try:
                data = load_instances(file)
            except PlaypenError:
                if game is None:
                    raise
                continue  # not an instance file (clembench keeps other JSON in in/ too)
            for experiment in data["experiments"]:
                header = {k: v for k, v in experiment.items() if k != "game_instances"}
                for instance in experiment["game_instances"]:
                    entries.setdefault((game, experiment["name"], instance["game_id"]), (header, instance))
        if not entries:
            raise PlaypenError(f"no clembench instance file in {path}")
        return cls(entries)

    def find(self, game: str, experiment: str, game_id: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        return self.entries.get((game, experiment, game_id)) or self.entries.get((None, experiment, game_id))


def _episode_inputs(episode: Episode, game: str, instances: InstanceFiles | None) -> tuple[dict, dict] | None:
    """(experiment, instance) of a recorded episode: its own files, else the instance files' entry."""
    if episode.file(INSTANCE_FILE).is_file():
        return episode.experiment, episode.instance
    meta = episode.interactions.get("meta") or {}
    found = instances.find(game, meta.get("experiment_name"), meta.get("game_id")) if instances else None
    if found is None:
        rebuild = get_game(game).record_instance
        if rebuild is None:
            return None
        with walking(episode.file(INTERACTIONS_FILE)):
            return rebuild(episode.interactions, recorded_messages(episode.interactions))
    header, instance = found
    recorded = episode.experiment if episode.file(EXPERIMENT_FILE).is_file() else {}
    return {**recorded, **header}, instance


def replay_episode(episode: Episode, instances: InstanceFiles | None = None) -> tuple[GameMaster, list[str]] | None:
    """Rebuild a recorded episode from its files; None when the game is not one of ours, or when the record has no
    ``instance.json`` and ``instances`` has none for it. A record of the wrong shape raises ``ResultsFileError``;
    an exception while replaying the game is the caller's to report."""
    interactions = episode.interactions
    meta = interactions.get("meta")
    game = (meta.get("game_name") if isinstance(meta, dict) else None) or episode.game
    if not isinstance(game, str) or game not in game_names():
        return None
    spec = get_game(game)
    inputs = _episode_inputs(episode, game, instances)
    if inputs is None:
        return None
    experiment, instance = inputs
    with walking(episode.file(INTERACTIONS_FILE)):
        responses = recorded_replies(interactions)
        if spec.replay_instance is not None:
            instance = spec.replay_instance(instance, interactions)
    master = spec.new_episode(experiment, instance)
    for response in responses:
        if master.done:
            break
        master.step(response)
    return master, responses


def prompt_agreement(master: GameMaster, interactions: dict[str, Any]) -> PromptAgreement:
    """Compare, request by request, the text our game master put before a model-backed player with the record's
    (``recorded_prompts``: what the model saw, however the record split it into messages)."""
    recorded = recorded_prompts(interactions)
    ours = recorded_prompts({"players": interactions.get("players"), "turns": master.rounds})
    same = [index < len(ours) and ours[index] == message for index, message in enumerate(recorded)]
    difference = next(((message.text, ours[index].text if index < len(ours) else "")
                       for index, message in enumerate(recorded) if not same[index]), None)
    return PromptAgreement(sum(same), len(recorded), bool(same) and same[0], difference)


def verify_episode(episode: Episode, instances: InstanceFiles | None = None) -> EpisodeCheck:
    path, game = episode.path, episode.game
    try:
        replayed_episode = replay_episode(episode, instances)
    except ResultsFileError:
        raise
    except PlaypenError as error:  # a game we do not implement (yet), or one that cannot replay this record
        from playpen.games import available_games

        return EpisodeCheck(path, game, "error" if game in available_games() else "skipped", str(error))
    if replayed_episode is None:
        if game in game_names() and not episode.file(INSTANCE_FILE).is_file():
            return EpisodeCheck(path, game, "skipped", "no instance.json and no instance file for it (-i)")
        return EpisodeCheck(path, game, "skipped", "not a clembench text game")
    master, responses = replayed_episode
    with walking(episode.file(INTERACTIONS_FILE)):
        prompts = prompt_agreement(master, episode.interactions)
    recorded = episode.scores.get(metrics.EPISODE_SCORES_KEY)
    if not isinstance(recorded, dict):
        raise ResultsFileError(f"{episode.file(SCORES_FILE)}: no '{metrics.EPISODE_SCORES_KEY}' object")
    rec = {k: recorded.get(k) for k in COMPARED}
    if not master.done:
        reason = f"episode still running after all {len(responses)} recorded replies"
        return EpisodeCheck(path, game, "disagree", reason, rec, prompts=prompts)
    rep = {k: master.scores()[metrics.EPISODE_SCORES_KEY].get(k) for k in COMPARED}
    diffs = [f"{k}: recorded {rec[k]!r}, ours {rep[k]!r}" for k in COMPARED if not _same(rec[k], rep[k])]
    if master.requests < len(responses):
        diffs.append(f"ended after {master.requests} of {len(responses)} recorded replies")
    if diffs:
        reason = "; ".join(diffs) + f" [ours: {master.outcome.status.value}: {master.outcome.reason}]"
        return EpisodeCheck(path, game, "disagree", reason, rec, rep, prompts)
    return EpisodeCheck(path, game, "agree", "", rec, rep, prompts)


def verify(root: str | Path, games: set[str] | None = None, instances: InstanceFiles | None = None) -> list[EpisodeCheck]:
    """One check per finished episode below ``root`` (a record without ``instance.json`` takes its instance from
    ``instances`` or the game's ``record_instance``; else it is skipped)."""
    checks = []
    for episode in episodes(root, games):
        if not (episode.file(INTERACTIONS_FILE).exists() and episode.file(SCORES_FILE).is_file()):
            continue
        try:
            checks.append(verify_episode(episode, instances))
        except ResultsFileError as error:
            checks.append(EpisodeCheck(episode.path, episode.game, "error", str(error)))
        except Exception as error:  # one broken record must not stop the others
            checks.append(EpisodeCheck(episode.path, episode.game, "error", f"{type(error).__name__}: {error}"))
    return checks


def prompt_table(checks: list[EpisodeCheck]) -> dict[str, tuple[int, int, int, int]]:
    """game -> (episodes whose first prompt is the recorded one, episodes, identical messages, recorded messages)."""
    table: dict[str, tuple[int, int, int, int]] = {}
    for check in checks:
        if check.prompts is None:
            continue
        first, count, same, recorded = table.get(check.game, (0, 0, 0, 0))
        table[check.game] = (first + check.prompts.first, count + 1, same + check.prompts.same,
                             recorded + check.prompts.recorded)
    return table


def agreement_table(checks: list[EpisodeCheck]) -> list[tuple[str, int, int, int]]:
    """(game, agree, compared, skipped) per game, in game order."""
    table = []
    for game in sorted({c.game for c in checks}):
        of_game = [c for c in checks if c.game == game]
        agree = sum(c.status == "agree" for c in of_game)
        skipped = sum(c.status == "skipped" for c in of_game)
        table.append((game, agree, len(of_game) - skipped, skipped))
    return table
