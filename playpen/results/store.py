"""The results folder: ``<results>/<run>/<game>/<index>_<experiment>/episode_<n>/``.

Files per episode (clembench's names and keys): ``instance.json``, ``interactions.json``, ``scores.json``,
``transcript.html``; ``error.json`` instead of the scores when the episode could not be played (backend
failure). Every file is written to a temporary file in the same folder and renamed over the target, and
``scores.json`` is written last: an episode is finished exactly when its ``scores.json`` exists, so a run
killed at any point resumes cleanly.

This module is also the one place that

* reads results files (``read_json``: a damaged, truncated, non-UTF-8, too deeply nested or wrongly shaped
  file, or one that is not a regular file, raises ``ResultsFileError`` naming the path);
* turns names into folder names (``safe_component``) and checks that every episode folder stays inside
  the results folder;
* records what an episode was played from (``played_from``: instance and experiment hashes, the players'
  settings), so that resuming into a folder of other episodes is refused instead of silently skipping them;
* strips credentials from what is recorded (``redact``);
* locks a results folder for the one process that writes into it (``lock_results``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from playpen import __version__
from playpen.core import metrics
from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.core.master import GM, GameMaster

SCORES_FILE = "scores.json"
ERROR_FILE = "error.json"
#: every file the store writes into a run folder
RECORD_FILES = ("experiment.json", "instance.json", "interactions.json", "transcript.html", SCORES_FILE, ERROR_FILE)
LOCK_FILE = ".playpen.lock"
TMP_SUFFIX = ".tmp"
#: the ``clem_version`` prefix of our records (clembench writes its own version number)
OUR_VERSION_PREFIX = "playpen-"
#: bytes; most file systems allow 255 per name, leave room for our temporary-file affixes
MAX_COMPONENT_BYTES = 200


class ResultsFileError(PlaypenError):
    """A results file that cannot be read as the record it should be."""


def now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat()


# ---------------------------------------------------------------------- names and paths
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_component(name: str) -> str:
    """``name`` as one folder name: no separators, NUL or control characters, not ``.``/``..``/empty, at most
    ``MAX_COMPONENT_BYTES`` bytes (a long name keeps its start plus a hash of the whole, so it stays unique)."""
    text = _UNSAFE_CHARS.sub("_", str(name))
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be file names
    if text in ("", ".", ".."):
        text = text.replace(".", "_") or "_"
    if len(text.encode("utf-8")) > MAX_COMPONENT_BYTES:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        head = text.encode("utf-8")[: MAX_COMPONENT_BYTES - 13].decode("utf-8", "ignore")
        text = f"{head}~{digest}"
    return text


def run_dir_name(model_names: Sequence[str]) -> str:
    """clembench's run folder name: the model names joined by ``--`` (one name for self-play)."""
    unique = list(dict.fromkeys(model_names))
    return safe_component("--".join(name.replace("/", "_") for name in unique))


def inside(root: Path, *components: str) -> Path:
    """``root/components...`` with every component made safe; refuses a path that would leave ``root``."""
    path = Path(root).joinpath(*(safe_component(c) for c in components))
    base = os.path.abspath(root)
    if os.path.commonpath([base, os.path.abspath(path)]) != base:
        raise PlaypenError(f"refusing to write outside the results folder {root}: {path}")
    return path


