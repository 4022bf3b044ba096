"""The results folder: ``<results>/<run>/<game>/<index>_<experiment>/episode_<n>/``.

Files per episode (clembench's names and keys): ``instance.json``, ``interactions.json``, ``scores.json``,
``transcript.html``; ``error.json`` instead of the scores when the episode could not be played (backend
failure). Every file is written to a temporary file in the same folder and renamed over the target, and
``scores.json`` is written last: an episode is finished exactly when its ``scores.json`` exists, so a run
killed at any point resumes cleanly.

Reading lives in ``records`` (``read_json``, the episode iterator, the recorded messages), rendering in
``transcript``; this module is the one place that

* writes results files (atomically) and rebuilds the transcripts of a results folder (``build_transcripts``);
* turns names into folder names (``safe_component``) and checks that every episode folder stays inside
  the results folder;
* records what an episode was played from (``played_from``: instance and experiment hashes, the players'
  settings), so that resuming into a folder of other episodes is refused instead of silently skipping them;
* strips credentials from what is recorded (``redact``);
* locks a results folder for the one process that writes into it (``lock_results``).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import re
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
from playpen.results.records import (
    ERROR_FILE,
    EXPERIMENT_FILE,
    INSTANCE_FILE,
    INTERACTIONS_FILE,
    OUR_VERSION_PREFIX,
    SCORES_FILE,
    TRANSCRIPT_FILE,
    ResultsFileError,
    episodes,
    is_ours,
    read_json,
    walking,
)
from playpen.results.transcript import render_transcript

#: every file the store writes into a run folder
RECORD_FILES = (EXPERIMENT_FILE, INSTANCE_FILE, INTERACTIONS_FILE, TRANSCRIPT_FILE, SCORES_FILE, ERROR_FILE)
LOCK_FILE = ".playpen.lock"
TMP_SUFFIX = ".tmp"
#: bytes; most file systems allow 255 per name, leave room for our temporary-file affixes
MAX_COMPONENT_BYTES = 200


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
    refuse_links(root, path)
    return path


def refuse_links(root: Path, path: Path) -> None:
    """Raise when a part of ``path`` below ``root`` (``path`` included) is a symbolic link: what is written
    through it would land wherever it points, outside the folder."""
    current = Path(root)
    for part in Path(path).relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise PlaypenError(f"{current} is a symbolic link; refusing to write through it (remove the link: a "
                               "results or experiment folder holds none)")


def refuse_links_below(root: Path) -> None:
    """Raise when anything below ``root`` is a symbolic link (``refuse_links`` for a whole folder)."""
    for folder, folders, files in os.walk(root):
        for name in (*folders, *files):
            if os.path.islink(os.path.join(folder, name)):
                refuse_links(root, Path(folder) / name)


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
    """Write ``path`` in one step (a temporary file renamed over it). A symbolic link there is refused, never
    written through nor replaced."""
    path = Path(path)
    if path.is_symlink():
        raise PlaypenError(f"{path} is a symbolic link; refusing to write through it or over it (remove the link)")
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


def instance_digest(instance: Any) -> str:
    """The digest of an instance that ``played_from`` records (``instance_sha256``)."""
    return _digest(instance)


def played_from(row: InstanceRow, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What an episode is played from: its instance, its experiment (without the instance list) and the
    players' settings (``{role: {"model", "temperature", "max_tokens"}}``)."""
    return {"instance_sha256": instance_digest(row.instance), "experiment_sha256": _digest(row.experiment),
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
def lock_results(root: Path, option: str = "-r") -> Iterator[None]:
    """Hold ``<root>/.playpen.lock`` for one writer; a second process gets a PlaypenError at once (naming
    ``option``, the command's flag for the folder)."""
    root = Path(root)
    check_results_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: run unguarded
        yield
        return
    try:  # never through a link: the pid would be written into whatever it points at
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), _file_mode())
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise PlaypenError(f"{root / LOCK_FILE} is a symbolic link; refusing to write through it (remove the "
                           "link)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise PlaypenError(f"another playpen process (pid {holder}) is writing to {root}; wait for it to "
                               f"finish or use another {option} folder") from None
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

    def new_episode_dir(self, row: InstanceRow) -> Path:
        """A folder no other episode has claimed, for one more play of ``row`` (``playpen serve`` plays an
        instance as often as its clients ask): ``episode_<i>``, then ``episode_<i>_2``, ``episode_<i>_3``, ...
        Claimed by creating it, so concurrent writers never share one."""
        first = self.episode_dir(row)
        first.parent.mkdir(parents=True, exist_ok=True)
        for number in itertools.count(1):
            path = first if number == 1 else inside(first.parent, f"{first.name}_{number}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue

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
                same = read_json(episode_dir / INSTANCE_FILE) == json.loads(json.dumps(row.instance))
            except ResultsFileError:
                same = False
            return EpisodeState(True, None if same else "another instance (another split or instance file)")
        return EpisodeState(True, provenance_difference(recorded, provenance))

    def write_experiment(self, row: InstanceRow, player_models: Mapping[str, Any]) -> None:
        path = self.experiment_dir(row) / EXPERIMENT_FILE
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
        episode_dir: Path | None = None,
    ) -> Path:
        """Write one finished episode into ``episode_dir`` (default: the instance's own folder)."""
        episode_dir = episode_dir or self.episode_dir(row)
        self.write_experiment(row, player_models)
        (episode_dir / ERROR_FILE).unlink(missing_ok=True)
        atomic_write_json(episode_dir / INSTANCE_FILE, row.instance)
        interactions = interactions_record(master, results_folder=self.run_name, role_models=role_models,
                                           player_models=player_models, timestamp=now(), provenance=provenance)
        atomic_write_json(episode_dir / INTERACTIONS_FILE, interactions)
        scores = scores_record(master, interactions)
        atomic_write_text(episode_dir / TRANSCRIPT_FILE, render_transcript(interactions, scores))
        atomic_write_json(episode_dir / SCORES_FILE, scores)  # last: marks the episode finished
        return episode_dir

    def write_error(self, row: InstanceRow, error: str, player_models: Mapping[str, Any]) -> Path:
        episode_dir = self.episode_dir(row)
        self.write_experiment(row, player_models)
        atomic_write_json(episode_dir / INSTANCE_FILE, row.instance)
        atomic_write_json(episode_dir / ERROR_FILE, {"timestamp": now(), "error": redact(error)})
        return episode_dir


def build_transcripts(results_dir: str | Path, games: set[str] | None = None, *,
                      in_place: bool = False) -> tuple[int, list[str]]:
    """(Re)write ``transcript.html`` of every episode that has an ``interactions.json``. Returns (number
    written, problems: records that cannot be read or rendered, one line each). A transcript that clembench
    wrote for its own record is kept unless ``in_place``."""
    written, problems, foreign = 0, [], []
    for episode in episodes(results_dir, games):
        if not episode.file(INTERACTIONS_FILE).exists():
            continue
        target = episode.file(TRANSCRIPT_FILE)
        try:
            if not in_place and target.exists() and not is_ours(episode.interactions):
                foreign.append(target)
                continue
            scores = episode.scores if episode.file(SCORES_FILE).exists() else None
            with walking(episode.file(INTERACTIONS_FILE)):
                html = render_transcript(episode.interactions, scores)
        except ResultsFileError as error:
            problems.append(f"{error}; no transcript written")
            continue
        atomic_write_text(target, html)
        written += 1
    if foreign:
        problems.append(f"{len(foreign)} transcripts were written by another tool (e.g. {foreign[0]}) and are kept; "
                        "pass --in-place to overwrite them")
    return written, problems
