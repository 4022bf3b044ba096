import json

import pytest

from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows, load_instances


def test_rows_carry_clembench_folder_names(tmp_path):
    path = tmp_path / "i.json"
    path.write_text(json.dumps({"experiments": [
        {"name": "a", "k": 1, "game_instances": [{"game_id": 3}, {"game_id": 9}]},
        {"name": "b", "game_instances": [{"game_id": 0}]}]}))
    rows = list(iter_rows("g", load_instances(path)))
    assert [r.key for r in rows] == ["g/0_a/episode_0", "g/0_a/episode_1", "g/1_b/episode_0"]
    assert rows[1].instance == {"game_id": 9} and rows[0].experiment == {"name": "a", "k": 1}
    assert [r.key for r in iter_rows("g", load_instances(path), {"b"})] == ["g/1_b/episode_0"]


@pytest.mark.parametrize("content, message", [
    ("{", "not valid JSON"),
    ("[]", "not an instances file"),
    ('{"experiments": []}', "empty"),
    ('{"experiments": [{"game_instances": []}]}', "has no 'name'"),
    ('{"experiments": [{"name": "x"}]}', "no 'game_instances'"),
    ('{"experiments": [{"name": "x", "game_instances": [{}]}]}', "without 'game_id'"),
])
def test_invalid_instance_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PlaypenError, match=message):
        load_instances(path)


def test_missing_instance_file(tmp_path):
    with pytest.raises(PlaypenError, match="not found"):
        load_instances(tmp_path / "nope.json")