def check_results_folder(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise PlaypenError(f"{root} is not a folder (-r/--results names the results folder)")


# ---------------------------------------------------------------------- writing
_UMASK_LOCK = threading.Lock()


def _file_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the umask (``mkstemp`` makes 0o600 files)."""
    try:  # Linux: read it, without the set-and-restore race of os.umask
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # a failed write() names no file; the one-line message should
        raise


def atomic_write_text(path: Path, text: str) -> None:
    # a lone surrogate (from a JSON escape in some input) cannot be UTF-8: show it as U+FFFD, never fail
    atomic_write_bytes(path, text.encode("utf-8", "replace") if _has_surrogate(text) else text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    # NaN is written as a bare token, exactly like clembench's scores files; a lone surrogate can only sit
    # inside a JSON string, where its backslash escape is valid JSON that reads back as the same string
    text = json.dumps(data, indent=2, ensure_ascii=False)
    atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def remove_stale_temporaries(folder: Path, names: Sequence[str], *, below: bool = False) -> None:
    """Delete the temporary files that a killed writer of ``names`` left in ``folder`` (``below``: in every
    folder under it too; only while holding the folder's lock, as a live writer's files look the same)."""
    for name in names:
        pattern = f".{name}.*{TMP_SUFFIX}"
        for path in Path(folder).rglob(pattern) if below else Path(folder).glob(pattern):
            try:
                if path.is_file() and not path.is_symlink():
                    path.unlink()
            except OSError:
                continue


# ---------------------------------------------------------------------- reading
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


def shape_error(path: Path, error: BaseException) -> ResultsFileError:
    """For readers that walk a record: a field of the wrong type or a missing key, as one message."""
    what = f"missing key {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
    return ResultsFileError(f"{path}: not shaped like a clembench record ({what})")


#: what a reader of a record's fields can run into on a wrongly shaped (but valid JSON) file
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError)


def is_ours(record: Mapping[str, Any]) -> bool:
    """Whether a record (interactions or scores) was written by Playpen rather than by clembench."""
    meta = record.get("meta")
    version = meta.get("clem_version") if isinstance(meta, dict) else None
    return isinstance(version, str) and version.startswith(OUR_VERSION_PREFIX)


# ---------------------------------------------------------------------- secrets
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@'\"()<>\[\]]*@)?"
                  r"(?P<rest>[^\s?#'\"()<>\[\]]*)(?P<query>\?[^\s#'\"()<>\[\]]*)?")


def redact(value: Any) -> Any:
    """``value`` with the userinfo (``user:pass@``) and query string of every URL in it removed."""
    if isinstance(value, str):
        return _URL.sub(lambda m: m["scheme"] + m["rest"], value) if "://" in value else value
    if isinstance(value, Mapping):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


# ---------------------------------------------------------------------- provenance
def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def played_from(row: InstanceRow, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What an episode is played from: its instance, its experiment (without the instance list) and the
    players' settings (``{role: {"model", "temperature", "max_tokens"}}``)."""
    return {"instance_sha256": _digest(row.instance), "experiment_sha256": _digest(row.experiment),
            "settings": json.loads(json.dumps(settings, sort_keys=True, default=str))}


def provenance_difference(recorded: Any, expected: Mapping[str, Any]) -> str | None:
    """What differs between a recorded ``played_from`` and the one of this run (None: the same episode)."""
    if not isinstance(recorded, dict):
        return "a record without the provenance of its episode"
    if recorded.get("instance_sha256") != expected["instance_sha256"]:
        return "another instance (another split or instance file)"
    if recorded.get("experiment_sha256") != expected["experiment_sha256"]:
        return "another experiment configuration"
    if recorded.get("settings") != expected["settings"]:
        return f"other settings ({json.dumps(recorded.get('settings'), sort_keys=True)})"
    return None


@dataclass(frozen=True)
class EpisodeState:
    """What the results folder holds for one planned episode."""

    finished: bool
    #: set when the folder holds a finished episode that is not the planned one
    conflict: str | None = None


# ---------------------------------------------------------------------- locking
@contextmanager
def lock_results(root: Path) -> Iterator[None]:
    """Hold ``<root>/.playpen.lock`` for one writer; a second process gets a PlaypenError at once."""
    root = Path(root)
    check_results_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: run unguarded
        yield
        return
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, _file_mode())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise PlaypenError(f"another playpen process (pid {holder}) is writing to {root}; wait for it to "
                               "finish or use another -r folder") from None
        try:  # who holds it, for the message above; the lock itself needs no disk space
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


def players_record(master: GameMaster, role_models: Mapping[str, str]) -> dict[str, dict[str, str]]:
    players = {GM: {"game_role": "Game Master", "model_name": "programmatic"}}
    for role in master.roles:
        players[master.player_name(role)] = {"game_role": master.role_labels.get(role, role),
                                             "model_name": role_models.get(role, "unknown")}
    # programmatic partners that the game logs under a player name of their own
    for events in master.rounds:
        for event in events:
            for name in (event["from"], event["to"]):
                if name not in players:
                    partner_roles = getattr(master, "partner_roles", {})
                    players[name] = {"game_role": partner_roles.get(name, "Programmatic Partner"),
                                     "model_name": "programmatic"}
    return players


