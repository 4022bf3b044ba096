"""`playpen --help` / `playpen list games` start-up time, and proof that neither imports torch."""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PLAYPEN = str(Path(sys.executable).with_name("playpen"))


def timed(args, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([PLAYPEN, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_modules_imported() -> list[str]:
    code = ("import sys, playpen.cli; from playpen.games import available_games; available_games(); "
            "print(','.join(m for m in ('torch', 'transformers', 'trl', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    return [m for m in out.split(",") if m]


if __name__ == "__main__":
    figures = {
        "help_s": round(timed(["--help"]), 3),
        "list_games_s": round(timed(["list", "games"]), 3),
        "heavy_modules_on_startup": heavy_modules_imported(),
    }
    print(f"playpen --help: {figures['help_s']} s, playpen list games: {figures['list_games_s']} s (median of 5); "
          f"heavy modules imported: {figures['heavy_modules_on_startup'] or 'none'}")
    print(json.dumps(figures))
