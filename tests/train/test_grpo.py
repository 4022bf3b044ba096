"""GRPO on the embedded model: a real step, checkpoints that `playpen run` plays, resume, the report, and the
advantages TRL computes from our rollouts (hand-made reward groups, partner failures replaced)."""

import csv
import json
import math
import random

import pytest

from playpen.core.master import Status
from playpen.models.base import GenerationResult, Model
from playpen.testing.dist import GAME, GIVER, reply_checksum
from tests.test_groups import Queue
from playpen.train.grpo import (
    ROW_PREFIX,
    EpisodeRollout,
    GRPOSettings,
    build_grpo,
    train_grpo,
)

pytestmark = pytest.mark.model

FOLLOWER = "Instruction Follower"


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_grpo_steps_train_save_resume_and_the_checkpoint_plays(embedded_model_dir, tmp_path, isolated_registry):
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from playpen.cli import app
    from playpen.demo import DemoResult, write_report
    from playpen.eval.policy import read_eval_rows

    output = tmp_path / "grpo"
    settings = GRPOSettings(games=[GAME], roles={GAME: GIVER}, partner="scripted", group_size=2, batch_size=2,
                            max_steps=1, learning_rate=1e-2, beta=0.0, max_new_tokens=8, eval_max_new_tokens=8,
                            reward=reply_checksum, save_steps=1, seed=3, alias="grpo-test")
    final, alias = train_grpo("smollm2-135m", output, settings, printer=None)

    # the adapter starts with B = 0: a non-zero B means the step changed the weights
    adapter = load_file(str(final / "adapter_model.safetensors"))
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    assert lora_b and any(float(t.abs().sum()) > 0 for t in lora_b)
    assert (output / "checkpoint-1" / "adapter_config.json").is_file()
    log = rows(output / "training_log.csv")
    assert len(log) == 1 and math.isfinite(float(log[0]["loss"])) and float(log[0]["reward_std"]) > 0
    assert len((output / "rollouts.jsonl").read_text().splitlines()) == 2
    assert [r["step"] for r in read_eval_rows(output / "eval_metrics.csv") if r["scope"] == "game"] == [0, 1]
    assert list((output / "eval" / "step-1").rglob("transcript.html"))
    assert (output / "learning_curves.png").stat().st_size > 1000
    home, _ = isolated_registry
    assert json.loads((home / "models.json").read_text())[alias]["path"] == str(final.resolve())

    # the registered alias and the checkpoint folder both play through `playpen run`
    runner = CliRunner()
    for model in (alias, str(output / "checkpoint-1")):
        results = tmp_path / f"results-{len(model)}"
        outcome = runner.invoke(app, ["run", "-g", GAME, "-m", model, "-m", "scripted", "--split", "validation",
                                      "-e", "letter_grids", "-n", "1", "-L", "8", "-r", str(results)])
        assert outcome.exit_code == 0, outcome.output
        assert len(list(results.rglob("scores.json"))) == 1 and not list(results.rglob("error.json"))

    # resume continues from checkpoint-1: one more step, the earlier log and evaluations kept
    settings.max_steps = 2
    train_grpo("smollm2-135m", output, settings, resume=True, printer=None)
    assert [r["step"] for r in rows(output / "training_log.csv")] == ["1", "2"]
    assert rows(output / "training_log.csv")[0] == log[0]
    assert [r["step"] for r in read_eval_rows(output / "eval_metrics.csv") if r["scope"] == "game"] == [0, 1, 2]

    # the demo's report from such a run
    evaluations = read_eval_rows(output / "eval_metrics.csv")
    result = DemoResult(tmp_path, tmp_path / "report.html", 1.0, 1.0, 2, 3,
                        before=[r for r in evaluations if r["step"] == 0],
                        after=[r for r in evaluations if r["step"] == 2])
    html = write_report(result, settings, output).read_text()
    assert "data:image/png;base64," in html and "grpo/eval/step-0/learner/referencegame/" in html
    assert "grpo/eval/step-2/learner/referencegame/" in html


