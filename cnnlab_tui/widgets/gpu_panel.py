"""The GPUs as nvitop shows them, for Live: per GPU one line of current values (utilisation,
memory, temperature, power, processes) and a sparkline of its recent utilisation — or, with
no NVIDIA GPU or no `nvidia-ml-py`, the one line saying so.

It draws the engine's telemetry as it travels (`engine.telemetry` `Snapshot.to_dict()`: the
`telemetry` request's reply and each `GpuTelemetry` event), with the same current-values
line `cnnlab engine status` prints (`engine.cli.engine_common.gpu_lines`), and Textual's own
`Sparkline` for the history. Given a `source` (a function returning such a dict, called in
a thread worker about once a second: Live asks the engine), it feeds itself; else the
screen calls `show(telemetry)`. Every snapshot it draws it also posts as `Shown`, so Live
can chart GPU memory over time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Sparkline, Static

from cnnlab_tui.messages import WorkerAnswer

NO_TELEMETRY = "no GPU telemetry yet"
POLL_SECONDS = 1.0  # the engine samples about once a second


class GpuPanel(Vertical):
    """`show(telemetry)`: a line per GPU over its utilisation sparkline, or one line."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; }
    GpuPanel Static { height: 1; }
    GpuPanel Sparkline { height: 1; margin-bottom: 1; }
    """

    class Shown(Message):
        """A telemetry snapshot was drawn (`telemetry`: its dict)."""

        def __init__(self, telemetry: dict[str, Any]) -> None:
            super().__init__()
            self.telemetry = telemetry

    class Read(WorkerAnswer):
        def __init__(self, telemetry: dict[str, Any]) -> None:
            super().__init__()
            self.telemetry = telemetry

    def __init__(self, source: Callable[[], dict[str, Any]] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.lines: list[str] = [NO_TELEMETRY]
        self._source = source

    def compose(self) -> ComposeResult:
        yield Static(NO_TELEMETRY, classes="gpu-line", markup=False)

    def on_mount(self) -> None:
        if self._source is not None:
            self.set_interval(POLL_SECONDS, self._read)
            self._read()

    @work(thread=True, exclusive=True, group="gpu-telemetry")
    def _read(self) -> None:
        assert self._source is not None
        try:
            telemetry = self._source()
        except Exception as exc:  # no engine yet, or it went away: say so, keep polling
            telemetry = {"available": False, "message": f"no GPU telemetry: {exc}"}
        self.post_message(self.Read(telemetry))

    @on(Read)
    def _got(self, answer: Read) -> None:
        if not answer.superseded:
            self.show(answer.telemetry)

    def show(self, telemetry: dict[str, Any]) -> None:
        """Draw one telemetry snapshot (a GPU that left is dropped, a new one added)."""
        from engine.cli.engine_common import gpu_lines

        self.lines = gpu_lines(telemetry)
        gpus = (telemetry.get("gpus") or []) if telemetry.get("available") else []
        history = telemetry.get("history") or {}
        rows = [(line, None) for line in self.lines] if not gpus else [
            (line, [v for v in history.get(str(gpu["index"]), []) if v is not None])
            for line, gpu in zip(self.lines, gpus, strict=True)
        ]  # fmt: skip
        self._draw(rows)
        self.post_message(self.Shown(telemetry))

    def _draw(self, rows: list[tuple[str, list[float] | None]]) -> None:
        lines = list(self.query(Static))
        sparks = list(self.query(Sparkline))
        if len(lines) != len(rows) or len(sparks) != sum(data is not None for _, data in rows):
            self.remove_children()
            widgets: list[Any] = []
            for _, data in rows:
                widgets.append(Static("", classes="gpu-line", markup=False))
                if data is not None:
                    widgets.append(Sparkline([], classes="gpu-spark"))
            self.mount_all(widgets)
            lines = [w for w in widgets if isinstance(w, Static)]
            sparks = [w for w in widgets if isinstance(w, Sparkline)]
        spark_iter = iter(sparks)
        for widget, (line, data) in zip(lines, rows, strict=True):
            widget.update(line)
            if data is not None:
                next(spark_iter).data = data or [0.0]

    @property
    def histories(self) -> list[list[float]]:
        """Each GPU's sparkline data, as drawn."""
        return [list(spark.data or []) for spark in self.query(Sparkline)]
