"""A person playing in the terminal: shows the messages the player has not seen yet, reads a reply.

A reply may span several lines; an empty line ends it. To send an empty reply, press Enter twice on an empty
first line. End of input (Ctrl-D) or Ctrl-C gives an error result for that request.
"""

from __future__ import annotations

from typing import Any, Callable

from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model

STYLES = {"system": "magenta", "user": "cyan", "assistant": "green"}


class HumanModel(Model):
    batched = False
    concurrent = False

    def __init__(
        self,
        settings: GenerationSettings | None = None,
        name: str = "human",
        console: Any = None,
        input_fn: Callable[[str], str] | None = None,
    ):
        super().__init__(settings)
        self.name = name
        self._console = console
        self._input = input_fn
        self._seen: dict[tuple[str, str], list[dict[str, str]]] = {}

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    def _read_line(self, prompt: str) -> str:
        if self._input is not None:
            return self._input(prompt)
        return self.console.input(prompt)

    def _read_reply(self) -> str:
        lines: list[str] = []
        while True:
            line = self._read_line("[bold]> [/bold]" if self._input is None else "> ")
            if line.strip() == "":
                if lines:
                    break
                if (
                    self._read_line(
                        "[dim](empty reply? press Enter again to send it, or type your reply)[/dim] "
                        if self._input is None
                        else ""
                    )
                    == ""
                ):
                    break
                continue
            lines.append(line)
        return "\n".join(lines)

    def _show(self, request: GenerationRequest) -> None:
        from rich.panel import Panel
        from rich.text import Text

        key = (request.episode, request.role)
        messages = list(request.messages)
        seen = self._seen.get(key, [])
        fresh = messages[len(seen) :] if messages[: len(seen)] == seen else messages
        title = " · ".join(x for x in (request.game, request.episode, request.role) if x)
        self.console.rule(f"[bold]{title or 'your turn'}[/bold]")
        for message in fresh:
            role = message.get("role", "user")
            self.console.print(
                Panel(
                    Text(message.get("content") or ""),
                    title=role,
                    title_align="left",
                    border_style=STYLES.get(role, "white"),
                )
            )
        self.console.print("[dim]Type your reply; finish with an empty line.[/dim]")

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            try:
                self._show(request)
                text = self._read_reply()
            except (EOFError, KeyboardInterrupt) as error:
                results.append(
                    GenerationResult(
                        error=f"no reply from the human player ({type(error).__name__})", error_kind="backend"
                    )
                )
                continue
            key = (request.episode, request.role)
            self._seen[key] = list(request.messages) + [{"role": "assistant", "content": text}]
            results.append(
                GenerationResult(text=text, prompt={"messages": list(request.messages)}, raw={"human": text})
            )
        return results

    def info(self) -> dict[str, Any]:
        info = super().info()
        info["backend"] = "human"
        return info
