"""Results folders in clembench's layout, atomic writes, resume, HTML transcripts."""

from playpen.results.store import ResultsStore, atomic_write_json, read_json, run_dir_name

__all__ = ["ResultsStore", "atomic_write_json", "read_json", "run_dir_name"]
