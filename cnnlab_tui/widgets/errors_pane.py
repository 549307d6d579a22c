"""Run detail's Errors tab: the run's misclassified test images, worst first, each drawn as
image | Grad-CAM in half blocks with its PNG path, then the first layer's filters and one
image's feature maps — what `cnnlab explain` writes into the run. `x` (or the button)
explains the run again in a background thread; failures are notifications."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label

from cnnlab_tui.widgets.image_view import ImageView
from cnnlab_tui.widgets.use_support import failure_text, to_ui

SHOWN = 12  # gallery pictures drawn (the run folder keeps the PNGs)


def explanation_heading(index: dict[str, Any]) -> str:
    """'7 of 106 test images misclassified (93.4 %) · most common: square → circle (4)'."""
    if index.get("task") != "classify":
        return f"worst-restored test images (mean PSNR {index.get('mean_psnr', 0):.2f} dB)"
    text = (
        f"{index.get('errors')} of {index.get('num_test')} test images misclassified "
        f"(accuracy {100 * float(index.get('accuracy') or 0):.1f} %)"
    )
    if index.get("epoch"):
        text += f" · {index.get('checkpoint')} checkpoint, epoch {index['epoch']}"
    confusions = index.get("confusions") or []
    if confusions:
        top = ", ".join(f"{c['true']} → {c['predicted']} ({c['count']})" for c in confusions[:3])
        text += f" · most common: {top}"
    return text


def picture_caption(entry: dict[str, Any]) -> str:
    if "true" in entry:
        return (
            f"#{entry['rank']} {entry['true']} → {entry['predicted']} "
            f"({100 * entry['confidence']:.0f} %) · {entry.get('name', '')}"
        )
    return f"#{entry['rank']} PSNR {entry['psnr']:.2f} dB · {entry.get('name', '')}"


class ErrorsPane(Vertical):
    """Shows `<run>/explain/` for one run and (re)makes it on request."""

    DEFAULT_CSS = """
    ErrorsPane #errors-bar { height: 3; }
    ErrorsPane #errors-status { width: 1fr; padding: 1 1 0 1; }
    ErrorsPane #errors-gallery Label { padding: 0 1; margin-top: 1; }
    ErrorsPane ImageView { height: 8; padding: 0 1; }
    ErrorsPane ImageView.wide { height: 10; }
    """
    BINDINGS = [Binding("x", "explain", "Explain errors")]

    def __init__(self, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.index: dict[str, Any] | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="errors-bar"):
            yield Label("No explanation yet.", id="errors-status")
            yield Button("Explain (x)", id="explain-button", variant="primary")
        yield VerticalScroll(id="errors-gallery")

    def on_mount(self) -> None:
        self.reload()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "explain-button":
            event.stop()
            self.action_explain()

    # -- reading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="errors-read")
    def reload(self) -> None:
        """Read the saved explanation (off the UI thread) and draw it."""
        from engine.use.records import read_explanation

        try:
            run_dir = self.app.store.resolve(self.run_id)
        except Exception as exc:  # the run vanished: the title already says so
            to_ui(self, self._status, f"⚠ {failure_text(exc)}")
            return
        to_ui(self, self._show, read_explanation(run_dir), run_dir)

    def _status(self, text: str) -> None:
        self.query_one("#errors-status", Label).update(Text(text))

    def _show(self, index: dict[str, Any] | None, run_dir: Path) -> None:
        self.index = index
        gallery = self.query_one("#errors-gallery", VerticalScroll)
        gallery.remove_children()
        if index is None:
            self._status(
                "No explanation yet: press x to find the misclassified test images "
                "and where the net looked (Grad-CAM)."
            )
            return
        self._status(explanation_heading(index))
        widgets: list[Any] = []
        for entry in index.get("images", [])[:SHOWN]:
            path = run_dir / entry["picture"]
            widgets.append(Label(Text.assemble((picture_caption(entry), "bold"), f"\n{path}")))
            widgets.append(ImageView(path, classes="error-picture"))
        if index.get("filters"):
            path = run_dir / index["filters"]
            widgets.append(
                Label(Text.assemble(("first conv layer's filters", "bold"), f"\n{path}"))
            )
            widgets.append(ImageView(path, classes="filters"))
        for entry in index.get("feature_maps", []):
            path = run_dir / entry["picture"]
            title = f"feature maps after {entry['block']} ({index.get('feature_image')})"
            widgets.append(Label(Text.assemble((title, "bold"), f"\n{path}")))
            widgets.append(ImageView(path, classes="feature-maps wide"))
        if widgets:
            gallery.mount(*widgets)

    # -- explaining ------------------------------------------------------------------------
    def action_explain(self) -> None:
        if self.busy:
            self.notify("Already explaining this run.", severity="warning")
            return
        self.busy = True
        self._status("explaining: loading the run…")
        self._explain()

    @work(thread=True, exclusive=True, group="errors-explain")
    def _explain(self) -> None:
        from engine.use.explain import explain_run
        from engine.use.loading import load_run
        from engine.use.run_folder import writable_run_dir

        try:
            run_dir = writable_run_dir(self.app.store, self.run_id)
            loaded = load_run(run_dir, checkpoint="last")

            def progress(done: int, total: int, message: str) -> None:
                to_ui(self, self._status, f"explaining: {message} ({done}/{total})")

            explain_run(loaded, progress=progress)
        except Exception as exc:  # every failure becomes a notification
            to_ui(self, self._failed, failure_text(exc))
            return
        to_ui(self, self._explained)

    def _failed(self, message: str) -> None:
        self.busy = False
        self._status(f"⚠ {message}")
        self.notify(message, title="Explain", severity="error")

    def _explained(self) -> None:
        self.busy = False
        self.notify("Explained: the gallery shows the test errors, worst first.", title="Explain")
        self.reload()
