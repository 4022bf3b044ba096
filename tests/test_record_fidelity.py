"""Two-way fidelity of the records: our ``interactions.json`` carries what clembench's scorers read.

1. Key sets and shapes: every clembench fixture episode replayed through our game gives a record with every
   top-level key of the clembench record, each with the same JSON shape, and the turn events clembench's
   scorer reads, under the same type names and with contents of the same kind. The game-specific keys must
   even hold the same values (they are functions of the replies).
2. Scores from the record alone: the functions below score an episode from ``interactions.json`` (plus its
   ``instance.json`` / ``experiment.json``) the way clembench's scorers do, from the logged keys and events,
   never by replaying. They reproduce the fixture's own ``scores.json`` (so they read the records as
   clembench does), and they reproduce Playpen's ``scores.json`` from Playpen's records.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest

from playpen.core import metrics
from playpen.eval.verify import replay_episode
from playpen.games import get_game
from playpen.models.scripted import ScriptedModel
from playpen.results.records import Episode, read_json
from playpen.results.store import ResultsStore, interactions_record
from playpen.rollout.planner import select_rows
from playpen.rollout.engine import EpisodeJob, run_episodes

GAMES = (
    "adventuregame", "codenames", "guesswhat", "imagegame", "matchit_ascii", "privateshared", "referencegame",
    "taboo", "textmapworld", "textmapworld_graphreasoning", "textmapworld_specificroom", "wordle",
    "wordle_withclue", "wordle_withcritic",
)
#: keys every record has; the game-specific rest is compared value by value
COMMON_KEYS = {"meta", "player_models", "players", "turns"}
#: turn events the clembench scorers of these games read (type names)
SCORED_EVENTS = {
    "adventuregame": ("invalid_format", "hallucinated_finish", "action_info", "action_fail", "goal_status",
                      "adventure_finished", "turn_limit_reached", "game_result", "plan_followed",
                      "plan_command_success_ratio"),
    "codenames": ("board status", "guesses", "word targeted", "team revealed", "target revealed",
                  "validation error"),
    "guesswhat": ("correct guess", "incorrect guess", "invalid format", "invalid content"),
    "imagegame": ("found grid", "found instruction", "found terminate pattern", "invalid format"),
    "matchit_ascii": ("Decision Player A", "Decision Player B", "Game over", "invalid content", "valid format"),
    "referencegame": ("parse", "parse_correct", "parse_wrong"),
    "taboo": ("invalid format", "valid clue", "valid guess", "correct guess"),
    "textmapworld": ("aborted", "move", "stop", "turns_limit"),
    "textmapworld_graphreasoning": ("aborted", "move", "stop", "turns_limit", "graph"),
    "textmapworld_specificroom": ("aborted", "move", "stop", "turns_limit"),
}
#: games whose clembench scorer finds events by their position in the round: the sequence must be the same
POSITIONAL = {"referencegame"}
#: values that are our own prompt wording, not data derived from the replies
OWN_WORDING = {("privateshared", "probes", "question")}


# ---------------------------------------------------------------------------------------------- helpers
def fixture_episodes(runs: list[Path], game: str) -> list[Path]:
    """Episodes clembench scored (a few broken clembench records have no scores.json)."""
    return sorted(p.parent for run in runs for p in run.glob(f"*/{game}/*/episode_*/scores.json"))


def shape(value: Any) -> Any:
    """A JSON value's shape: dicts by key, lists by the set of their element shapes, numbers as one kind."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")


def without_own_wording(game: str, key: str, value: Any) -> Any:
    own = {field for g, k, field in OWN_WORDING if g == game and k == key}
    if not own:
        return value
    return [[{k: v for k, v in probe.items() if k not in own} for probe in rnd] for rnd in value]


def first_events(record: dict[str, Any]) -> dict[str, Any]:
    """The content of the first event of each type."""
    found: dict[str, Any] = {}
    for round_events in record["turns"]:
        for event in round_events:
            found.setdefault(event["action"]["type"], event["action"]["content"])
    return found


def event_sequence(record: dict[str, Any]) -> list[list[tuple[str, str, str]]]:
    return [[(e["from"], e["to"], e["action"]["type"]) for e in round_events] for round_events in record["turns"]]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return a == b


