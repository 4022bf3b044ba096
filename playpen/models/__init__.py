"""Model backends behind one interface (:class:`playpen.models.base.Model`). Heavy libraries are
imported lazily inside the backends that need them."""

from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model

__all__ = ["GenerationRequest", "GenerationResult", "GenerationSettings", "Model"]
