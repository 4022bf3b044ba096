"""The engine with real backends: replayed episodes, a faulty local server, hostile replies through an env."""

import json

from playpen.core.check import hostile_replies
from playpen.games import get_game
from playpen.models.openai_compat import OpenAICompatibleModel
from playpen.models.replay import ReplayModel
from playpen.models.scripted import ScriptedModel
from playpen.testing.server import TestServer
from playpen.results.store import ResultsStore
from playpen.rollout.planner import select_rows
from playpen.rollout.engine import EpisodeJob, run_episodes


def play(spec, rows, model, batch_size=8):
    return {r.job.row.key: r for r in run_episodes([EpisodeJob(spec, row, {role: model for role in spec.roles})
                                                    for row in rows], batch_size=batch_size)}


def outcomes(results):
    return {key: (r.master.outcome.status.value, json.dumps(r.master.scores()["episode scores"], sort_keys=True))
            for key, r in results.items() if not r.errored}


def test_replay_reproduces_recorded_episodes_batched_and_sequential(tmp_path):
    spec = get_game("wordle_withcritic")
    rows = select_rows(spec, split="validation")
    original = play(spec, rows, ScriptedModel("competent", seed=3))
    store = ResultsStore(tmp_path, "scripted")
    for result in original.values():
        store.write_episode(result.job.row, result.master, {r: "scripted" for r in spec.roles}, {})
    for batch_size in (1, 8):
        replayed = play(spec, rows, ReplayModel.from_results(tmp_path / "scripted"), batch_size=batch_size)
        assert outcomes(replayed) == outcomes(original)


def test_faulty_server_loses_no_episode():
    spec = get_game("taboo")
    rows = select_rows(spec, split="validation")
    reference = {}
    # 21 faults in all: with 30 retries no request can run out, whichever requests the faults hit
    faults = ["500", "garbage", "drop", "503", "incomplete", "429", None, "500"] * 3
    for fault_list in ([], faults):
        with TestServer(faults=fault_list, record=False) as server:
            model = OpenAICompatibleModel(server.base_url, server.model_id, send_request_context=True,
                                          max_retries=30, backoff=0.01, timeout=5, max_concurrency=8)
            results = play(spec, rows, model)
            model.close()
        assert not any(r.errored for r in results.values()) and len(results) == len(rows)
        if not reference:
            reference = outcomes(results)
        else:
            assert outcomes(results) == reference


def test_hostile_replies_through_the_env_end_in_a_defined_outcome():
    import playpen

    for game, role, partner_role in (("taboo", "WordGuesser", "WordDescriber"),
                                     ("referencegame", "Player 2", "Player 1")):
        spec = get_game(game)
        role = role if role in spec.roles else spec.roles[-1]
        partner_role = next(r for r in spec.roles if r != role)
        env = playpen.make(game, role=role, partners={partner_role: ScriptedModel("competent")}, split="validation")
        for index, reply in enumerate(hostile_replies(spec.protocol_markers)):
            env.reset(seed=index)
            terminated = False
            steps = 0
            while not terminated and steps < 10:
                _, reward, terminated, _, info = env.step(reply)
                steps += 1
            assert terminated and info["outcome"] in ("aborted", "lose", "success")
            assert -1.0 <= reward <= 1.0
