"""dond (clembench v3.0, "deal or no deal"): two players split a set of items; each has secret values for the item
types. They talk for at most ``max_turns`` rounds, then each submits a secret proposal of the items it takes.

The prompts come from the experiment (its ``initial_prompt`` with ``$N$``, ``$ITEMS$`` and ``$VALUE_FUNCTION$`` filled
in, ``proposal_early``, ``proposal_timeout``), so an official instance file plays with clembench's texts. v3.0's rules:

* a reply holding ``[...]`` (on one line) is a proposal: after lower-casing it must start with the language's prefix
  (``proposal:``, ``vorschlag:``, ``proposta:``; ``javaslat:`` for the Hungarian files) followed by comma-separated ``<number> <item>`` pairs, each item
  type at most once; an item is matched by its singular or plural name, else by its Snowball stem; anything else is
  a parse error, which aborts the episode;
* any other reply is a message, relayed to the partner (the partner of the second player also gets
  ``proposal_timeout`` after the last allowed round);
* a message after a proposal of either player, or in round ``max_turns``, and a proposal of more items than there
  are, abort the episode;
* when both have proposed, the proposals fit together (Success) or not (Lose).

Scores: :mod:`playpen.games.dond.scoring`.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from playpen.core.errors import GameError, ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.dond import scoring

#: the proposal prefix per language: clembench v3.0 plays en, de and it; its Hungarian files (whose prompts ask for
#: "[Javaslat: ...]") would crash it, and play here with that prefix and NLTK's Hungarian stemmer
PREFIXES = {"en": "proposal:", "de": "vorschlag:", "it": "proposta:", "hu": "javaslat:"}
_STEMMER_LANGUAGES = {"en": "english", "de": "german", "it": "italian", "hu": "hungarian"}
_PROPOSAL = re.compile(r"\[(.*?)\]")
_NO_REPLY = "<no response from the other player>"


def stemmer(language: str) -> Callable[[str], str]:
    """The Snowball stemmer clembench uses (NLTK's): English is our own exact copy (taboo's); the other languages come
    from NLTK when it is installed (the ``reference`` extra), else items match by their exact names only."""
    if language == "en":
        from playpen.games.taboo.stemmer import stem

        return stem
    try:
        from nltk.stem.snowball import SnowballStemmer
    except ImportError:
        return lambda word: word
    return SnowballStemmer(_STEMMER_LANGUAGES[language]).stem


def format_items(counts: list[int], types: list[str], plurals: list[str]) -> str:
    return ", ".join(f"{count} {single if count == 1 else plural}" for count, single, plural in zip(counts, types, plurals))


def format_values(values: list[int], types: list[str]) -> str:
    return ", ".join(f"{kind}: {value}" for value, kind in zip(values, types))


def match_type(count: int, name: str, types: list[str], plurals: list[str], stem: Callable[[str], str]) -> str | None:
    """The item type ``name`` names: the expected number's form first, then the other, then by stem (None when no
    type or more than one matches the stem)."""
    forms = (types, plurals) if count == 1 else (plurals, types)
    for words in forms:
        found = [i for i, word in enumerate(words) if word == name]
        if len(found) == 1:
            return types[found[0]]
    for words in forms:
        found = [i for i, word in enumerate(words) if stem(word) == stem(name)]
        if len(found) == 1:
            return types[found[0]]
        if len(found) > 1:
            return None
    return None


class DondMaster(GameMaster):
    name = "dond"
    roles = ("Player 1", "Player 2")
    role_labels = {"Player 1": "DealOrNoDealPlayer", "Player 2": "DealOrNoDealPlayer"}

    def setup(self) -> None:
        exp, inst = self.experiment, self.instance
        self.mode: str = exp["mode"]
        self.language: str = exp["language"]
        self.max_turns: int = exp["max_turns"]
        self.types, self.plurals = inst["item_types"], inst["item_types_plural"]
        self.counts = inst["item_counts"]
        self.stem = stemmer(self.language)
        template = exp["initial_prompt"].replace("$N$", str(self.max_turns)).replace(
            "$ITEMS$", format_items(self.counts, self.types, self.plurals))
        first, second = self.roles
        self.set_context(first, template.replace("$VALUE_FUNCTION$", format_values(inst["player_a_values"], self.types)))
        self.set_initial_prompt(second, template.replace("$VALUE_FUNCTION$", format_values(inst["player_b_values"], self.types)))
        self.proposals: dict[str, list[int] | None] = {role: None for role in self.roles}

    def _other(self, role: str) -> str:
        return self.roles[1 - self.roles.index(role)]

    # ------------------------------------------------------------------ replies
    def parse(self, role: str, response: str) -> str | list[int]:
        found = _PROPOSAL.search(response)
        if not found:
            self.log_event("valid response", "continue")
            return response
        prefix = PREFIXES[self.language]
        text = found.group(1).strip().lower()
        if not text.startswith(prefix):
            raise ParseError(f'proposal does not start with "{prefix}"', response)
        text = text[len(prefix):].strip()
        if text.endswith(","):
            text = text[:-1].strip()
        counts = [0] * len(self.types)
        seen = [False] * len(self.types)
        for part in text.split(",") if text else ():
            words = part.strip().split()
            if len(words) != 2 or not words[0].isnumeric() or not words[0].isdecimal():
                # clembench checks isnumeric(); a numeric non-decimal ('²') would crash its int(): refused here
                raise ParseError("proposal does not include number/name pairs", response)
            count = int(words[0])
            kind = match_type(count, words[1], self.types, self.plurals, self.stem)
            if kind is None:
                raise ParseError("proposal must include only valid item types", response)
            index = self.types.index(kind)
            if seen[index]:
                raise ParseError("proposal must include every item type only once", response)
            seen[index] = True
            counts[index] += count
        self.log_event("valid response", "proposal")
        return counts

    def advance(self, role: str, move: str | list[int]) -> None:
        other = self._other(role)
        if isinstance(move, str):
            if self.current_round == self.max_turns or any(p is not None for p in self.proposals.values()):
                raise GameError("player was instructed to make a proposal", move)
            self.log_event("valid message", move)
            relayed = move
            if role == self.roles[1] and self.current_round == self.max_turns - 1:
                relayed = f"{move}\n\n\n{self.experiment['proposal_timeout']}"
            # clembench sets nothing for the first player when the second one sends only whitespace (its context
            # goes to the wrong player): the placeholder goes to the right one here
            self.set_context(other, relayed if relayed.strip() else _NO_REPLY)
            return
        if any(taken > count for taken, count in zip(move, self.counts)):
            raise GameError("proposal includes more items than available", str(move))
        self.log_event("valid proposal", move)
        self.proposals[role] = move
        self.set_context(other, self.experiment["proposal_early"])
        proposal_a, proposal_b = (self.proposals[r] for r in self.roles)
        if proposal_a is None or proposal_b is None:
            return
        if any(a + b > count for a, b, count in zip(proposal_a, proposal_b, self.counts)):
            self.log_event("failed agreement", [proposal_a, proposal_b])
            self.lose("the proposals ask for more items than there are")
        else:
            self.log_event("successful agreement", [proposal_a, proposal_b])
            self.succeed("the proposals fit together")

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event("invalid format", error.reason)
        self.abort(error.reason)

    def on_game_error(self, role: str, error: GameError) -> None:
        self.log_event("error", error.reason)
        self.abort(error.reason)

    # ------------------------------------------------------------------ scores
    def _keys(self) -> dict[str, Any]:
        first, second = self.roles
        return scoring.outcome_keys(self.mode, self.instance, self.outcome.status is Status.SUCCESS,
                                    self.proposals[first], self.proposals[second])

    def main_score(self) -> float:
        return 100 * self._keys()["episode_score"]

    def episode_metrics(self) -> dict[str, Any]:
        if self.outcome.status is Status.ABORTED:
            return {}
        keys = self._keys()
        best = keys["max_sum_of_scores"]
        return {"Sum of Points": keys["sum_of_scores"] / best if best else float("nan"),
                "Pareto Optimal": keys["pareto_optimal"]}

    def record_keys(self) -> dict[str, Any]:
        flags = self.outcome_flags()
        return {"Aborted": int(flags["Aborted"]), "Lose": int(flags["Lose"]), "Success": int(flags["Success"]),
                **self._keys()}
