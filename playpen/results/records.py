"""Reading results folders: the one reader of results files, the episode iterator, the recorded messages.

clembench's layout: ``<results>/<run>/<game>/<experiment_dir>/<episode_dir>/`` with ``instance.json``,
``interactions.json``, ``scores.json`` (or ``error.json``), and ``experiment.json`` in the experiment folder.
Every reader of results (eval, score, transcribe, verify, data, replay, resume, the demo report) goes
through this module:

* ``read_json`` reads one file; a missing, damaged, truncated, non-UTF-8, too deeply nested or wrongly shaped
  file, or one that is not a regular file, raises ``ResultsFileError`` naming the path;
* ``episodes(root)`` lists the episode folders below a results folder as ``Episode`` records (names from the
  folder layout, files read on first use);
* ``recorded_messages`` / ``recorded_replies`` read what the game master and the model-backed players said to
  each other out of an ``interactions.json`` (replay, verify, score, data).

Which episodes a reader takes (finished, replayable, any) and what it does with a damaged one (count it, report
it, stop) stays the reader's choice; this module only names the files and reads them.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.master import GM
from playpen.core.messages import SEPARATOR

INSTANCE_FILE = "instance.json"
INTERACTIONS_FILE = "interactions.json"
SCORES_FILE = "scores.json"
ERROR_FILE = "error.json"
#: one per experiment folder, beside its episode folders
EXPERIMENT_FILE = "experiment.json"
TRANSCRIPT_FILE = "transcript.html"
#: a folder holding any of these is an episode folder
EPISODE_FILES = frozenset({INSTANCE_FILE, INTERACTIONS_FILE, SCORES_FILE, ERROR_FILE})
#: the ``clem_version`` prefix of our records (clembench writes its own version number)
OUR_VERSION_PREFIX = "playpen-"
#: ``model_name`` of the players a record's game master played itself (clembench's and ours)
PROGRAMMATIC_MODELS = ("programmatic", "mock")


class ResultsFileError(PlaypenError):
    """A results file that cannot be read as the record it should be."""


# ---------------------------------------------------------------------- files
def read_json(path: Path) -> dict[str, Any]:
    """The JSON object at ``path``; ``ResultsFileError`` naming the path when it cannot be that."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ResultsFileError(f"{path}: not a regular file; move it away")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: missing") from None
    except UnicodeDecodeError as error:
        raise ResultsFileError(f"{path}: not UTF-8 text (byte {error.start}); the file is damaged") from None
    except json.JSONDecodeError as error:
        raise ResultsFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno} column "
                               f"{error.colno}); the file is damaged or truncated") from None
    except RecursionError:
        raise ResultsFileError(f"{path}: JSON nested too deeply to read") from None
    except OSError as error:
        raise ResultsFileError(f"cannot read {path}: {error.strerror or error}") from None
    if not isinstance(data, dict):
        found = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise ResultsFileError(f"{path}: expected a JSON object, found {found}")
    return data


#: what a reader of a record's fields can run into on a wrongly shaped (but valid JSON) file
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError)


def shape_error(path: Path, error: BaseException) -> ResultsFileError:
    """For readers that walk a record: a field of the wrong type or a missing key, as one message."""
    what = f"missing key {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
    return ResultsFileError(f"{path}: not shaped like a clembench record ({what})")


@contextmanager
def walking(path: Path) -> Iterator[None]:
    """Inside: walking the record read from ``path``; a ``SHAPE_ERRORS`` exception leaves as ``shape_error``."""
    try:
        yield
    except SHAPE_ERRORS as error:
        raise shape_error(path, error) from None


def is_ours(record: Mapping[str, Any]) -> bool:
    """Whether a record (interactions or scores) was written by Playpen rather than by clembench."""
    meta = record.get("meta")
    version = meta.get("clem_version") if isinstance(meta, dict) else None
    return isinstance(version, str) and version.startswith(OUR_VERSION_PREFIX)


