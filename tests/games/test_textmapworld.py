"""textmapworld, textmapworld_graphreasoning, textmapworld_specificroom: rules, parsing, scores, players,
instances and fidelity against recorded clembench v2.0 episodes."""

from __future__ import annotations

import json
import math
import random
from collections import deque

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_scores
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.games.textmapworld import GAMES
from playpen.games.textmapworld.generate import EXPERIMENTS, SPLIT_SIZES, generate_game
from playpen.games.textmapworld.maps import RoomMap, STEP, literal
from playpen.games.textmapworld.similarity import build_graph, edit_distance, report_similarity

MAIN, GRAPH, TARGET = "textmapworld", "textmapworld_graphreasoning", "textmapworld_specificroom"
ALL = (MAIN, GRAPH, TARGET)

# Kitchen (0,0) -east- Hallway (1,0) -east- Attic (2,0); Hallway -north- Bedroom (1,1)
HOUSE = {
    "game_id": 0,
    "Graph_Nodes": "['Kitchen', 'Hallway', 'Bedroom', 'Attic']",
    "Graph_Edges": "[('Kitchen', 'Hallway'), ('Hallway', 'Bedroom'), ('Hallway', 'Attic')]",
    "Current_Position": "Kitchen",
    "Directions": "[('Kitchen', ['east']), ('Hallway', ['west', 'north', 'east']), ('Bedroom', ['south']), ('Attic', ['west'])]",
    "Moves": (
        "[{'node': 'Kitchen', 'node_moves': [('east', 'Hallway')]}, "
        "{'node': 'Hallway', 'node_moves': [('west', 'Kitchen'), ('north', 'Bedroom'), ('east', 'Attic')]}, "
        "{'node': 'Bedroom', 'node_moves': [('south', 'Hallway')]}, "
        "{'node': 'Attic', 'node_moves': [('west', 'Hallway')]}]"
    ),
    "Mapping": "{(0, 0): 'Kitchen', (1, 0): 'Hallway', (1, 1): 'Bedroom', (2, 0): 'Attic'}",
    "Cycle": "cycle_false",
    "Ambiguity": None,
    "Game_Type": "named_graph",
}
TARGET_HOUSE = {**HOUSE, "Specific_Room": "Attic", "Specific_Room_Distance": "2"}
TOUR = ["GO: east", "GO: north", "GO: south", "GO: east"]


def play(game: str, replies: list[str], instance: dict | None = None, experiment: dict | None = None):
    instance = instance or (TARGET_HOUSE if game == TARGET else HOUSE)
    master = GAMES[game].new_episode(experiment or {"name": "small"}, instance)
    for reply in replies:
        assert not master.done, f"episode ended before {reply!r}"
        master.step(reply)
    return master


def episode(master) -> dict:
    return master.scores()["episode scores"]


def as_dict(action: str, nodes=(), edges=None) -> str:
    edges = edges or {"north": [], "south": [], "east": [], "west": []}
    return json.dumps({"action": action, "graph": {"nodes": list(nodes), "edges": edges}})


# ---------------------------------------------------------------------------------------------- prompts
def test_first_message_has_rules_start_room_and_directions():
    master = play(MAIN, [])
    [message] = master.messages_for()
    assert "GO: DIRECTION" in message["content"] and "DONE" in message["content"]
    assert message["content"].endswith(
        "You are in the Kitchen. Available directions: east. What is your next command?"
    )
    assert master.current_role == "PathGuesser"


def test_room_descriptions_after_valid_and_blocked_moves():
    master = play(MAIN, ["GO: east"])
    assert master.messages_for()[-1]["content"] == (
        "You are now in the Hallway. Available directions: west, north, east. What is your next command?"
    )
    master.step("GO: south")
    assert master.messages_for()[-1]["content"].startswith("You cannot go that way. You are still in the Hallway.")
    assert not master.done and master.position == "Hallway"
    describer = [e for r in master.rounds for e in r if e["from"] == "Player 2"]
    assert len(describer) == 2


def test_specificroom_prompt_names_the_target():
    content = play(TARGET, []).messages_for()[0]["content"]
    assert "The target room is the Attic. You are in the Kitchen." in content


# ---------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("reply", ["GO: east", "go: EAST", "GO:east", "GO:\neast", "  GO: east\n", "GO:   east"])
def test_move_format_accepted(reply):
    master = play(MAIN, [reply])
    assert not master.done and master.position == "Hallway"


