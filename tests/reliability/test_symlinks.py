"""Class 6 of issue 23: nothing is written through a symbolic link inside a results or experiment folder (nor
over one given as an output): the command is refused with a line naming the link, and the file it points at is
left as it was (``guarded`` checks every file outside the results folder)."""

import json

from tests.reliability.conftest import EXPERIMENT_RECIPE as RECIPE

RUN = ("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "3")


def test_a_lock_file_that_is_a_link_is_refused(guarded):
    guarded.results.mkdir()
    (guarded.results / ".playpen.lock").symlink_to(guarded.outside / "keep.txt")
    result = guarded.cli(*RUN, "-r", guarded.results)
    assert result.code == 1
    assert f"{guarded.results / '.playpen.lock'} is a symbolic link; refusing to write through it" in result.error_line
    assert (guarded.outside / "keep.txt").read_text() == "untouched\n"
    assert not guarded.finished()


def test_a_linked_folder_inside_the_results_folder_is_refused(guarded):
    guarded.results.mkdir()
    (guarded.results / "scripted").symlink_to(guarded.outside, target_is_directory=True)
    result = guarded.cli(*RUN, "-r", guarded.results)
    assert result.code == 1
    assert f"{guarded.results / 'scripted'} is a symbolic link" in result.error_line
    assert [p.name for p in guarded.outside.iterdir()] == ["keep.txt"]


def test_a_linked_record_file_errors_its_episode_only(guarded):
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    episode = sorted(guarded.results.rglob("episode_0"))[0]
    (episode / "scores.json").unlink()  # the episode is played again, and its scores file is a link now
    (episode / "scores.json").symlink_to(guarded.outside / "keep.txt")
    guarded.mark()
    result = guarded.cli(*RUN, "-r", guarded.results)
    assert result.code == 1
    assert "1 of 1 episodes errored" in result.error_line or "every episode failed" in result.error_line
    assert "is a symbolic link" in result.error_line
    assert (guarded.outside / "keep.txt").read_text() == "untouched\n"


def test_an_experiment_never_writes_sft_rows_through_a_link(guarded, experiment):
    rows = experiment / "data" / "sft.jsonl"
    rows.unlink()
    rows.symlink_to(guarded.outside / "keep.txt")
    (experiment / "data" / "done.json").unlink()  # the data stage runs again
    guarded.mark()
    result = guarded.cli("experiment", "-o", experiment, "-c", guarded.write("recipe.toml", RECIPE))
    assert result.code == 1
    assert f"{rows} is a symbolic link; refusing to write through it" in result.error_line
    assert (guarded.outside / "keep.txt").read_text() == "untouched\n"


def test_an_experiment_stage_folder_that_is_a_link_is_refused(guarded):
    output = guarded.results / "exp"
    output.mkdir(parents=True)
    (output / "data").symlink_to(guarded.outside, target_is_directory=True)
    guarded.mark()
    result = guarded.cli("experiment", "-o", output, "-c", guarded.write("recipe.toml", RECIPE))
    assert result.code == 1 and f"{output / 'data'} is a symbolic link" in result.error_line
    assert [p.name for p in guarded.outside.iterdir()] == ["keep.txt"]


def test_a_data_output_that_is_a_link_is_refused_and_its_target_kept(guarded):
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    link = guarded.results / "sft.jsonl"
    link.symlink_to(guarded.outside / "keep.txt")
    result = guarded.cli("data", "sft", guarded.results, "-o", link)
    assert result.code == 1 and f"{link} is a symbolic link" in result.error_line
    assert (guarded.outside / "keep.txt").read_text() == "untouched\n" and link.is_symlink()
    assert json.loads(next(guarded.results.rglob("scores.json")).read_text())  # the run is as it was