# ---------------------------------------------------------------------------------------------- 1. keys and shapes
@pytest.mark.parametrize("game", GAMES)
def test_record_keys_and_shapes_match_clembench(game, clembench_runs):
    episodes = fixture_episodes(clembench_runs, game)
    assert episodes, f"no {game} episodes in the fixtures"
    scored_types = SCORED_EVENTS.get(game, ())
    types_seen: dict[str, set[str]] = {"clembench": set(), "ours": set()}
    for episode in episodes:
        theirs = read_json(episode / "interactions.json")
        master, _ = replay_episode(Episode(episode))
        ours = interactions_record(master, results_folder="run", role_models={}, player_models={}, timestamp="t")
        ours = json.loads(json.dumps(ours))  # as written to disk
        missing = set(theirs) - set(ours)
        assert not missing, f"{episode}: our record lacks {sorted(missing)}"
        for key in set(theirs) - COMMON_KEYS:
            assert shape(ours[key]) == shape(theirs[key]), f"{episode}: shape of {key!r}"
            assert without_own_wording(game, key, ours[key]) == without_own_wording(game, key, theirs[key]), \
                f"{episode}: value of {key!r}"
        for record in (theirs, ours):
            for round_events in record["turns"]:
                for event in round_events:
                    assert {"from", "to", "timestamp", "action"} <= set(event)
                    assert {"type", "content"} <= set(event["action"])
        if game in POSITIONAL:
            assert event_sequence(ours) == event_sequence(theirs), f"{episode}: event sequence"
        their_events, our_events = first_events(theirs), first_events(ours)
        for event_type in scored_types:
            assert (event_type in their_events) == (event_type in our_events), f"{episode}: event {event_type!r}"
            if event_type in our_events:
                theirs_content, ours_content = their_events[event_type], our_events[event_type]
                assert kind(ours_content) == kind(theirs_content), f"{episode}: content of {event_type!r}"
                if isinstance(ours_content, dict):
                    assert set(ours_content) <= set(theirs_content), f"{episode}: keys of {event_type!r}"
        types_seen["clembench"] |= set(their_events)
        types_seen["ours"] |= set(our_events)
    # the scored event types do occur in the fixtures (the comparison above is not vacuous)
    assert set(scored_types) <= types_seen["clembench"] & types_seen["ours"]


# ---------------------------------------------------------------------------------------------- 2. scores from records
# Each function scores one episode from its record the way clembench's scorer for that game does.
Rescorer = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], dict[str, Any]]
WORDLE_SPEED = {1: 100, 2: 100, 3: 100, 4: 50, 5: 30, 6: 20}


def flags(aborted: Any, lose: Any, success: Any) -> dict[str, int]:
    return {metrics.ABORTED: int(aborted), metrics.LOSE: int(lose), metrics.SUCCESS: int(success)}


def totals(requests: int, parsed: int, violated: int) -> dict[str, int]:
    return {metrics.REQUEST_COUNT: requests, metrics.PARSED_REQUEST_COUNT: parsed,
            metrics.VIOLATED_REQUEST_COUNT: violated}


def events_of(record: dict[str, Any], event_type: str) -> list[Any]:
    return [e["action"]["content"] for r in record["turns"] for e in r if e["action"]["type"] == event_type]


def rescore_wordle(record, instance, experiment):
    game = record["meta"]["game_name"]
    aborted, lose, success = record[metrics.ABORTED], record[metrics.LOSE], record[metrics.SUCCESS]
    rounds = len(record["turns"])
    guesses = record["Guesser Guesses Committed" if game == "wordle_withcritic" else "Guesser Guesses"]
    if aborted:
        main, repetitions = math.nan, math.nan
    else:
        main = 0 if lose else (WORDLE_SPEED[rounds] if game == "wordle" else round(100 / rounds, 2))
        repetitions = len(guesses) - len(set(guesses))
    return {**flags(aborted, lose, success), **totals(record[metrics.REQUEST_COUNT],
            record[metrics.PARSED_REQUEST_COUNT], record[metrics.VIOLATED_REQUEST_COUNT]),
            metrics.MAIN_SCORE: main, "Guess Repetitions": repetitions}