def test_advantages_are_trls_group_normalised_rewards_with_partner_failures_replaced(embedded_model_dir, tmp_path,
                                                                                      isolated_registry):
    """Four groups of four follower episodes with hand-made outcomes, through the real rollout function and
    TRL's own scoring (``_generate_and_score_completions``, the code that training runs)."""
    from playpen.games import get_game
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import select_rows

    settings = GRPOSettings(games=[GAME], roles={GAME: FOLLOWER}, partner="scripted", group_size=4, batch_size=16,
                            max_steps=1, beta=0.0, max_new_tokens=8, reward="paper", abort_penalty=0.5,
                            partner_retries=1, evaluate=False, seed=0)
    run = build_grpo("smollm2-135m", tmp_path / "grpo", settings, printer=None)
    keys = [row.key for row in select_rows(get_game(GAME), split="train")[:4]]
    # learner replies in the order the follower is asked (episodes the giver spoiled never ask it):
    # A: won, lost, lost, lost | B: all lost | C: slot 0 spoiled twice, then won ×3 | D: won ×3, then slot 0
    # (spoiled once, replayed) aborted by the learner itself
    plan = list("cwww" + "wwww" + "ccc" + "ccc" + "x")

    def follower(index, request):
        target = request.instance["target_grid_name"][0]
        wrong = next(n for n in ("first", "second", "third") if n not in request.instance["target_grid_name"])
        return {"c": f"Answer: {target}", "w": f"Answer: {wrong}", "x": "I think it is the first one"}[plan[index]]

    scripted = ScriptedModel()

    def giver(index, request):  # requests 0-15: first play of all 16; 16-17: the retries of C0 and D0
        return "no idea" if index in (8, 12, 16) else scripted.generate([request])[0].text

    run.rollout.partner = Queue(giver)
    learner = Queue(follower)
    run.rollout.learner_model = lambda trainer: learner
    captured = []
    rollout = run.trainer.rollout_func
    run.trainer.rollout_func = lambda prompts, trainer: captured.append(rollout(prompts, trainer)) or captured[-1]
    inputs = [{"prompt": [{"role": "user", "content": ROW_PREFIX + json.dumps([GAME, key])}]}
              for key in keys for _ in range(4)]
    run.trainer.model.train()
    scored = run.trainer._generate_and_score_completions(inputs)

    assert learner.count == 15 and run.rollout.partner.count == 18
    [out] = captured
    assert out["episode_reward"] == [1, 0, 0, 0] + [0] * 4 + [1] * 4 + [-0.5, 1, 1, 1]
    assert out["episode_replaced"] == [False] * 8 + [True, False, False, False] + [False] * 4
    assert out["episode_outcome"][12] == Status.ABORTED.value  # the learner's own abort stays (penalised)
    advantages = scored["advantages"].tolist()
    # (r - group mean) / (unbiased group std + 1e-4); a group without spread gets 0
    expected = [1.5, -0.5, -0.5, -0.5] + [0] * 4 + [0] * 4 + [-1.5, 0.5, 0.5, 0.5]
    assert advantages == pytest.approx(expected, abs=1e-3)
    assert advantages[4:12] == [0.0] * 8
    # the loss covers the learner's reply only (here the whole completion: one follower turn)
    assert scored["tool_mask"].shape == scored["completion_ids"].shape


def test_learner_roles_default_to_the_papers():
    from playpen.core.errors import PlaypenError
    from playpen.games import get_game
    from playpen.train.grpo import learner_role

    assert learner_role(get_game("taboo")) == "WordGuesser"
    assert learner_role(get_game(GAME)) == FOLLOWER and learner_role(get_game(GAME), {GAME: GIVER}) == GIVER
    assert learner_role(get_game("wordle_withcritic")) == "ReflectingWordGuesser"
    assert learner_role(get_game("wordle")) == "WordGuesser"
    with pytest.raises(PlaypenError, match="no role"):
        learner_role(get_game(GAME), {GAME: "Referee"})


class RandomGuesser(Model):
    """A sampling taboo guesser: a seeded random guess per request, so branches of one episode differ."""

    batched = True

    def __init__(self, seed=0):
        super().__init__()
        self.name = "guesser"
        self.rng = random.Random(seed)

    def generate(self, requests):
        words = ("winter", "river", "car", "bread", "ship", "lamp")
        return [GenerationResult(text=f"GUESS: {self.rng.choice(words)}") for _ in requests]