# ---------------------------------------------------------------------- episodes
@dataclass(frozen=True)
class Episode:
    """One episode folder. Its names come from the layout (``""`` where the folder sits too high for one);
    its records are read on first use (``ResultsFileError`` when one cannot be read) and kept."""

    path: Path

    def _part(self, from_end: int) -> str:
        parts = self.path.parts
        return parts[-from_end] if len(parts) >= from_end else ""

    @property
    def run(self) -> str:
        """The run folder: the model (pair) that played it."""
        return self._part(4)

    @property
    def game(self) -> str:
        return self._part(3)

    @property
    def experiment_dir(self) -> str:
        return self._part(2)

    @property
    def episode_dir(self) -> str:
        return self._part(1)

    @property
    def key(self) -> str:
        """``<game>/<experiment_dir>/<episode_dir>``, as ``InstanceRow.key`` names the episode it plays."""
        return f"{self.game}/{self.experiment_dir}/{self.episode_dir}"

    def file(self, name: str) -> Path:
        """The path of one of the episode's files (``experiment.json``: in the experiment folder)."""
        return self.path.parent / name if name == EXPERIMENT_FILE else self.path / name

    @property
    def replayable(self) -> bool:
        """Whether it holds what replaying it needs: interactions (a damaged file is found out when read), and
        instance and experiment as regular files."""
        return (self.file(INTERACTIONS_FILE).exists() and self.file(INSTANCE_FILE).is_file()
                and self.file(EXPERIMENT_FILE).is_file())

    @cached_property
    def instance(self) -> dict[str, Any]:
        return read_json(self.file(INSTANCE_FILE))

    @cached_property
    def interactions(self) -> dict[str, Any]:
        return read_json(self.file(INTERACTIONS_FILE))

    @cached_property
    def scores(self) -> dict[str, Any]:
        return read_json(self.file(SCORES_FILE))

    @cached_property
    def experiment(self) -> dict[str, Any]:
        """The experiment's configuration (its ``experiment.json``)."""
        return read_json(self.file(EXPERIMENT_FILE))


def episodes(root: str | Path, games: set[str] | None = None) -> Iterator[Episode]:
    """Every episode folder below ``root`` (of ``games`` only, when given), in path order. ``root`` is checked at
    once (``PlaypenError`` when it is not a folder); the folder is walked when the iteration starts."""
    root = Path(root)
    if not root.is_dir():
        raise PlaypenError(f"results folder not found: {root}")
    return _walk(root, games)


def _walk(root: Path, games: set[str] | None) -> Iterator[Episode]:
    folders = sorted({path.parent for path in root.rglob("*") if path.name in EPISODE_FILES})
    for folder in folders:
        episode = Episode(folder)
        if not games or episode.game in games:
            yield episode


def episode_outcomes(root: str | Path) -> dict[tuple[str, str, str], tuple[Path, str]]:
    """(game, experiment folder, episode folder) -> (its ``transcript.html``, outcome status) for every episode
    below ``root`` that has an interactions file ("?" where the outcome cannot be read)."""
    root = Path(root)
    out = {}
    for episode in episodes(root) if root.is_dir() else ():
        if not episode.file(INTERACTIONS_FILE).exists():
            continue
        try:
            outcome = episode.interactions.get("outcome", {}).get("status", "?")
        except (ResultsFileError, AttributeError):
            outcome = "?"
        out[(episode.game, episode.experiment_dir, episode.episode_dir)] = (episode.file(TRANSCRIPT_FILE), outcome)
    return out


# ---------------------------------------------------------------------- what was said
@dataclass(frozen=True)
class Message:
    """One message between the game master and a model-backed player."""

    player: str  # the player's name in the record ("Player 1")
    text: str
    #: True: the player's reply to the game master; False: the game master's message to the player
    reply: bool