def rescore_privateshared(record, instance, experiment):
    from sklearn.metrics import cohen_kappa_score

    aborted = record[metrics.ABORTED]
    played = record["probes"][: record["Played Probe Rounds"]]
    gold = [probe["gt"] for probe_round in played for probe in probe_round]
    predicted = [probe["value"] for probe_round in played for probe in probe_round]
    filled = record["Filled Slots"]
    scores = totals(sum(record[metrics.REQUEST_COUNT]), sum(record[metrics.PARSED_REQUEST_COUNT]),
                    sum(record[metrics.VIOLATED_REQUEST_COUNT]))
    if aborted:
        return {**scores, **flags(1, 0, 0), metrics.MAIN_SCORE: math.nan, "Kappa": math.nan}
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    kappa = float(cohen_kappa_score(gold, predicted))
    truncated = max(0, kappa)
    slot_filling = sum(filled) / len(filled)
    main = 0 if slot_filling + truncated == 0 else 100 * 2 * slot_filling * truncated / (slot_filling + truncated)
    success = int(accuracy == 1 and slot_filling == 1)
    return {**scores, **flags(0, 1 - success, success), metrics.MAIN_SCORE: main, "Kappa": kappa}


def rescore_codenames(record, instance, experiment):
    aborted = int(record[metrics.ABORTED])
    lose = int(record[metrics.LOSE]) if not aborted else 0
    board = record["board end status"]
    team_count = experiment["assignments"]["team"]
    turns = record["Number of turns"]
    guesses = sum(len(g) for g in events_of(record, "guesses"))
    return {
        **flags(aborted, lose, 0 if aborted else 1 - lose),
        **totals(record[metrics.REQUEST_COUNT], record[metrics.PARSED_REQUEST_COUNT],
                 record[metrics.VIOLATED_REQUEST_COUNT]),
        "Game ended through assassin": int(record["Game ended through assassin"]),
        "Number of turns": turns,
        "Episode Recall": round(len(board["revealed"]["team"]["team"]) / team_count, 3),
        "Efficiency": round(min(guesses / turns / 2, 1), 3),
        metrics.MAIN_SCORE: math.nan if aborted else 100 * (1 - lose),
    }


def rescore_adventuregame(record, instance, experiment):
    info = record["adventure_info"]
    invalid = bool(events_of(record, "invalid_format"))
    turn_limit = bool(events_of(record, "turn_limit_reached"))
    result = events_of(record, "game_result")[-1]
    finished = result["game_successfully_finished"]
    turns = len(record["turns"])
    failed_phases = [{e["action"]["content"]["phase"] for e in r if e["action"]["type"] == "action_fail"}
                     for r in record["turns"]]
    parsing = sum("parsing" in phases for phases in failed_phases)
    resolution = sum("resolution" in phases for phases in failed_phases)
    hallucinations, finished_so_far = 0, False
    for round_events in record["turns"]:
        types = [e["action"]["type"] for e in round_events]
        finished_so_far = finished_so_far or "adventure_finished" in types
        done = any(e["action"]["type"] == "action_info" and e["action"]["content"]["action_type"] == "done"
                   for e in round_events)
        hallucinations += int("hallucinated_finish" in types or (done and not finished_so_far))
    aborted = invalid or turn_limit
    # clembench's scorer of clemcore 3 and later gives aborted episodes no Main Score; v2.0's scored them
    clem_major = str(record["meta"].get("clem_version", "")).split(".")[0]
    main = 100 * len(result["goal_states_achieved"]) / info["goal_count"]
    if aborted and clem_major.isdigit() and int(clem_major) >= 3:
        main = math.nan
    return {
        **flags(aborted, not aborted and not finished, not aborted and finished),
        **totals(turns, turns - invalid, int(invalid)),
        "hallucination_count": hallucinations,
        "action_parsing_fail": parsing,
        "action_resolution_fail": resolution,
        "successful_actions": turns - invalid - parsing - resolution,
        "turn_limit_loss": int(turn_limit),
        "turns_over_par": turns - info["optimal_turns"] if finished else math.nan,
        "achieved_goal_ratio": len(result["goal_states_achieved"]) / info["goal_count"],
        metrics.MAIN_SCORE: main,
        "plan_average_viability_ratio": sum(events_of(record, "plan_command_success_ratio")) / turns,
    }


