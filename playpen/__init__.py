"""Playpen: learning through conversational interaction in dialogue games."""

__version__ = "0.1.0"
