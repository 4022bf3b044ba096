"""The games' programmatic players as a :class:`Model`.

For each (episode, role) the game's scripted factory is called once
(``get_game(game).scripted(role, skill, experiment, instance, seed)``) and the resulting policy answers every
request of that player. ``skill="competent"`` plays well, ``skill="bad"`` makes the mistakes the game
describes (useful as a weak partner and for negative examples); a game may offer more skills
(``GameSpec.extra_skills``), such as referencegame's ``literal`` giver.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from playpen.core.messages import Policy
from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model


class ScriptedModel(Model):
    """Answers with the game's scripted player. Not named "programmatic": that name marks clembench's
    GM-side players, whose replies replay/verify skip."""

    batched = True  # any batch size is free
    concurrent = False

    #: policies kept at most (oldest episodes are forgotten first)
    max_policies = 4096

    def __init__(
        self,
        skill: str = "competent",
        seed: int = 0,
        settings: GenerationSettings | None = None,
        name: str | None = None,
    ):
        super().__init__(settings)
        from playpen.games import scripted_skills  # lazily: the games' packages

        known = scripted_skills()
        if skill not in known:
            raise ValueError(f"unknown skill '{skill}' (use one of {', '.join(known)})")
        self.skill = skill
        self.seed = seed
        self.name = name or ("scripted" if skill == "competent" else f"scripted-{skill}")
        self._policies: OrderedDict[tuple[str, str, str], Policy] = OrderedDict()
        # one model may answer several threads at once (`playpen serve` steps each session in its own thread)
        self._lock = threading.RLock()

    def policy(self, request: GenerationRequest) -> Policy:
        with self._lock:
            return self._policy(request)

    def _policy(self, request: GenerationRequest) -> Policy:
        key = (request.game, request.episode, request.role)
        policy = self._policies.get(key)
        if policy is None:
            from playpen.games import get_game  # lazily: games are imported only when played

            spec = get_game(request.game)
            if self.skill not in spec.skills:
                raise ValueError(f"{request.game} has no scripted '{self.skill}' player "
                                 f"(its skills: {', '.join(spec.skills)})")
            policy = spec.scripted(
                request.role, self.skill, request.experiment or {}, request.instance or {}, self.seed
            )
            self._policies[key] = policy
            while len(self._policies) > self.max_policies:
                self._policies.popitem(last=False)
        else:
            self._policies.move_to_end(key)
        return policy

    def forget(self, episode: str) -> None:
        """Drop the policies of a finished episode."""
        with self._lock:
            for key in [k for k in self._policies if k[1] == episode]:
                del self._policies[key]

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            if not request.game:
                results.append(
                    GenerationResult(
                        error="the scripted model needs request.game and request.role", error_kind="backend"
                    )
                )
                continue
            try:
                text = self.policy(request)(list(request.messages))
            except Exception as error:  # a broken policy errors this episode only
                results.append(
                    GenerationResult(
                        error=f"scripted {request.game}/{request.role} ({self.skill}) failed: "
                        f"{type(error).__name__}: {error}",
                        error_kind="backend",
                    )
                )
                continue
            text = "" if text is None else str(text)
            results.append(
                GenerationResult(
                    text=text,
                    prompt={"messages": list(request.messages)},
                    raw={"scripted": self.skill, "response": text},
                )
            )
        return results

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update({"backend": "scripted", "skill": self.skill, "seed": self.seed})
        return info
