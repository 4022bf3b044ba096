"""matchit_ascii prompts (our own wording; the flags ``DESCRIPTION:``, ``QUESTION:``, ``ANSWER:``,
``DECISION:`` and the two verdicts come from the experiment, as in clembench).

An official experiment carries clembench's texts (``initial_prompt`` with ``$GRID$``, ``desc_intro``,
``q_reprompt``, ``a_request``, ``d_reprompt``); each one it carries replaces ours."""

from __future__ import annotations

from string import Template
from typing import Any, Mapping

from playpen.games.official import fill, official_text

_INITIAL = Template("""\
Let's play a matching game. Each of us has a grid of 5 by 5 cells, and every cell holds either "X" or \
"▢" (empty). Neither of us can see the other's grid. Together we want to find out whether our two grids \
are identical.
First we both describe our grids, then we take turns asking each other questions, and at the end each of \
us decides on their own.
Please describe your grid now, briefly. Start your reply with "$description" and add nothing else.
Your grid:
$grid""")

_DESCRIPTION_RELAY = Template("Here is my grid description. $text")
_QUESTION_REQUEST = Template(
    'Now ask me one question that could reveal a difference between our grids. '
    'Start with "$question" and add nothing else.'
)
_ANSWER_REQUEST = Template(' Please answer, starting with "$answer", and add nothing else.')
_DECISION_REQUEST = Template(
    'Time to decide: are your grid and mine the same? Reply "$decision $same" if you think they are '
    'identical, or "$decision $different" if you think they differ, and add nothing else.'
)


class Prompts:
    """The texts of one episode, built from the experiment's flags and verdicts."""

    def __init__(self, flags: Mapping[str, str], same_verdict: str, different_verdict: str,
                 experiment: Mapping[str, Any]):
        self.flags = flags
        self.official = {key: official_text(experiment, key)
                         for key in ("initial_prompt", "desc_intro", "q_reprompt", "a_request", "d_reprompt")}
        self.question_request = self._either("q_reprompt", _QUESTION_REQUEST.substitute(question=flags["question"]))
        self.answer_request = self._either("a_request", _ANSWER_REQUEST.substitute(answer=flags["answer"]))
        self.decision_request = self._either("d_reprompt", _DECISION_REQUEST.substitute(
            decision=flags["decision"], same=same_verdict, different=different_verdict
        ))

    def _either(self, key: str, ours: str) -> str:
        official = self.official[key]
        return ours if official is None else official

    def initial(self, grid: str) -> str:
        official = self.official["initial_prompt"]
        if official is not None:
            return fill(official, {"$GRID$": grid})
        return _INITIAL.substitute(description=self.flags["description"], grid=grid.strip())

    def description_relay(self, description: str) -> str:
        intro = self.official["desc_intro"]
        return _DESCRIPTION_RELAY.substitute(text=description) if intro is None else intro + description

    def question_relay(self, lead: str, question: str) -> str:
        """What the asked player sees: the asker's last statement, its question and the answer request."""
        return f"{lead}\n{question}{self.answer_request}"
