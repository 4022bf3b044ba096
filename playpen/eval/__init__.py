"""Scores -> clemscore tables and reports; replay-based verification against clembench records."""
