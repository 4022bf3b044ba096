"""The themed word lists behind instance generation and the scripted players (``resources/themes.txt``).

A theme is a group of words that one clue word points to ("fruit" -> apple, lemon, ...). The generator draws
boards from pools built out of the themes; the scripted cluegiver and guesser share the themes as their
clue -> words convention, so their play goes through the messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources


@dataclass(frozen=True, eq=False)  # compared by identity: cheap to hash
class Theme:
    kind: str  # "concrete" | "abstract"
    category: str | None  # label for the association experiments, e.g. "a fruit"
    clues: tuple[str, ...]
    words: tuple[str, ...]

    @cached_property
    def members(self) -> frozenset[str]:
        return frozenset(self.words)


@dataclass(frozen=True)
class Lexicon:
    themes: tuple[Theme, ...]
    ambiguous: frozenset[str]
    #: broad unions of themes ("animal"), used only by the scripted players
    groups: tuple[Theme, ...] = ()

    @property
    def words(self) -> list[str]:
        """Every themed word once, in file order."""
        return list(dict.fromkeys(w for theme in self.themes for w in theme.words))

    @cached_property
    def _themes_by_clue(self) -> dict[str, list[Theme]]:
        index: dict[str, list[Theme]] = {}
        for theme in self.themes + self.groups:
            for clue in theme.clues:
                index.setdefault(clue, []).append(theme)
        return index

    @cached_property
    def _themes_by_word(self) -> dict[str, list[Theme]]:
        index: dict[str, list[Theme]] = {}
        for theme in self.themes + self.groups:
            for word in theme.words:
                index.setdefault(word, []).append(theme)
        return index

    def themes_with(self, word: str) -> list[Theme]:
        """The themes and groups that ``word`` belongs to."""
        return self._themes_by_word.get(word, [])

    def themes_for_clue(self, clue: str) -> list[Theme]:
        return self._themes_by_clue.get(clue, [])

    def theme_count(self, word: str) -> int:
        return sum(word in theme.words for theme in self.themes)


def parse_lexicon(text: str) -> Lexicon:
    themes: list[Theme] = []
    groups: list[Theme] = []
    ambiguous: frozenset[str] = frozenset()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("|")]
        if fields[0] == "ambiguous" and len(fields) == 2:
            ambiguous = frozenset(fields[1].split())
        elif fields[0] in ("concrete", "abstract") and len(fields) == 4:
            kind, category, clues, words = fields
            themes.append(
                Theme(kind, None if category == "-" else category, tuple(clues.split()), tuple(words.split()))
            )
        elif fields[0] == "group" and len(fields) == 3:
            by_first_clue = {theme.clues[0]: theme for theme in themes}
            try:
                joined = [by_first_clue[key] for key in fields[2].split()]
            except KeyError as error:
                raise ValueError(f"themes.txt line {number}: no theme has the first clue {error}") from None
            words = tuple(dict.fromkeys(word for theme in joined for word in theme.words))
            groups.append(Theme(joined[0].kind, None, tuple(fields[1].split()), words))
        else:
            raise ValueError(f"themes.txt line {number}: cannot read {raw!r}")
    return Lexicon(tuple(themes), ambiguous, tuple(groups))


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    text = resources.files(__package__).joinpath("resources/themes.txt").read_text(encoding="utf-8")
    return parse_lexicon(text)