def rescore_taboo(record, instance, experiment):
    aborted = bool(events_of(record, "invalid format"))
    won = bool(events_of(record, "correct guess"))
    rounds = len(record["turns"])
    main = math.nan if aborted else (100 / rounds if won else 0)
    return {**flags(aborted, not aborted and not won, not aborted and won), metrics.MAIN_SCORE: main}


def rescore_textmapworld(record, instance, experiment):
    named = instance["Game_Type"] == "named_graph"
    start = instance["Current_Position"] if named else ast.literal_eval(instance["Current_Position"])
    nodes = set(ast.literal_eval(instance["Graph_Nodes"]))
    aborted = any(bool(c) for c in events_of(record, "aborted"))
    stopped = any(bool(c) for c in events_of(record, "stop"))
    path = [start] + [
        json.loads(move)["new"] if named else tuple(json.loads(move)["new"]) for move in events_of(record, "move")
    ]
    if aborted or not stopped:
        return flags(1, 0, 0)
    if record["meta"]["game_name"] == "textmapworld_specificroom":  # stop in the named room
        won = path[-1].lower() == instance["Specific_Room"].lower()
    else:  # stop after visiting every room
        won = set(path) == nodes
    return {**flags(0, not won, won), "number_visited": len(set(path))}


def rescore_referencegame(record, instance, experiment):
    # clembench finds the verdicts by position: the giver's at event 2, the follower's at event 5
    events = record["turns"][0]
    types = [e["action"]["type"] for e in events]
    giver_ok = len(types) > 2 and types[2] == "parse"
    follower_ok = giver_ok and len(types) > 5 and types[5].startswith("parse")
    requests, parsed = 1 + giver_ok, giver_ok + follower_ok
    scores = totals(requests, parsed, requests - parsed)
    scores["Generated Expression Length"] = len(events[2]["action"]["content"]) if giver_ok else math.nan
    if not follower_ok:  # clembench leaves Success and Lose undefined (NaN) for an aborted episode
        return {**scores, metrics.ABORTED: 1, metrics.SUCCESS: math.nan, metrics.LOSE: math.nan,
                metrics.MAIN_SCORE: math.nan}
    won = int("correct" in types[5])
    return {**scores, **flags(0, 1 - won, won), metrics.MAIN_SCORE: 100 * won}


def rescore_guesswhat(record, instance, experiment):
    # (clembench counts one request per round, Playpen every reply: request counts are not compared)
    rounds = record["turns"]
    if {"invalid format", "invalid content"} & {e["action"]["type"] for e in rounds[-1]}:
        return {metrics.ABORTED: 1, metrics.MAIN_SCORE: math.nan}  # Success and Lose are not written at all
    if not events_of(record, "correct guess"):
        return {**flags(0, 1, 0), metrics.MAIN_SCORE: 0}
    # v2.0's lower bound is 5 turns at every level (its level test is always true)
    max_turns, lower_bound = experiment["max_turns"], 5
    speed = 100 if len(rounds) <= lower_bound else 100 * (max_turns - len(rounds)) / (max_turns - lower_bound)
    return {**flags(0, 0, 1), metrics.MAIN_SCORE: max(0, speed), "Speed": max(0, speed)}


def rescore_imagegame(record, instance, experiment):
    # the grid comparison is clembench's evaluator (re-implemented in the game); everything else is read from
    # the record: the scores of the last grid drawn before the instruction giver stops, NaN after a bad reply
    from playpen.games.imagegame.scoring import precision_recall_f1

    precision = recall = f1 = 0

    def finished() -> dict[str, Any]:
        won = f1 >= 99
        return {**flags(0, not won, won), metrics.MAIN_SCORE: f1, "Precision": precision, "Recall": recall}

    for round_events in record["turns"]:
        grid = None
        for event in round_events:
            event_type = event["action"]["type"]
            if event_type == "found terminate pattern":
                return finished()
            if event_type == "invalid format":
                return {**flags(1, 0, 0), metrics.MAIN_SCORE: math.nan}
            if event_type == "found grid":
                grid = event["action"]["content"]
        scores = None if grid is None else precision_recall_f1(instance["target_grid"], grid)
        if scores is not None:
            precision, recall, f1 = scores
    return finished()


