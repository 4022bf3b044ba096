"""The board: which words are still hidden, and who uncovered which word."""

from __future__ import annotations

from typing import Any, Mapping

TEAM = "team"
OPPONENT = "opponent"
INNOCENT = "innocent"
ASSASSIN = "assassin"
#: clembench's order of the assignment lists in its board status records
ASSIGNMENTS = (TEAM, INNOCENT, OPPONENT, ASSASSIN)


class Board:
    def __init__(self, order: list[str], assignments: Mapping[str, list[str]]):
        self.order = list(order)
        self.hidden: dict[str, list[str]] = {kind: list(assignments.get(kind, [])) for kind in ASSIGNMENTS}
        self.revealed: dict[str, dict[str, list[str]]] = {
            side: {kind: [] for kind in ASSIGNMENTS} for side in (TEAM, OPPONENT)
        }

    def hidden_words(self) -> list[str]:
        """All hidden words in board order."""
        hidden = {word for words in self.hidden.values() for word in words}
        return [word for word in self.order if word in hidden]

    def assignment_of(self, word: str) -> str | None:
        for kind, words in self.hidden.items():
            if word in words:
                return kind
        return None

    def reveal(self, word: str, by: str = TEAM) -> str | None:
        """Uncover a hidden word for side ``by``; return its assignment (None if it was not hidden)."""
        kind = self.assignment_of(word)
        if kind is not None:
            self.hidden[kind].remove(word)
            self.revealed[by][kind].append(word)
        return kind

    def revealed_by(self, side: str) -> list[str]:
        return [word for words in self.revealed[side].values() for word in words]

    def status(self) -> dict[str, Any]:
        """clembench's ``board status`` record."""
        return {
            "hidden": {kind: list(words) for kind, words in self.hidden.items()},
            "revealed": {
                side: {kind: list(words) for kind, words in kinds.items()} for side, kinds in self.revealed.items()
            },
        }

    # the end conditions, in the order the game checks them
    def team_won(self) -> bool:
        return not self.hidden[TEAM]

    def opponent_won(self) -> bool:
        return not self.hidden[OPPONENT]

    def opponent_hit_assassin(self) -> bool:
        return bool(self.revealed[OPPONENT][ASSASSIN])

    def team_hit_assassin(self) -> bool:
        return bool(self.revealed[TEAM][ASSASSIN])
