"""`playpen --help` / `playpen list games` start-up time, proof that neither imports torch, and how fast a
misspelt training setting is refused (on the command line, in a recipe's [grpo] table)."""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAYPEN = str(Path(sys.executable).with_name("playpen"))


def timed(args, runs=5, code=0):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([PLAYPEN, *args], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        assert done.returncode == code, done.stderr
    return statistics.median(times)


def heavy_modules_imported() -> list[str]:
    code = ("import sys, playpen.cli; from playpen.games import available_games; available_games(); "
            "print(','.join(m for m in ('torch', 'transformers', 'trl', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    return [m for m in out.split(",") if m]


if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp())
    recipe = folder / "recipe.toml"
    recipe.write_text("[grpo]\ntemprature = 0.7\n")
    figures = {
        "help_s": round(timed(["--help"]), 3),
        "list_games_s": round(timed(["list", "games"]), 3),
        "heavy_modules_on_startup": heavy_modules_imported(),
        "misspelt_cli_setting_s": round(timed(["train", "grpo", "-m", "x", "-o", str(folder / "run"),
                                               "--temprature", "0.7"], code=2), 3),
        "misspelt_recipe_setting_s": round(timed(["experiment", "-o", str(folder / "exp"), "-c", str(recipe)],
                                                 code=1), 3),
    }
    assert not (folder / "run").exists() and not (folder / "exp").exists()
    print(f"playpen --help: {figures['help_s']} s, playpen list games: {figures['list_games_s']} s (median of 5); "
          f"heavy modules imported: {figures['heavy_modules_on_startup'] or 'none'}")
    print(f"misspelt setting refused: on the command line in {figures['misspelt_cli_setting_s']} s, in a recipe in "
          f"{figures['misspelt_recipe_setting_s']} s")
    print(json.dumps(figures))
