"""Model backends behind one interface (:class:`playpen.models.base.Model`). Heavy libraries are
imported lazily inside the backends that need them."""

from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model
from playpen.models.registry import list_models, load_model, register_model

__all__ = ["GenerationRequest", "GenerationResult", "GenerationSettings", "Model", "list_models", "load_model",
           "register_model"]