def test_branching_groups_share_a_history_and_train_only_what_follows_the_fork(embedded_model_dir, tmp_path):
    """Taboo (three guesses) with a sampling guesser: each group plays a trunk, forks at one of the learner's
    turns, and the loss mask covers only the replies from the fork on."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from playpen.games import get_game
    from playpen.core.messages import merge_messages
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import select_rows
    from playpen.train.conversation import tokenise_conversation

    spec = get_game("taboo")
    rows = select_rows(spec, split="train")[:3]
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    settings = GRPOSettings(games=["taboo"], group_size=4, batch_size=12, branching=True, reward="success", seed=1)
    rollout = EpisodeRollout(settings, [spec], {r.key: r for r in rows}, ScriptedModel(), tokenizer,
                             log_path=tmp_path / "rollouts.jsonl")
    learner = RandomGuesser()
    rollout.learner_model = lambda trainer: learner
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0), accelerator=SimpleNamespace(num_processes=1))
    keys = [(spec.name, r.key) for r in rows for _ in range(4)]
    episodes, starts = rollout.groups().play_branching(keys, learner, random.Random(0))

    shared = []
    for group in range(3):
        members = episodes[4 * group: 4 * group + 4]
        replies = [e.learner_replies() for e in members]
        counts = {e.shared_replies for e in members}
        assert len(counts) == 1  # one fork point per group
        [k] = counts
        shared.append(k)
        # the trunk's first k replies (and the game's answers to them) are every member's history
        assert all(r[:k] == replies[0][:k] for r in replies)
        views = [e.master.history_of["WordGuesser"] for e in members]
        prefix = 1 + 2 * k  # the first prompt, then k (reply, answer) pairs
        assert all(v[:prefix] == views[0][:prefix] for v in views)
        assert all(len(r) > k for r in replies)  # everyone made its own reply at the fork
        assert starts[4 * group] is starts[4 * group + 3]
    assert max(shared) > 0, "no group forked after its first turn; the test needs a seed that does"

    # a forked member's loss mask covers exactly its own replies (from the fork on)
    member = next(e for e in episodes if e.shared_replies > 0)
    tokens = tokenise_conversation(tokenizer, merge_messages(member.master.history_of["WordGuesser"]), None,
                                   member.shared_replies)
    trained = tokenizer.decode([t for t, m in zip(tokens.completion_ids, tokens.mask) if m])
    own = member.learner_replies()[member.shared_replies:]
    assert trained == "".join(f"{reply}<|im_end|>\n" for reply in own)

    # the rollout function TRL calls: every completion trains on something, and the log says what was shared
    prompts = [[{"role": "user", "content": ROW_PREFIX + json.dumps(list(key))}] for key in keys]
    out = rollout(prompts, trainer)
    assert len(out["completion_ids"]) == 12
    for ids, mask in zip(out["completion_ids"], out["env_mask"]):
        assert len(ids) == len(mask) and sum(mask) > 0
    logged = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert len(logged) == 12
    for group in range(3):
        counts = {entry["shared_replies"] for entry in logged[4 * group: 4 * group + 4]}
        assert len(counts) == 1 and all(len(e["learner"]) > min(counts) for e in logged[4 * group: 4 * group + 4])


def test_branching_is_refused_with_several_training_processes():
    from types import SimpleNamespace

    from playpen.core.errors import PlaypenError
    from playpen.games import get_game
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import select_rows

    spec = get_game("taboo")
    [row] = select_rows(spec, split="train")[:1]
    rollout = EpisodeRollout(GRPOSettings(games=["taboo"], group_size=2, batch_size=2, branching=True), [spec],
                             {row.key: row}, ScriptedModel(), tokenizer=None)
    rollout.learner_model = lambda trainer: RandomGuesser()
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0), accelerator=SimpleNamespace(num_processes=2))
    with pytest.raises(PlaypenError, match="single training process"):
        rollout([[{"role": "user", "content": ROW_PREFIX + json.dumps(["taboo", row.key])}]] * 2, trainer)


def test_self_play_in_every_role_normalises_advantages_per_role(embedded_model_dir, tmp_path, isolated_registry):
    """Self-play on one referencegame instance, both roles trained: the two role groups share the same four
    episodes, each role gets its own reward (an abort is charged to the role that caused it) and TRL normalises
    each role's group on its own (role-conditioned baselines)."""
    import statistics

    from playpen.games import get_game
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import select_rows

    settings = GRPOSettings(games=[GAME], partner="self", all_roles=True, group_size=4, batch_size=8, max_steps=1,
                            beta=0.0, max_new_tokens=8, reward="paper", abort_penalty=0.5, partner_retries=0,
                            evaluate=False, seed=0)
    run = build_grpo("smollm2-135m", tmp_path / "grpo", settings, printer=None)
    [row] = select_rows(get_game(GAME), split="train")[:1]
    scripted = ScriptedModel()
    asked = {GIVER: 0, FOLLOWER: 0}
    # episodes in the order the follower is asked: won, lost, lost, the follower breaks the format (abort)
    answers = iter(["c", "w", "w", "x"])

    def learner_reply(index, request):
        asked[request.role] += 1
        if request.role == GIVER:
            return scripted.generate([request])[0].text
        target = request.instance["target_grid_name"][0]
        wrong = next(n for n in ("first", "second", "third") if n not in request.instance["target_grid_name"])
        return {"c": f"Answer: {target}", "w": f"Answer: {wrong}", "x": "no idea"}[next(answers)]

    learner = Queue(learner_reply)
    run.rollout.learner_model = lambda trainer: learner
    captured = []
    rollout = run.trainer.rollout_func
    run.trainer.rollout_func = lambda prompts, trainer: captured.append(rollout(prompts, trainer)) or captured[-1]
    inputs = [{"prompt": [{"role": "user", "content": ROW_PREFIX + json.dumps([GAME, row.key, role])}]}
              for role in (GIVER, FOLLOWER) for _ in range(4)]
    run.trainer.model.train()
    scored = run.trainer._generate_and_score_completions(inputs)

    assert asked == {GIVER: 4, FOLLOWER: 4}  # four episodes played, viewed by both roles
    [out] = captured
    giver_rewards, follower_rewards = [1, 0, 0, 0], [1, 0, 0, -0.5]  # the giver is not charged for the abort
    assert out["episode_reward"] == giver_rewards + follower_rewards

    def normalised(rewards):
        mean, std = statistics.fmean(rewards), statistics.stdev(rewards)
        return [(r - mean) / (std + 1e-4) for r in rewards]

    assert scored["advantages"].tolist() == pytest.approx(normalised(giver_rewards) + normalised(follower_rewards),
                                                          abs=1e-3)
    # each completion is its own role's conversation
    texts = [run.tokenizer.decode(ids) for ids in out["completion_ids"]]
    assert all("Expression:" in t for t in texts[:4]) and all("Answer:" in t or "no idea" in t for t in texts[4:])