@pytest.mark.parametrize("reply", ["DONE", "done", "Done\n"])
def test_done_format_accepted(reply):
    assert play(MAIN, [reply]).outcome.status is Status.LOSE


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "go east",
        "GO: east.",
        "GO: up",
        "GO: east\nDONE",
        "DONE.",
        "Sure! GO: east",
        "GO: east<|end_of_text|>",  # as recorded from a base model: aborted in clembench too
        "GO: east\nYou are now in the Hallway.",
        '{"action": "GO: east", "graph": {"nodes": [], "edges": {}}}',
    ],
)
def test_anything_else_aborts(reply):
    master = play(MAIN, [reply])
    assert master.outcome.status is Status.ABORTED
    scores = episode(master)
    assert scores["Aborted"] == 1 and math.isnan(scores["Main Score"])
    assert scores["Violated Request Count"] == 1 and scores["Request Count"] == 1
    assert math.isnan(scores["moves"]) and math.isnan(scores["efficiency"])


# ---------------------------------------------------------------------------------------------- scores (main)
def test_optimal_tour_scores_100():
    master = play(MAIN, TOUR + ["DONE"])
    scores = episode(master)
    assert master.outcome.status is Status.SUCCESS
    assert master.good_moves == [True, True, True, True]
    assert scores["Main Score"] == 100 and scores["Success"] == 1 and scores["Lose"] == 0
    assert scores["moves"] == scores["valid_moves"] == 4 and scores["invalid_moves"] == 0
    assert scores["stopped"] == 1 and scores["turns_limit"] == 0
    assert scores["number_visited"] == 4 and scores["seen"] == 4
    assert scores["efficiency"] == 100 and scores["exploration"] == 100
    assert scores["Request Count"] == 5 and scores["Violated Request Count"] == 0
    turns = master.scores()["turn scores"]
    assert [turns[str(i)].get("effiencient_move") for i in range(5)] == [True, True, True, True, None]


def test_detour_lowers_efficiency():
    # back to the Kitchen is not the start of any shortest walk over the frontier (Bedroom, Attic)
    master = play(MAIN, ["GO: east", "GO: west", "GO: east", "GO: north", "GO: south", "GO: east", "DONE"])
    scores = episode(master)
    assert master.good_moves == [True, False, True, True, True, True]
    assert scores["efficiency"] == pytest.approx(500 / 6)
    assert scores["Main Score"] == pytest.approx(2 * (500 / 6) * 100 / (500 / 6 + 100))  # 90.91
    assert scores["Success"] == 1


def test_moves_after_everything_is_visited_are_not_good():
    master = play(MAIN, TOUR + ["GO: west", "DONE"])
    assert master.good_moves == [True, True, True, True, False]
    assert episode(master)["Main Score"] == pytest.approx(2 * 80 * 100 / 180)  # 88.89


def test_stopping_early_loses_with_partial_score():
    scores = episode(play(MAIN, ["GO: east", "DONE"]))
    assert scores["Lose"] == 1 and scores["Success"] == 0 and scores["Aborted"] == 0
    assert scores["exploration"] == 50 and scores["efficiency"] == 100
    assert scores["Main Score"] == pytest.approx(2 * 100 * 50 / 150)  # 66.67
    assert scores["seen"] == 4 and scores["number_visited"] == 2


def test_done_at_once_scores_zero():
    scores = episode(play(MAIN, ["DONE"]))
    assert scores["Main Score"] == 0 and scores["Lose"] == 1 and scores["moves"] == 0 and scores["efficiency"] == 0


def test_blocked_moves_count_as_rounds_but_not_as_moves():
    master = play(MAIN, ["GO: north", "GO: east", "GO: south", "DONE"])
    scores = episode(master)
    assert len(master.rounds) == 4 and scores["moves"] == 1 and scores["invalid_moves"] == 0
    assert [e["action"]["type"] for e in master.rounds[0] if e["from"] == "GM" and e["to"] == "GM"] == [
        "parse", "direction not available"
    ]


def test_twenty_rounds_without_done_abort():
    master = play(MAIN, ["GO: east", "GO: west"] * 10)
    assert master.outcome.status is Status.ABORTED and len(master.rounds) == 20
    scores = episode(master)
    assert scores["Aborted"] == 1 and math.isnan(scores["Main Score"]) and math.isnan(scores["loops"])
    assert scores["Violated Request Count"] == 0  # no format error: the limit aborts
    assert master.rounds[-1][-1]["action"]["type"] == "turns_limit"
    assert len(master.scores()["turn scores"]) == 20


