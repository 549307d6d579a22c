"""Run detail's Predict tab: type an image file or folder, press enter, and the run
classifies it (a table of top classes with probabilities) or dehazes it (the outputs drawn,
written into `<run>/predictions/<time>/` at the inputs' sizes). Exactly the run's
preprocessing, best checkpoint; the model loads in a background thread and stays loaded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label

from cnnlab_tui.widgets.image_view import ImageView
from cnnlab_tui.widgets.tables import fill_table
from cnnlab_tui.widgets.use_support import failure_text, to_ui

PREDICTIONS_DIR = "predictions"
DRAWN = 4  # dehazed outputs drawn (all are listed)


class PredictPane(Vertical):
    """A path field, a status line, and what the run made of the images."""

    DEFAULT_CSS = """
    PredictPane #predict-path { margin: 0 1; }
    PredictPane #predict-status { padding: 0 1; height: auto; max-height: 4; }
    PredictPane #predict-table { height: 1fr; }
    PredictPane #predict-images { height: 1fr; }
    PredictPane #predict-images Label { padding: 0 1; }
    PredictPane ImageView { height: 8; padding: 0 1; }
    """

    def __init__(self, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.loaded: Any = None
        self.result: Any = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="an image file or a folder of images, then enter", id="predict-path"
        )
        yield Label("Predict with this run: type a path and press enter.", id="predict-status")
        yield DataTable(id="predict-table", cursor_type="row", zebra_stripes=True)
        yield VerticalScroll(id="predict-images")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "predict-path":
            return
        event.stop()
        path = event.value.strip()
        if not path:
            self.notify("Type an image file or a folder first.", severity="warning")
            return
        if self.busy:
            self.notify("Still predicting the last path.", severity="warning")
            return
        self.busy = True
        self._status(f"predicting {path}…")
        self._predict(path)

    def _status(self, text: str) -> None:
        self.query_one("#predict-status", Label).update(Text(text))

    @work(thread=True, exclusive=True, group="predict")
    def _predict(self, path: str) -> None:
        from engine.use.loading import load_run
        from engine.use.predict import predict

        try:
            if self.loaded is None:
                to_ui(self, self._status, "loading the run's best checkpoint…")
                self.loaded = load_run(self.app.store.resolve(self.run_id), checkpoint="best")
            out_dir = None
            if self.loaded.task == "dehaze":
                stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
                out_dir = self.loaded.run_dir / PREDICTIONS_DIR / stamp

            def progress(done: int, total: int) -> None:
                to_ui(self, self._status, f"predicting {path}: {done}/{total} images")

            result = predict(
                self.loaded, [Path(path).expanduser()], out_dir=out_dir, progress=progress
            )
        except Exception as exc:  # every failure becomes a notification
            to_ui(self, self._failed, failure_text(exc))
            return
        to_ui(self, self._show, result)

    def _failed(self, message: str) -> None:
        self.busy = False
        self._status(f"⚠ {message}")
        self.notify(message, title="Predict", severity="error")

    def _show(self, result: Any) -> None:
        self.busy = False
        self.result = result
        made = len(result.predictions) + len(result.dehazed)
        lines = [f"{made} image(s) · {result.run} · inputs: {result.preprocessing}"]
        lines += [f"skipped {path}: {reason}" for path, reason in result.skipped[:3]]
        if len(result.skipped) > 3:
            lines.append(f"… and {len(result.skipped) - 3} more skipped")
        lines += [f"note: {note}" for note in dict.fromkeys(result.notes)]
        self._status("\n".join(lines))
        if not made:
            self.notify("No usable image at that path.", title="Predict", severity="warning")
        table = self.query_one("#predict-table", DataTable)
        images = self.query_one("#predict-images", VerticalScroll)
        images.remove_children()
        table.display = bool(result.predictions)
        images.display = bool(result.dehazed)
        if result.predictions:
            width = len(result.predictions[0].top)
            headers = ["image", "class", *[f"#{k}" for k in range(2, width + 1)]]
            rows = [
                [Path(p.path).name, *[f"{name} {100 * q:.1f} %" for name, q in p.top]]
                for p in result.predictions
            ]
            fill_table(table, headers, rows)
        widgets: list[Any] = []
        for item in result.dehazed:
            widgets.append(Label(f"{item.source} → {item.output} ({item.width}×{item.height})"))
            if len(widgets) <= 2 * DRAWN:
                widgets.append(ImageView(item.output))
        if widgets:
            images.mount(*widgets)
