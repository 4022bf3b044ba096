"""Tools to test and measure Playpen itself, not used by a run: a small OpenAI-compatible server
(``python -m playpen.testing.server``) and the rollout throughput benchmark behind ``playpen bench rollout``."""