def test_done_in_the_twentieth_round_counts():
    master = play(MAIN, ["GO: north"] * 19 + ["DONE"])
    assert master.outcome.status is Status.LOSE and episode(master)["Main Score"] == 0


def test_loops_count_every_window_of_four_rooms_with_fewer_than_three_rooms():
    # Kitchen Hallway Kitchen Hallway Kitchen: windows [K H K H], [H K H K] -> 2 loops
    scores = episode(play(MAIN, ["GO: east", "GO: west", "GO: east", "GO: west", "DONE"]))
    assert scores["loops"] == 2


def test_events_mirror_clembench_records():
    master = play(MAIN, ["GO: east", "DONE"])
    types = [e["action"]["type"] for r in master.rounds for e in r]
    assert types == [
        "send message", "get message", "parse", "room description", "move",
        "send message", "get message", "parse", "stop",
    ]
    move = next(e for e in master.rounds[0] if e["action"]["type"] == "move")
    assert json.loads(move["action"]["content"]) == {"old": "Kitchen", "new": "Hallway"}
    assert master.responses == ["GO: east", "DONE"]


# ---------------------------------------------------------------------------------------------- specificroom
def test_specificroom_success_in_target():
    master = play(TARGET, ["GO: east", "GO: east", "DONE"])
    scores = episode(master)
    assert master.outcome.status is Status.SUCCESS and scores["Main Score"] == 100
    assert scores["exploration"] == 75 and scores["old_benchscore"] == pytest.approx(2 * 100 * 75 / 175)


def test_specificroom_done_elsewhere_loses():
    scores = episode(play(TARGET, ["GO: east", "DONE"]))
    assert scores["Lose"] == 1 and scores["Main Score"] == 0


def test_specificroom_target_match_ignores_case():
    master = play(TARGET, ["DONE"], {**TARGET_HOUSE, "Specific_Room": "kitchen"})
    assert episode(master)["Main Score"] == 100


def test_specificroom_without_done_aborts():
    master = play(TARGET, ["GO: east", "GO: east"] + ["GO: west", "GO: east"] * 9)
    assert episode(master)["Aborted"] == 1 and math.isnan(episode(master)["old_benchscore"])


def test_specificroom_loop_window_restarts_after_each_loop():
    # K H K H: loop, window cleared; K H K H: the second loop needs four fresh rooms
    replies = ["GO: east", "GO: west", "GO: east", "GO: west", "GO: east", "GO: west", "GO: east", "DONE"]
    assert episode(play(TARGET, replies))["loops"] == 2
    assert episode(play(MAIN, replies))["loops"] == 5  # every window from the fourth room on


# ---------------------------------------------------------------------------------------------- graphreasoning
def test_graphreasoning_tour_with_maps():
    full = {"north": [("Hallway", "Bedroom")], "south": [], "east": [("Kitchen", "Hallway"), ("Hallway", "Attic")], "west": []}
    replies = [as_dict(r, ["Kitchen", "Hallway", "Bedroom", "Attic"], full) for r in TOUR] + [as_dict("DONE")]
    master = play(GRAPH, replies)
    scores = episode(master)
    assert master.outcome.status is Status.SUCCESS and scores["Main Score"] == 100
    # the map sent with the last move counts, not the one sent with DONE
    assert scores["graph_similarity"] == 100
    assert sum(1 for r in master.rounds for e in r if e["action"]["type"] == "graph") == 4


def test_graph_similarity_uses_sigmoid_of_edit_distance():
    partial = {"north": [], "south": [], "east": [("Kitchen", "Hallway")], "west": []}
    replies = [as_dict("GO: east", ["Kitchen", "Hallway"], partial), as_dict("DONE")]
    scores = episode(play(GRAPH, replies))
    # truth: 4 nodes, 3 edges; report: 2 nodes, 1 edge -> GED 4
    assert scores["graph_similarity"] == pytest.approx(100 * (1 - 2 * (1 / (1 + math.exp(-2)) - 0.5)))


def test_graph_similarity_zero_without_maps_or_with_malformed_map():
    assert episode(play(GRAPH, [as_dict("DONE")]))["graph_similarity"] == 0
    bad_nodes = '{"action": "GO: east", "graph": {"nodes": [1, 2], "edges": {}}}'
    assert episode(play(GRAPH, [bad_nodes, as_dict("DONE")]))["graph_similarity"] == 0