def test_dynamic_sampling_replays_a_flat_group_on_another_instance(embedded_model_dir, tmp_path):
    """A group whose rewards are all equal is played again on another instance; the replay with spread is kept,
    and the log names the instance actually played."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from playpen.games import get_game
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import select_rows

    spec = get_game(GAME)
    rows = select_rows(spec, split="train")[:6]
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    settings = GRPOSettings(games=[GAME], roles={GAME: FOLLOWER}, group_size=2, batch_size=2, reward="success",
                            resample_flat_groups=3, seed=2)
    rollout = EpisodeRollout(settings, [spec], {r.key: r for r in rows}, ScriptedModel(), tokenizer,
                             log_path=tmp_path / "rollouts.jsonl")
    plan = iter(["w", "w", "c", "w"])  # first play: both lose (flat); the replay: one win, one loss

    def follower(index, request):
        target = request.instance["target_grid_name"][0]
        wrong = next(n for n in ("first", "second", "third") if n not in request.instance["target_grid_name"])
        return f"Answer: {target}" if next(plan) == "c" else f"Answer: {wrong}"

    rollout.learner_model = lambda trainer: Queue(follower)
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0), accelerator=SimpleNamespace(num_processes=1))
    out = rollout([[{"role": "user", "content": ROW_PREFIX + json.dumps([GAME, rows[0].key])}]] * 2, trainer)
    assert out["episode_reward"] == [1.0, 0.0]
    assert out["episode_resampled"] == [True, True]
    logged = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    played = {entry["instance"] for entry in logged}
    assert len(played) == 1 and played <= {r.key for r in rows}

    # without dynamic sampling the flat group stays (advantage 0)
    plan = iter(["w", "w"])
    settings.resample_flat_groups = 0
    out = rollout([[{"role": "user", "content": ROW_PREFIX + json.dumps([GAME, rows[0].key])}]] * 2, trainer)
    assert out["episode_reward"] == [0.0, 0.0] and out["episode_resampled"] == [False, False]


def test_all_roles_needs_self_play():
    from playpen.core.errors import PlaypenError
    from playpen.train.grpo import build_grpo as build

    with pytest.raises(PlaypenError, match="--partner self"):
        build("smollm2-135m", None, GRPOSettings(games=[GAME], partner="scripted", all_roles=True), printer=None)


def test_use_vllm_without_vllm_says_how_to_get_it(monkeypatch):
    import importlib.util

    from playpen.core.errors import PlaypenError
    from playpen.train.grpo import build_grpo as build

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else find_spec(name, *a))
    with pytest.raises(PlaypenError, match="make vllm-venv"):
        build("smollm2-135m", None, GRPOSettings(games=[GAME], use_vllm=True), printer=None)
