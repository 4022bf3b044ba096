"""HTML transcripts: one self-contained page per episode, a chat view of the interactions.

Everything a model (or an instance file) wrote is HTML-escaped; nothing from the records is ever
interpreted as markup.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any, Mapping

from playpen.core import metrics

OUTCOME_COLOURS = {"success": "#1a7f37", "lose": "#9a6700", "aborted": "#cf222e"}
PLAYER_COLOURS = ("#e3f2fd", "#fff3e0", "#e8f5e9", "#f3e5f5", "#fce4ec", "#e0f7fa")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; background: #f5f6f8; margin: 0; color: #222; }
main { max-width: 920px; margin: 0 auto; padding: 24px 16px 64px; }
header { background: #fff; border-radius: 10px; padding: 16px 20px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { font-size: 1.25rem; margin: 0 0 6px; }
.sub { color: #555; font-size: .9rem; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: .85rem; }
.success { background: #c8e6c9; color: #1b5e20; } .lose { background: #ffe0b2; color: #e65100; }
.aborted { background: #ffcdd2; color: #b71c1c; } .running { background: #eee; }
.round { margin-top: 22px; } .round h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .08em;
  color: #888; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.msg { max-width: 78%; margin: 8px 0; padding: 10px 14px; border-radius: 12px; white-space: pre-wrap;
  word-wrap: break-word; overflow-wrap: anywhere; box-shadow: 0 1px 2px rgba(0,0,0,.06); font-size: .93rem; }
.msg .who { display: block; font-size: .72rem; color: #666; margin-bottom: 4px; font-weight: 600; }
.to-player { background: #fff; border: 1px solid #e2e2e2; }
.from-player { margin-left: auto; }
.note { text-align: center; color: #666; font-size: .8rem; margin: 6px auto; max-width: 85%;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.note b { color: #444; }
table { border-collapse: collapse; margin-top: 8px; background: #fff; font-size: .85rem; }
td, th { border: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; }
details { margin-top: 24px; }
"""


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=1)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:g}"
    return escape(str(value))


def render_transcript(interactions: Mapping[str, Any], scores: Mapping[str, Any] | None = None) -> str:
    meta = interactions.get("meta", {})
    players = interactions.get("players", {})
    outcome = interactions.get("outcome", {})
    status = outcome.get("status", "running")
    colour = {name: PLAYER_COLOURS[i % len(PLAYER_COLOURS)] for i, name in enumerate(n for n in players if n != "GM")}

    def label(name: str) -> str:
        info = players.get(name, {})
        role = info.get("game_role", "")
        model = info.get("model_name", "")
        if name == "GM":
            return "Game Master"
        return f"{name} · {role} ({model})" if role else name

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(str(meta.get('game_name', '')))} · {escape(str(meta.get('experiment_name', '')))}"
        f" · episode {escape(str(meta.get('game_id', '')))}</title>",
        f"<style>{STYLE}</style></head><body><main><header>",
        f"<h1>{escape(str(meta.get('game_name', '')))} — {escape(str(meta.get('experiment_name', '')))},"
        f" instance {escape(str(meta.get('game_id', '')))}</h1>",
        f"<div class='sub'>run <b>{escape(str(meta.get('results_folder', '')))}</b> · "
        + " · ".join(escape(label(n)) for n in players if n != "GM")
        + "</div>",
        f"<p><span class='badge {escape(status)}'>{escape(status)}</span> "
        f"<span class='sub'>{escape(str(outcome.get('reason', '')))}</span></p>",
        "</header>",
    ]
    for index, events in enumerate(interactions.get("turns", [])):
        parts.append(f"<section class='round'><h2>Round {index + 1}</h2>")
        for event in events:
            sender, receiver = event.get("from", ""), event.get("to", "")
            action = event.get("action", {})
            content = escape(_text(action.get("content", "")))
            if sender == "GM" and receiver == "GM":
                parts.append(f"<div class='note'><b>{escape(str(action.get('type', '')))}</b>: {content}</div>")
            elif sender == "GM":
                parts.append(
                    f"<div class='msg to-player'><span class='who'>Game Master → {escape(label(receiver))}</span>"
                    f"{content}</div>"
                )
            else:
                parts.append(
                    f"<div class='msg from-player' style='background:{colour.get(sender, '#eee')}'>"
                    f"<span class='who'>{escape(label(sender))} → {escape(label(receiver))}</span>{content}</div>"
                )
        parts.append("</section>")
    if scores:
        episode = scores.get(metrics.EPISODE_SCORES_KEY, {})
        rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{_number(v)}</td></tr>" for k, v in episode.items())
        parts.append(f"<details open><summary>Episode scores</summary><table>{rows}</table></details>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def outcome_link(entry: tuple[Path, str] | None, root: Path) -> str:
    """An episode's outcome, coloured and linked to its transcript (relative to the page in ``root``); "–"
    for an episode that is not there (``entry`` as ``records.episode_outcomes`` gives it)."""
    if entry is None:
        return "–"
    path, outcome = entry
    colour = OUTCOME_COLOURS.get(outcome, "#666")
    return f"<a href='{escape(path.relative_to(root).as_posix())}' style='color:{colour}'>{escape(outcome)}</a>"