def test_graphreasoning_accepts_tuples_and_line_breaks():
    reply = '{"action": "GO: east",\n "graph": {"nodes": ["Kitchen"],\n "edges": {"east": [("Kitchen", "Hallway")]}}}'
    master = play(GRAPH, [reply])
    assert master.position == "Hallway" and not master.done
    # the nodes must be a list: the reply regex asks for "nodes": [...]
    assert play(GRAPH, [reply.replace('["Kitchen"]', '("Kitchen",)')]).outcome.status is Status.ABORTED


@pytest.mark.parametrize(
    "reply",
    [
        "GO: east",
        '{"action": "GO: east"}',
        '{"action": "GO: east", "graph": {"nodes": [], "edges": {}}} and more',
        '{"action": "GO east", "graph": {"nodes": [], "edges": {}}}',
        '{"action": "GO: east", "graph": {"nodes": [true], "edges": {}}}',  # JSON, not a Python literal
        '{"action": "GO: east", "graph": {"nodes": [x], "edges": {}}}',
    ],
)
def test_graphreasoning_bad_lines_abort(reply):
    assert play(GRAPH, [reply]).outcome.status is Status.ABORTED


def test_graphreasoning_done_is_not_evaluated():
    # clembench only evaluates the dictionary of moves; a DONE line with a JSON literal still stops
    master = play(GRAPH, ['{"action": "DONE", "graph": {"nodes": [null], "edges": {}}}'])
    assert master.outcome.status is Status.LOSE


def test_graphreasoning_capitalised_direction_is_blocked_as_in_clembench():
    master = play(GRAPH, [as_dict("GO: East")])
    assert master.position == "Kitchen" and not master.done
    fixed = play(GRAPH, [as_dict("GO: East")], experiment={"name": "small", "playpen_fix_direction_case": True})
    assert fixed.position == "Hallway"


# ---------------------------------------------------------------------------------------------- measures
def naive_good_steps(room_map: RoomMap, current: str, visited: set[str]) -> set[str]:
    """The scorer's definition, walk by walk (slow, for comparison)."""
    frontier = {n for v in visited for n in room_map.neighbours[v]} - visited
    queue, found, limit = deque([[current]]), set(), 100
    while queue:
        walk = queue.popleft()
        if len(walk) > limit:
            break
        if len(walk) > 1 and frontier <= set(walk):
            found.add(walk[1])
            limit = len(walk)
        around = room_map.neighbours[walk[-1]]
        for room in sorted(around if around <= set(walk) else around - set(walk)):
            queue.append(walk + [room])
    return found


def test_good_steps_equal_walk_by_walk_search():
    rng = random.Random(0)
    instances = [i for e in generate_game(MAIN, 7)["validation"]["experiments"] for i in e["game_instances"]]
    for instance in instances:
        room_map = RoomMap.from_instance(instance)
        for _ in range(4):
            walk = [room_map.start]
            for _ in range(rng.randrange(4)):
                walk.append(rng.choice(sorted(room_map.neighbours[walk[-1]])))
            visited = set(walk)
            assert room_map.good_first_steps(walk[-1], visited) == naive_good_steps(room_map, walk[-1], visited)


def test_edit_distance_equals_networkx():
    rng = random.Random(1)
    for _ in range(12):
        graphs = []
        for _ in range(2):
            nodes = [f"r{i}" for i in range(rng.randrange(0, 5))]
            # no self-loops: networkx lets a self-loop stand in for any edge at its node (documented)
            pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:] if rng.random() < 0.4]
            graphs.append(build_graph(nodes, pairs))
        nx_graphs = []
        for nodes, edges in graphs:
            g = nx.Graph()
            g.add_nodes_from(nodes)
            g.add_edges_from((tuple(e) * 2)[:2] for e in edges)
            nx_graphs.append(g)
        assert edit_distance(*graphs) == nx.graph_edit_distance(*nx_graphs)


def test_similarity_of_a_huge_report_is_bounded_and_fast():
    truth = build_graph(*[literal(HOUSE[k]) for k in ("Graph_Nodes", "Graph_Edges")])
    nodes = [f"room {i}" for i in range(300)]
    report = {"nodes": nodes, "edges": {"north": [(nodes[i], nodes[(i * 7) % 300]) for i in range(300)]}}
    assert 0 <= report_similarity(truth, str(report)) < 1


