"""Prompt-exact play of clembench's official instance files.

An official instance carries clembench's prompt texts; our games send them exactly as clembench does. Checked
on the two real clembench v2.0 runs of the fixtures:

1. the first prompt our game master renders for a record's instance, taken from the official instance file
   (as ``playpen run -i`` loads it), equals the first prompt of the record's ``interactions.json``, byte for
   byte;
2. replaying the record's replies, the text of every request equals the recorded one (``playpen verify``'s
   prompt columns).

"Prompt" means what a request puts before the player: the game master's messages since the player's last reply,
joined as every backend joins consecutive user messages (clemcore records an initial prompt and the first context
as two messages; the model saw them as one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playpen.core.instances import iter_rows, load_instances
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.official import fill, official_text
from playpen.results.records import episodes, recorded_prompts

RUNS = ("llama3-8b-base", "tulu3-8b")
#: game -> its official v2.0 instance file, under clembench-instances/
OFFICIAL_FILES = {
    "referencegame": "referencegame/in/instances.json",
    "taboo": "taboo/in/instances.json",
    "imagegame": "imagegame/in/instances.json",
    "privateshared": "privateshared/in/instances.json",
    "matchit_ascii": "matchit_ascii/in/instances.json",
    "guesswhat": "guesswhat/in/instances.json",
    "textmapworld": "textmapworld/textmapworld_main/in/instances.json",
    "textmapworld_graphreasoning": "textmapworld/textmapworld_graphreasoning/in/instances.json",
    "textmapworld_specificroom": "textmapworld/textmapworld_specificroom/in/instances.json",
    "wordle": "wordle/in/instances.json",
    "wordle_withclue": "wordle/in/instances_withclue.json",
    "wordle_withcritic": "wordle/in/instances_withcritic.json",
    "adventuregame": "adventuregame/in/instances.json",
}

#: games whose prompts are clembench's only in part: the rest of the text is not in the instance files
#: (docs/fidelity.md). codenames carries no prompt text at all and is not listed.
FIRST_PROMPT_ONLY = {
    # the answerer's instructions are the instance's; the probe and request texts are in clembench's resources
    "privateshared",
}
PROMPT_PREFIX_ONLY = {
    # the instance's prompt opens the first message; the room descriptions are the interpreter's own text
    "adventuregame",
}


def official_rows(clembench_instances: Path, game: str) -> dict[tuple[str, int], object]:
    rows = iter_rows(game, load_instances(clembench_instances / OFFICIAL_FILES[game]))
    return {(row.experiment_name, row.instance["game_id"]): row for row in rows}


def run_dir(fixtures_dir: Path, run: str) -> Path:
    return fixtures_dir / "clembench-runs" / run


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("game", sorted(OFFICIAL_FILES))
def test_first_prompt_of_an_official_instance_is_clembench_s(fixtures_dir, clembench_instances, game, run):
    rows = official_rows(clembench_instances, game)
    compared = 0
    for episode in episodes(run_dir(fixtures_dir, run), {game}):
        if not episode.file("interactions.json").is_file():
            continue
        row = rows[(episode.experiment["name"], episode.instance["game_id"])]
        master = get_game(game).new_episode(row.experiment, row.instance)
        first = recorded_prompts(episode.interactions)[0]
        assert master.current_player == first.player
        rendered = master.messages_for()[-1]["content"]
        if game in FIRST_PROMPT_ONLY:
            # clembench HEAD's records open with the instructions alone (a fabricated "Ok." follows); we send
            # them before the first probe, as 2.0.0 did
            assert rendered.startswith(first.text + "\n\n"), episode.path
        elif game in PROMPT_PREFIX_ONLY:
            prompt = row.instance["prompt"]
            assert first.text.startswith(prompt) and rendered.startswith(prompt), episode.path
            assert rendered != first.text
        else:
            assert rendered == first.text, episode.path
        compared += 1
    assert compared > 0


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("game", sorted(set(OFFICIAL_FILES) - PROMPT_PREFIX_ONLY))
def test_replayed_episode_sends_every_recorded_message(fixtures_dir, game, run):
    checks = [check for check in verify(run_dir(fixtures_dir, run), {game}) if check.prompts is not None]
    assert checks
    for check in checks:
        assert check.prompts.first, (check.path, check.prompts.first_difference)
        if game not in FIRST_PROMPT_ONLY:
            assert check.prompts.first_difference is None, (check.path, check.prompts.first_difference)
            assert check.prompts.same == check.prompts.recorded > 0


@pytest.mark.parametrize("run", RUNS)
def test_static_tasks_send_the_recorded_prompts(fixtures_dir, run):
    checks = [check for check in verify(fixtures_dir / "clembench-runs-static" / run) if check.prompts is not None]
    assert {check.game for check in checks} == {"cladder", "eqbench", "ifeval", "mmlu_pro"}
    assert [(check.path, check.prompts.first_difference) for check in checks if check.prompts.first_difference] == []


def test_verify_reports_prompt_agreement(fixtures_dir):
    result = subprocess.run(
        [sys.executable, "-m", "playpen.cli", "verify", run_dir(fixtures_dir, "tulu3-8b"), "-g", "referencegame",
         "-g", "codenames"], capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("│")}
    # agree, episodes, skipped, first prompt, messages
    assert rows["referencegame"] == ["15", "15", "0", "15/15", "30/30"]
    assert rows["codenames"] == ["26", "26", "0", "0/26", "0/26"]


def test_official_text_is_taken_only_when_the_instance_carries_it():
    assert official_text({"prompt": "Say $WORD$."}, "prompt") == "Say $WORD$."
    assert official_text({"game_id": 3}, "prompt") is None
    assert official_text({"prompt": ["not", "text"]}, "prompt") is None


def test_fill_replaces_placeholders_in_order_as_plain_text():
    template = "Target: $TARGET$ (not $OTHER$); $TARGET$ again"
    assert fill(template, {"$TARGET$": "apple", "$OTHER$": "$TARGET$"}) == "Target: apple (not $TARGET$); apple again"


def test_a_request_s_prompt_joins_the_messages_since_the_player_s_last_reply():
    def event(sender, receiver, kind, text):
        return {"from": sender, "to": receiver, "action": {"type": kind, "content": text}}

    interactions = {
        "players": {"GM": {}, "Player 1": {"model_name": "m"}, "Player 2": {"model_name": "mock"}},
        "turns": [[event("GM", "Player 1", "send message", "Rules."),
                   event("GM", "Player 1", "send message", "Round 1."),
                   event("Player 1", "GM", "get message", "GUESS: a"),
                   event("GM", "Player 2", "send message", "not a model"),
                   event("GM", "Player 1", "send message", "Round 2.")]],
    }
    assert [(m.player, m.text) for m in recorded_prompts(interactions)] == [
        ("Player 1", "Rules.\n\nRound 1."), ("Player 1", "Round 2.")]