def interactions_record(
    master: GameMaster,
    *,
    results_folder: str,
    role_models: Mapping[str, str],
    player_models: Mapping[str, Any],
    timestamp: str,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    status = master.outcome.status.value
    meta = {
        "game_name": master.name,
        "experiment_name": master.experiment.get("name"),
        "game_id": master.game_id,
        "results_folder": results_folder,
        "clem_version": f"{OUR_VERSION_PREFIX}{__version__}",
        "round_count": len(master.rounds),
        "completed": master.done,
    }
    if provenance is not None:
        meta["played_from"] = dict(provenance)
    return {
        "meta": meta,
        "player_models": redact(dict(player_models)),
        "players": players_record(master, role_models),
        "turns": [[{**event, "timestamp": timestamp} for event in events] for events in master.rounds],
        metrics.REQUEST_COUNT: list(master.request_counts),
        metrics.VIOLATED_REQUEST_COUNT: list(master.violated_request_counts),
        metrics.PARSED_REQUEST_COUNT: [r - v for r, v in zip(master.request_counts, master.violated_request_counts)],
        metrics.ABORTED: int(status == "aborted"),
        metrics.LOSE: int(status == "lose"),
        metrics.SUCCESS: int(status == "success"),
        "outcome": {"status": status, "reason": master.outcome.reason},
        # the game's own clembench record keys (they may replace the generic request counts above)
        **master.record_keys(),
    }


def scores_record(master: GameMaster, interactions: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "meta": interactions["meta"],
        "player_models": interactions["player_models"],
        "players": interactions["players"],
        **master.scores(),
    }


class ResultsStore:
    """Reads and writes one run folder (``<results>/<run>``)."""

    def __init__(self, results_dir: str | Path, run_name: str):
        self.root = Path(results_dir)
        self.run_name = safe_component(run_name)
        self.run_dir = inside(self.root, self.run_name)

    def experiment_dir(self, row: InstanceRow) -> Path:
        return inside(self.root, self.run_name, row.game, row.experiment_dir)

    def episode_dir(self, row: InstanceRow) -> Path:
        return inside(self.root, self.run_name, row.game, row.experiment_dir, row.episode_dir)

    def is_finished(self, row: InstanceRow) -> bool:
        return self.state(row).finished

    def state(self, row: InstanceRow, provenance: Mapping[str, Any] | None = None) -> EpisodeState:
        """Finished when ``scores.json`` reads as a scores record; an unreadable one counts as unfinished (the
        episode is played again). With ``provenance``, a finished episode played from something else is a
        conflict (resuming would silently keep a different episode)."""
        episode_dir = self.episode_dir(row)
        try:
            scores = read_json(episode_dir / SCORES_FILE)
        except ResultsFileError:
            return EpisodeState(False)
        if not isinstance(scores.get(metrics.EPISODE_SCORES_KEY), dict):
            return EpisodeState(False)
        if provenance is None:
            return EpisodeState(True)
        meta = scores.get("meta")
        recorded = meta.get("played_from") if isinstance(meta, dict) else None
        if recorded is None:  # recorded before provenance was kept: compare the instance itself
            try:
                same = read_json(episode_dir / "instance.json") == json.loads(json.dumps(row.instance))
            except ResultsFileError:
                same = False
            return EpisodeState(True, None if same else "another instance (another split or instance file)")
        return EpisodeState(True, provenance_difference(recorded, provenance))

    def write_experiment(self, row: InstanceRow, player_models: Mapping[str, Any]) -> None:
        path = self.experiment_dir(row) / "experiment.json"
        if not path.is_file():
            atomic_write_json(path, {**row.experiment, "timestamp": now(), "game_name": row.game,
                                     "experiment_name": row.experiment_name,
                                     "player_models": redact(dict(player_models))})

    def write_episode(
        self,
        row: InstanceRow,
        master: GameMaster,
        role_models: Mapping[str, str],
        player_models: Mapping[str, Any],
        provenance: Mapping[str, Any] | None = None,
    ) -> Path:
        from playpen.results.transcript import render_transcript

        episode_dir = self.episode_dir(row)
        self.write_experiment(row, player_models)
        (episode_dir / ERROR_FILE).unlink(missing_ok=True)
        atomic_write_json(episode_dir / "instance.json", row.instance)
        interactions = interactions_record(master, results_folder=self.run_name, role_models=role_models,
                                           player_models=player_models, timestamp=now(), provenance=provenance)
        atomic_write_json(episode_dir / "interactions.json", interactions)
        scores = scores_record(master, interactions)
        atomic_write_text(episode_dir / "transcript.html", render_transcript(interactions, scores))
        atomic_write_json(episode_dir / SCORES_FILE, scores)  # last: marks the episode finished
        return episode_dir

    def write_error(self, row: InstanceRow, error: str, player_models: Mapping[str, Any]) -> Path:
        episode_dir = self.episode_dir(row)
        self.write_experiment(row, player_models)
        atomic_write_json(episode_dir / "instance.json", row.instance)
        atomic_write_json(episode_dir / ERROR_FILE, {"timestamp": now(), "error": redact(error)})
        return episode_dir