# ---------------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize("game", ALL)
def test_check_game(game):
    report = check_game(GAMES[game], episodes=20)
    assert report.episodes == 60


@pytest.mark.parametrize("game", ALL)
@settings(max_examples=25, deadline=None)
@given(
    replies=st.lists(
        st.one_of(st.text(max_size=60), st.sampled_from(["GO: north", "GO: south", "GO: east", "GO: west", "DONE"])),
        max_size=25,
    )
)
def test_any_replies_end_in_a_defined_outcome(game, replies):
    spec = GAMES[game]
    row = next(iter_rows(game, load_instances(spec.instances_file("validation"))))
    master = spec.new_episode(row.experiment, row.instance)
    if game == GRAPH:
        replies = [r if i % 2 else as_dict(r) for i, r in enumerate(replies)]
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    player = spec.scripted(spec.roles[0], "competent", row.experiment, row.instance, 0)
    while not master.done:
        master.step(player(master.messages_for()))
    assert master.current_round < 20
    check_scores(master)


# ---------------------------------------------------------------------------------------------- players
def outcomes(game: str, skill: str) -> list[Status]:
    spec = GAMES[game]
    result = []
    for index, row in enumerate(iter_rows(game, load_instances(spec.instances_file("validation")))):
        master = spec.new_episode(row.experiment, row.instance)
        player = spec.scripted(spec.roles[0], skill, row.experiment, row.instance, index)
        while not master.done:
            master.step(player(master.messages_for()))
        result.append(master.outcome.status)
    return result


@pytest.mark.parametrize("game", ALL)
def test_competent_explorer_wins(game):
    statuses = outcomes(game, "competent")
    assert statuses.count(Status.SUCCESS) / len(statuses) >= 0.9


@pytest.mark.parametrize("game", ALL)
def test_bad_explorer_mostly_fails(game):
    statuses = outcomes(game, "bad")
    assert statuses.count(Status.SUCCESS) / len(statuses) <= 0.2


def test_scripted_players_are_deterministic():
    spec = GAMES[GRAPH]
    row = next(iter_rows(GRAPH, load_instances(spec.instances_file("validation"))))
    for skill in ("competent", "bad"):
        runs = []
        for _ in range(2):
            master = spec.new_episode(row.experiment, row.instance)
            player = spec.scripted(spec.roles[0], skill, row.experiment, row.instance, 5)
            while not master.done:
                master.step(player(master.messages_for()))
            runs.append(master.responses)
        assert runs[0] == runs[1]


# ---------------------------------------------------------------------------------------------- instances
@pytest.mark.parametrize("game", ALL)
def test_generated_instances(game):
    splits = generate_game(game, 3)
    assert splits == generate_game(game, 3)
    layouts: dict[str, set] = {}
    for split, data in splits.items():
        assert [e["name"] for e in data["experiments"]] == [e[0] for e in EXPERIMENTS[game]]
        layouts[split] = set()
        for experiment, (_, rooms, cycle, distances) in zip(data["experiments"], EXPERIMENTS[game]):
            assert len(experiment["game_instances"]) == SPLIT_SIZES[split]
            for instance in experiment["game_instances"]:
                room_map = RoomMap.from_instance(instance)
                cells = {room: cell for cell, room in literal(instance["Mapping"]).items()}
                assert len(room_map.nodes) == len(set(room_map.nodes)) == rooms
                assert len(room_map.edges) == rooms - 1 + cycle
                for room, exits in room_map.exits.items():  # doors agree with the grid
                    assert room_map.directions[room] == list(exits)
                    for direction, other in exits.items():
                        (x, y), (dx, dy) = cells[room], STEP[direction]
                        assert cells[other] == (x + dx, y + dy)
                if distances:
                    assert int(instance["Specific_Room_Distance"]) in distances
                    lengths = nx.single_source_shortest_path_length(nx.Graph(room_map.edges), room_map.start)
                    assert lengths[instance["Specific_Room"]] == int(instance["Specific_Room_Distance"])
                x0, y0 = min(x for x, _ in cells.values()), min(y for _, y in cells.values())
                cell = {room: (x - x0, y - y0) for room, (x, y) in cells.items()}
                shape = frozenset(frozenset((cell[u], cell[v])) for u, v in room_map.edges)
                layouts[split].add((shape, cell[room_map.start]))
    assert not layouts["train"] & layouts["test"] and not layouts["validation"] & layouts["test"]


