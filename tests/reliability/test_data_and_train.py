"""Class 5 of issue 23: ``data`` writes its output atomically and whatever a recorded reply holds; ``train
sft|dpo`` check the dataset and the settings before trl or a model is loaded (one line naming the problem)."""

import json

import pytest

RUN = ("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "3")


@pytest.fixture
def played(guarded):
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    return guarded


def _put_surrogate_in_a_reply(results):
    path = sorted(results.rglob("interactions.json"))[0]
    text = path.read_text(encoding="utf-8")
    record = json.loads(text)
    event = next(e for turn in record["turns"] for e in turn if e["action"]["type"] == "get message")
    event["action"]["content"] += "\ud800"
    path.write_text(json.dumps(record), encoding="utf-8")  # ensure_ascii: the JSON escape \ud800


@pytest.mark.parametrize("name", ["sft.jsonl", "sft.parquet"])
def test_a_lone_surrogate_in_a_reply_is_written_not_a_crash(played, name):
    _put_surrogate_in_a_reply(played.results)
    output = played.results / name
    output.write_text("the previous dataset\n")
    result = played.cli("data", "sft", played.results, "-o", output, "--outcome", "success", "--outcome", "lose",
                        "--outcome", "aborted")
    assert result.code == 0, result.stderr
    from playpen.data.datasets import read_rows

    rows = read_rows(output)
    assert rows and any("\ufffd" in m["content"] for row in rows for m in row["messages"])
    assert not list(played.results.rglob("*.tmp"))


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    from playpen.data.datasets import write_rows

    output = tmp_path / "sft.jsonl"
    output.write_text('{"messages": []}\n')
    with pytest.raises(TypeError):
        write_rows([{"messages": []}, {"messages": {1, 2}}], output)  # a set is not JSON
    assert output.read_text() == '{"messages": []}\n' and [p.name for p in tmp_path.iterdir()] == ["sft.jsonl"]


@pytest.mark.parametrize("name", ["a[b].jsonl", "x[/red].jsonl", "[bold]y.parquet"])
def test_square_brackets_in_the_output_path_are_printed_as_they_are(played, name):
    output = played.results / name
    result = played.cli("data", "sft", played.results, "-o", output)
    assert result.code == 0, result.stderr
    assert f"to {output}" in result.stdout.replace("\n", "") and output.is_file()


def test_square_brackets_in_a_game_name_are_printed_as_they_are(played):
    for path in played.results.rglob("interactions.json"):
        record = json.loads(path.read_text())
        record["meta"]["game_name"] = "[/taboo]"
        path.write_text(json.dumps(record))
    result = played.cli("data", "sft", played.results, "-o", played.results / "sft.jsonl")
    assert result.code in (0, 1) and "Traceback" not in result.stderr  # (the game is unknown now: maybe refused)
    if result.code == 0:
        assert "[/taboo]" in result.stdout


SFT_ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "GUESS: word"}],
           "split": "train"}
DPO_ROW = {"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}],
           "rejected": [{"role": "assistant", "content": "b"}], "split": "train"}


def _lines(*rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("kind, name, content, named", [
    ("sft", "empty.jsonl", "", "has no rows"),
    ("sft", "blank.jsonl", "\n\n  \n", "has no rows"),
    ("sft", "text.jsonl", "hello world\n", "line 1: not JSON"),
    ("sft", "nul.jsonl", b"\x00\x00\x00\n", "line 1: not JSON"),
    ("sft", "latin1.jsonl", b'{"a": "\xe9"}\n', "is not UTF-8 text"),
    ("sft", "list.jsonl", "[1, 2]\n", "line 1: a list, not a JSON object"),
    ("sft", "fake.parquet", "PAR1 not really", "is not a readable parquet file"),
    ("sft", "validation.jsonl", _lines({**SFT_ROW, "split": "validation"}) * 2,
     "all 2 rows are in the validation split, none to train on"),
    ("sft", "noreply.jsonl", _lines(SFT_ROW, {"messages": [{"role": "user", "content": "hi"}]}),
     "row 2: its conversation has no assistant turn to learn"),
    ("sft", "nomessages.jsonl", _lines({"text": "x"}), "row 1: 'messages' is not a non-empty list of messages"),
    ("sft", "badmessage.jsonl", _lines({"messages": [{"role": "user"}]}), "row 1: 'messages' holds"),
    ("dpo", "sft-as-dpo.jsonl", _lines(SFT_ROW), "row 1: DPO data needs prompt/chosen/rejected (missing prompt, chosen, rejected)"),
    ("dpo", "nochosen.jsonl", _lines(DPO_ROW, {**DPO_ROW, "chosen": []}), "row 2: 'chosen' is not a non-empty list"),
])
def test_train_refuses_a_dataset_it_cannot_learn_from_before_loading_a_model(guarded, kind, name, content, named):
    data = guarded.write(name, content)
    result = guarded.cli("train", kind, "-m", "no-such-model", "-d", data, "-o", guarded.results / "run")
    assert result.code == 1
    assert named in result.error_line and name in result.error_line
    assert not (guarded.results / "run").exists()


@pytest.mark.parametrize("kind, flags, named", [
    ("sft", ("--max-steps", "0"), "train sft: max_steps must be a number of steps above 0"),
    ("dpo", ("--max-steps", "-2"), "train dpo: max_steps must be a number of steps above 0"),
    ("sft", ("--batch-size", "0"), "train sft: batch_size must be above 0"),
    ("dpo", ("--lr", "0"), "train dpo: learning_rate must be above 0"),
    ("sft", ("--max-length", "0"), "train sft: max_length must be above 0"),
])
def test_train_refuses_settings_that_would_train_nothing(guarded, kind, flags, named):
    data = guarded.write("data.jsonl", _lines(SFT_ROW if kind == "sft" else DPO_ROW))
    result = guarded.cli("train", kind, "-m", "no-such-model", "-d", data, "-o", guarded.results / "run", *flags)
    assert result.code == 1 and named in result.error_line
    assert not (guarded.results / "run").exists()


@pytest.mark.model
@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_a_max_length_that_cuts_every_row_before_its_reply_is_refused(guarded, embedded_model_dir, kind):
    long_prompt = [{"role": "user", "content": "Please describe the word. " * 20}]
    row = ({"messages": [*long_prompt, {"role": "assistant", "content": "CLUE: a word"}]} if kind == "sft"
           else {**DPO_ROW, "prompt": long_prompt})
    data = guarded.write("data.jsonl", _lines(row, row))
    result = guarded.cli("train", kind, "-m", embedded_model_dir, "-d", data, "-o", guarded.results / "run",
                         "--max-length", "32", "--max-steps", "1")
    assert result.code == 1
    assert "--max-length 32 cuts every row of" in result.error_line and "raise it above" in result.error_line
    assert not (guarded.results / "run" / "final").exists()