def rescore_matchit_ascii(record, instance, experiment):
    contents = [e["action"] for r in record["turns"] for e in r]
    if any(a["type"] not in ("invalid format", "invalid content", "valid format")
           and str(a["content"]).startswith("Abort") for a in contents):
        return {**flags(1, 0, 0), metrics.MAIN_SCORE: math.nan, "Player Score": math.nan}
    right = [any(a["type"] == f"Decision Player {p}" and a["content"] == "success" for a in contents) for p in "AB"]
    both = all(right)
    return {**flags(0, not both, both), metrics.MAIN_SCORE: 100 * both, "Player Score": 50 * sum(right)}


RESCORERS: dict[str, Rescorer] = {
    "imagegame": rescore_imagegame,
    "matchit_ascii": rescore_matchit_ascii,
    "guesswhat": rescore_guesswhat,
    "referencegame": rescore_referencegame,
    "adventuregame": rescore_adventuregame,
    "codenames": rescore_codenames,
    "privateshared": rescore_privateshared,
    "taboo": rescore_taboo,
    "textmapworld": rescore_textmapworld,
    "textmapworld_graphreasoning": rescore_textmapworld,
    "textmapworld_specificroom": rescore_textmapworld,
    "wordle": rescore_wordle,
    "wordle_withclue": rescore_wordle,
    "wordle_withcritic": rescore_wordle,
}


def disagreements(episode: Path, rescorer: Rescorer) -> list[str]:
    """Scores re-derived from the episode's record that differ from its scores.json."""
    record = read_json(episode / "interactions.json")
    derived = rescorer(record, read_json(episode / "instance.json"), read_json(episode.parent / "experiment.json"))
    stored = read_json(episode / "scores.json")[metrics.EPISODE_SCORES_KEY]
    return [f"{episode.name} {name}: record gives {value!r}, scores.json has {stored.get(name)!r}"
            for name, value in derived.items() if not same(value, stored.get(name, math.nan))]


@pytest.mark.parametrize("game", sorted(RESCORERS))
def test_rescoring_clembench_records_reproduces_their_scores(game, clembench_runs):
    """The re-scorers read records as clembench does: on clembench's own records they give its scores."""
    episodes = fixture_episodes(clembench_runs, game)
    problems = [p for episode in episodes for p in disagreements(episode, RESCORERS[game])]
    assert not problems, "\n".join(problems[:10])


@pytest.fixture(scope="module")
def playpen_records(tmp_path_factory) -> Path:
    """Playpen runs of the validation split with competent and bad scripted players, written to disk."""
    root = tmp_path_factory.mktemp("records")
    for skill in ("competent", "bad"):
        store = ResultsStore(root, f"scripted-{skill}")
        jobs = []
        for game in RESCORERS:
            spec = get_game(game)
            model = ScriptedModel(skill, seed=7)
            jobs += [EpisodeJob(spec, row, {role: model for role in spec.roles})
                     for row in select_rows(spec, split="validation", per_experiment=2)]
        for result in run_episodes(jobs, batch_size=16):
            assert not result.errored, result.error
            store.write_episode(result.job.row, result.master, {r: skill for r in result.master.roles}, {})
    return root


@pytest.mark.parametrize("game", sorted(RESCORERS))
def test_playpen_records_alone_give_playpen_scores(game, playpen_records):
    episodes = sorted(p.parent for p in playpen_records.glob(f"*/{game}/*/episode_*/scores.json"))
    assert len(episodes) >= 4
    outcomes = {tuple(read_json(e / "scores.json")[metrics.EPISODE_SCORES_KEY][k] for k in
                      (metrics.ABORTED, metrics.LOSE, metrics.SUCCESS)) for e in episodes}
    problems = [p for episode in episodes for p in disagreements(episode, RESCORERS[game])]
    assert not problems, "\n".join(problems[:10])
    assert len(outcomes) >= 2, f"only one outcome among {len(episodes)} episodes: {outcomes}"