def model_players(interactions: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{player name: its entry in "players"}`` of the players a model played (not the game master, not the
    programmatic partners), in the record's order."""
    return {name: info for name, info in (interactions.get("players") or {}).items()
            if name != GM and info.get("model_name") not in PROGRAMMATIC_MODELS}


def recorded_messages(interactions: Mapping[str, Any]) -> list[Message]:
    """The game master's messages to the model-backed players (``send message``) and their replies to it
    (``get message``), in the order of the record's turns. A record of the wrong shape raises one of
    ``SHAPE_ERRORS`` (read it ``with walking(path)`` to get a ``ResultsFileError`` naming the file)."""
    players = model_players(interactions)
    messages = []
    for round_events in interactions["turns"]:
        for event in round_events:
            kind, sender, receiver = event["action"]["type"], event["from"], event["to"]
            if kind == "get message" and receiver == GM and sender in players:
                messages.append(Message(sender, _text(event), reply=True))
            elif kind == "send message" and sender == GM and receiver in players:
                messages.append(Message(receiver, _text(event), reply=False))
    return messages


def _text(event: Mapping[str, Any]) -> str:
    content = event["action"]["content"]
    if not isinstance(content, str):
        raise TypeError("a recorded reply is not a string" if event["to"] == GM else "a recorded message is not a string")
    return content


def recorded_prompts(interactions: Mapping[str, Any]) -> list[Message]:
    """The text each request put before a player, in order: the game master's messages to it since its last
    reply, joined with a blank line, as every backend (ours and clemcore's) merges consecutive user messages.
    clemcore records a player's initial prompt and its first context as two messages; the model saw one."""
    prompts: list[Message] = []
    pending: dict[str, list[str]] = {}
    for message in recorded_messages(interactions):
        if message.reply:
            prompts.append(Message(message.player, SEPARATOR.join(pending.pop(message.player, [])), reply=False))
        else:
            pending.setdefault(message.player, []).append(message.text)
    prompts += [Message(player, SEPARATOR.join(texts), reply=False) for player, texts in pending.items()]
    return prompts


def recorded_replies(interactions: Mapping[str, Any]) -> list[str]:
    """The replies of the model-backed players in the order they were given: what replaying the episode feeds
    into a fresh game master."""
    return [message.text for message in recorded_messages(interactions) if message.reply]


def instances_from_records(root: str | Path, games: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per game, the instances file its records were played from, rebuilt from every episode's
    ``instance.json`` and its experiment's ``experiment.json`` (clembench's static tasks ship some instance
    files only inside their records: cladder, mmlu_pro). Experiments keep their recorded order (the number before
    the folder name) and instances their episode order; an episode recorded by several runs must carry the same
    instance in each."""
    found: dict[str, dict[str, tuple[dict[str, Any], dict[int, dict[str, Any]]]]] = {}
    for episode in episodes(root, games):
        if not (episode.file(INSTANCE_FILE).is_file() and episode.file(EXPERIMENT_FILE).is_file()):
            continue
        number = episode.episode_dir.removeprefix("episode_")
        if not number.isdigit():
            continue
        experiment, instances = found.setdefault(episode.game, {}).setdefault(
            episode.experiment_dir, (episode.experiment, {}))
        with walking(episode.file(INSTANCE_FILE)):
            seen = instances.setdefault(int(number), episode.instance)
            if seen != episode.instance:
                raise PlaypenError(f"{episode.path}: another run recorded a different instance for "
                                   f"{episode.key}; rebuild from one run at a time")

    def order(experiment_dir: str) -> tuple[int, str]:
        index, _, name = experiment_dir.partition("_")
        return (int(index) if index.isdigit() else 1 << 30, name)

    return {game: {"experiments": [{**{k: v for k, v in experiment.items() if k != "game_instances"},
                                    "game_instances": [instances[n] for n in sorted(instances)]}
                                   for _, (experiment, instances) in sorted(by_dir.items(), key=lambda i: order(i[0]))]}
            for game, by_dir in sorted(found.items())}
