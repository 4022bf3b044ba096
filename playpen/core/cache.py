"""Playpen's cache folder (converted models, tokenizer data built from installed packages)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$PLAYPEN_CACHE`` or ``~/.cache/playpen``."""
    env = os.environ.get("PLAYPEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "playpen"
