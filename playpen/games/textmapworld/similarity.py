"""graphreasoning's ``graph_similarity``: how close the explorer's reported map is to the true house.

clembench builds two networkx graphs with lower-cased room names and takes ``nx.graph_edit_distance``
with default costs: inserting or deleting a node or an edge costs 1, substituting is free (names do not
count, only the shape). It normalises the distance d to ``2 * (sigmoid(0.5 * d) - 0.5)`` and reports
``100 * (1 - normalised)``.

networkx's exact search takes seconds to minutes on 8-room maps, so the distance is computed here from an
equivalent formulation: with free substitution an optimal edit path maps every node of the smaller graph
onto a distinct node of the larger one, so

    GED = |n1 - n2| + m1 + m2 - 2 * (most edges the two graphs can share under such a mapping).

The shared-edge maximum is found by a deterministic branch and bound. Past ``SEARCH_BUDGET`` assignments
it stops and uses the best mapping found so far (then the distance is an upper bound); replies the game
accepts (an 8-room house against a map of a few dozen rooms) finish far below that budget.
"""

from __future__ import annotations

import ast
import math
from typing import Any, Iterable

SEARCH_BUDGET = 50_000

Graph = tuple[frozenset[str], frozenset[frozenset[str]]]


def build_graph(nodes: Iterable[Any], edges: Iterable[Any]) -> Graph:
    """clembench's graph: lower-cased names, undirected, an edge's end points join the nodes."""
    node_set = {item.lower() for item in nodes}
    edge_set = set()
    for item in edges:
        a, b = item[0].lower(), item[1].lower()
        node_set.update((a, b))
        edge_set.add(frozenset((a, b)))
    return frozenset(node_set), frozenset(edge_set)


def reported_graph(report: Any) -> Graph:
    """The graph a graphreasoning explorer reported: ``{"nodes": [...], "edges": {direction: [pairs]}}``."""
    return build_graph(report["nodes"], [pair for pairs in report["edges"].values() for pair in pairs])


def edit_distance(first: Graph, second: Graph, budget: int = SEARCH_BUDGET) -> int:
    small, large = sorted((first, second), key=lambda graph: len(graph[0]))
    shared = _most_shared_edges(small, large, budget)
    return len(large[0]) - len(small[0]) + len(first[1]) + len(second[1]) - 2 * shared


def normalise(distance: float) -> float:
    return 2 * (1 / (1 + math.exp(-0.5 * distance)) - 0.5)


def similarity(first: Graph, second: Graph) -> float:
    return 100 * (1 - normalise(edit_distance(first, second)))


def report_similarity(truth: Graph, report_text: str | None) -> float:
    """Similarity to the map logged with the last move; 0 when there is none or it is malformed (as clembench)."""
    if report_text is None:
        return 0
    try:
        return similarity(truth, reported_graph(ast.literal_eval(report_text)))
    except Exception:  # any malformed report scores 0, as in clembench
        return 0


def _adjacency(graph: Graph) -> dict[str, set[str]]:
    around: dict[str, set[str]] = {node: set() for node in graph[0]}
    for edge in graph[1]:
        a, b = (tuple(edge) * 2)[:2]  # a self-loop is a one-element set
        around[a].add(b)
        around[b].add(a)
    return around


def _most_shared_edges(small: Graph, large: Graph, budget: int) -> int:
    small_adj, large_adj = _adjacency(small), _adjacency(large)
    ceiling = min(len(small[1]), len(large[1]))
    # place well-connected nodes first, each next to already placed ones where possible
    order: list[str] = []
    remaining = sorted(small_adj, key=lambda n: (-len(small_adj[n]), n))
    while remaining:
        placed = set(order)
        remaining.sort(key=lambda n: (-len(small_adj[n] & placed), -len(small_adj[n]), n))
        order.append(remaining.pop(0))
    position = {node: i for i, node in enumerate(order)}
    # edges of each node to nodes placed before it (self-loops included)
    earlier = [[m for m in small_adj[node] if position[m] <= position[node]] for node in order]
    undecided_after = [sum(len(e) for e in earlier[i + 1:]) for i in range(len(order))]
    candidates = sorted(large_adj, key=lambda n: (-len(large_adj[n]), n))
    isolated = [n for n in candidates if not large_adj[n]]
    connected = [n for n in candidates if large_adj[n]]
    best = 0
    steps = 0
    mapping: dict[str, str] = {}
    used: set[str] = set()

    def place(i: int, shared: int) -> None:
        nonlocal best, steps
        if i == len(order):
            best = max(best, shared)
            return
        node = order[i]
        # isolated nodes of the large graph are interchangeable: try one of them only
        spare = next((n for n in isolated if n not in used), None)
        for target in connected + ([spare] if spare is not None else []):
            if target in used:
                continue
            if best >= ceiling or steps >= budget:
                return
            steps += 1
            gain = sum(1 for m in earlier[i] if (target if m == node else mapping[m]) in large_adj[target])
            if shared + gain + undecided_after[i] <= best:
                continue
            mapping[node] = target
            used.add(target)
            place(i + 1, shared + gain)
            used.discard(target)
            del mapping[node]

    place(0, 0)
    return best
