"""The one look of Playpen's reports (``playpen eval``'s ``results.html``, the experiment's ``report.html``, the
demo's report, the training curves): a page with the shared style, PNG charts drawn off-screen and embedded in
it. (Transcripts have their own: ``results.transcript``.)"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

#: the style every report shares; a page adds its own rules after it
STYLE = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:24px auto;padding:0 16px;color:#222}\n"
         "table{border-collapse:collapse;margin:12px 0 28px;font-size:14px}"
         "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\nth{background:#f3f4f6}")


def page(title: str, body: str, style: str = "") -> str:
    """A whole HTML document: ``title``, the shared style followed by ``style``, and ``body`` (HTML)."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>\n'
            f"<style>{STYLE}{style}</style></head><body>\n{body}</body></html>")


def embedded_png(png: bytes, alt: str) -> str:
    """An ``<img>`` holding ``png`` itself (a report is one file)."""
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{escape(alt)}">'


def pyplot() -> Any:
    """matplotlib's ``pyplot``, drawing off-screen (imported on first use: it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_of(figure: Any, dpi: int = 100) -> bytes:
    """``figure`` as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(figure)
    return buffer.getvalue()