@pytest.mark.parametrize("game", ALL)
def test_committed_instances_are_the_generated_ones(game):
    for split, data in generate_game(game).items():
        assert load_instances(GAMES[game].instances_file(split)) == json.loads(json.dumps(data))


# ---------------------------------------------------------------------------------------------- fidelity
OFFICIAL_TEXTS = {
    "Prompt": "Find $GOAL$. Start: $INITIAL_ROOM$ ($INITIAL_DIRECTIONS$).",
    "Player2_positive_answer": "Entered $ANOTHER_ROOM$; exits: $DIRECTIONS$.",
    "Player2_negative_answer": "Blocked, still in $SAME_ROOM$; exits: $DIRECTIONS$.",
}


def test_an_official_instance_s_texts_are_filled_in_as_clembench_does():
    master = play(TARGET, [], {**TARGET_HOUSE, **OFFICIAL_TEXTS})
    assert master.messages_for() == [{"role": "user", "content": "Find Attic. Start: Kitchen (east)."}]
    play_on = [("GO: north", "Blocked, still in Kitchen; exits: east."),
               ("GO: east", "Entered Hallway; exits: west, north, east.")]
    for reply, answer in play_on:
        master.step(reply)
        assert master.messages_for()[-1]["content"] == answer
    # an unnamed graph's answers name no room; $GOAL$ stays for the games without a goal
    master = play(MAIN, ["GO: east"], {**HOUSE, **OFFICIAL_TEXTS, "Game_Type": "unnamed_graph"})
    assert master.history_of["PathGuesser"][0]["content"] == "Find $GOAL$. Start: Kitchen (east)."
    assert master.messages_for()[-1]["content"] == "Entered $ANOTHER_ROOM$; exits: west, north, east."


OFFICIAL = {MAIN: "textmapworld_main", GRAPH: "textmapworld_graphreasoning", TARGET: "textmapworld_specificroom"}


@pytest.mark.parametrize("game", ALL)
def test_official_instances_load_and_play(game, clembench_instances):
    spec = GAMES[game]
    path = clembench_instances / "textmapworld" / OFFICIAL[game] / "in" / "instances.json"
    rows = list(iter_rows(game, load_instances(path)))
    assert len(rows) == {MAIN: 50, GRAPH: 30, TARGET: 30}[game]
    for index, row in enumerate(rows):
        master = spec.new_episode(row.experiment, row.instance)
        player = spec.scripted(spec.roles[0], "competent", row.experiment, row.instance, index)
        while not master.done:
            master.step(player(master.messages_for()))
        assert master.outcome.status is Status.SUCCESS
        # clembench's prompt, filled in
        first = master.history_of["PathGuesser"][0]["content"]
        assert first.startswith("Please help me") and "$" not in first


@pytest.mark.parametrize("run", ["llama3-8b-base", "tulu3-8b"])
def test_verify_agrees_with_recorded_episodes(run, fixtures_dir):
    from playpen.eval.verify import verify

    checks = verify(fixtures_dir / "clembench-runs" / run, set(ALL))
    counts = {game: sum(1 for c in checks if c.game == game) for game in ALL}
    assert counts == {MAIN: 10, GRAPH: 6, TARGET: 6}
    assert [(c.path, c.reason) for c in checks if c.status != "agree"] == []


def test_recorded_move_scores_and_metrics_match(fixtures_dir):
    """Beyond verify: every recorded per-move flag and every recorded episode metric."""
    from playpen.results.records import episodes, recorded_replies

    recorded_episodes = list(episodes(fixtures_dir / "clembench-runs", set(ALL)))
    assert len(recorded_episodes) == 44
    for record in recorded_episodes:
        path = record.path
        master = GAMES[record.game].new_episode(record.experiment, record.instance)
        for reply in recorded_replies(record.interactions):
            if not master.done:
                master.step(reply)
        recorded = record.scores
        flags = [v["effiencient_move"] for _, v in sorted(recorded["turn scores"].items(), key=lambda kv: int(kv[0]))]
        assert master.good_moves == flags, path
        ours = episode(master)
        for name, value in recorded["episode scores"].items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(ours[name]), (path, name)
            else:
                assert ours[name] == pytest.approx(value), (path, name)
