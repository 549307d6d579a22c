"""Conv lab: the lab's hand-written convolution made visible.

Three sections, one per question the lab asks: how big is the output of a convolution, does
a stack of dilation rates satisfy HDC (the M_i table and a gridding map showing which input
pixels one output pixel actually sees), and can gradient descent recover the edge kernel
[[1, -1]]. Every number comes from `engine.ops`; this screen only parses, asks and draws
(and says it is loading until the engine is in: `engine.ops` imports torch).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Footer, Static, TabbedContent, TabPane

from cnnlab_tui.engine_import import LOADING_TEXT
from cnnlab_tui.messages import EngineLoaded, WorkerAnswer
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.forms import FieldError, FormField
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.tables import ramp_colour
from engine.errors import CnnlabError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# Largest receptive field drawn as a gridding map (bigger stacks are described, not drawn).
MAX_GRIDDING_FIELD = 129
MAX_LEARN_STEPS = 5000
SIZE_FIELDS = ("size", "kernel_size", "stride", "padding", "dilation")
HDC_FIELDS = ("dilations", "hdc_kernel")
LEARN_FIELDS = ("steps", "lr", "seed")
# Smallest value each numeric field accepts (checked as typed, before asking the engine).
MINIMUMS: dict[str, float] = {
    "size": 1, "kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1,
    "hdc_kernel": 1, "steps": 1, "seed": 0,
}  # fmt: skip


HOLE_GLYPH = "·"  # an input pixel no path through the stack reaches
SEEN_GLYPHS = "░▒▓█"  # reached by few … by the most paths (denser = more)
HOLE_STYLE = "bold rgb(255,120,200)"  # pink: far from every shade of the ramp


def gridding_text(counts: np.ndarray, max_columns: int = 80, *, colour: bool = True) -> Text:
    """The gridding map, one glyph per input pixel: `·` never reached, `░▒▓█` reached by
    more and more paths through the stack — readable without colour. With `colour` the
    reached glyphs also follow a colour-blind-safe ramp and holes are pink. Each pixel is
    two columns wide (square on a terminal) when `max_columns` allows, else one."""
    size = counts.shape[0]
    peak = max(int(counts.max()), 1)
    width = 2 if 2 * size <= max_columns else 1
    text = Text(no_wrap=True, overflow="crop")
    for row_index, row in enumerate(counts):
        if row_index:
            text.append("\n")
        for value in row:
            count = int(value)
            if count == 0:
                text.append(HOLE_GLYPH * width, style=HOLE_STYLE if colour else "")
                continue
            share = count / peak
            glyph = SEEN_GLYPHS[min(len(SEEN_GLYPHS) - 1, int(share * len(SEEN_GLYPHS)))]
            text.append(glyph * width, style=ramp_colour(0.25 + 0.75 * share) if colour else "")
    return text


def gridding_legend(peak: int, *, colour: bool = True) -> Text:
    """What each glyph of the map means, named in words (the glyphs themselves shown)."""
    legend = Text()
    legend.append(HOLE_GLYPH, style=HOLE_STYLE if colour else "")
    legend.append(" never seen (a hole)   ")
    for index, glyph in enumerate(SEEN_GLYPHS):
        share = (index + 1) / len(SEEN_GLYPHS)
        legend.append(glyph, style=ramp_colour(0.25 + 0.75 * share) if colour else "")
    legend.append(f" seen by 1 … {peak} paths (denser = more)")
    return legend


def matrix_text(rows: list[list[float]], digits: int = 2) -> str:
    """A small matrix as aligned text (the edge image, its target, the learned kernel)."""
    cells = [[f"{v:.{digits}f}" if digits else f"{v:g}" for v in row] for row in rows]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


class ConvLabScreen(Screen):
    """Output size, HDC / gridding and the edge-kernel learning demo."""

    TITLE = "Conv lab"
    CSS_PATH = "../styles/conv_lab.tcss"
    _demo_intro = ""  # the lab's X and Y, shown under the demo's result once mounted
    _counts: np.ndarray | None = None  # the gridding map drawn last (redrawn on resize)
    BINDINGS = [
        Binding("ctrl+t", "next_section", "Next section"),
        Binding("ctrl+g", "learn", "Learn kernel"),
    ]

    class LearnStep(WorkerAnswer):
        """One step of the edge-kernel demo: its loss and the kernel so far."""

        def __init__(self, step: int, loss: float, kernel: list[list[float]]) -> None:
            super().__init__()
            self.step, self.loss, self.kernel = step, loss, kernel

    class Learned(WorkerAnswer):
        """The demo ended: the learned kernel and bias, or (`error`) why it stopped."""

        def __init__(
            self, kernel: list[list[float]] | None, bias: float = 0.0, error: str | None = None
        ) -> None:
            super().__init__()
            self.kernel, self.bias, self.error = kernel, bias, error

    def compose(self) -> ComposeResult:
        yield ModeBar("conv_lab")
        with TabbedContent(id="conv-tabs"):
            with TabPane("Output size", id="tab-size"), Horizontal(classes="lab-row"):
                with VerticalScroll(classes="lab-form"):
                    yield FormField("size", "input size", kind="int", value=32)
                    yield FormField("kernel_size", "kernel size", kind="int", value=3)
                    yield FormField("stride", "stride", kind="int", value=1)
                    yield FormField("padding", "padding", kind="int", value=0)
                    yield FormField("dilation", "dilation", kind="int", value=1)
                yield Static(id="size-result", classes="lab-result")
            with TabPane("HDC & gridding", id="tab-hdc"), Horizontal(classes="lab-row"):
                with VerticalScroll(classes="lab-form"):
                    yield FormField(
                        "dilations", "dilations", kind="list[int]", value=[1, 2, 5],
                        help="e.g. 1, 2, 5",
                    )  # fmt: skip
                    yield FormField("hdc_kernel", "kernel size", kind="int", value=3)
                    yield Static(id="hdc-verdict")
                    yield DataTable(id="hdc-table", cursor_type="none", zebra_stripes=True)
                with VerticalScroll(id="hdc-result", classes="lab-result"):
                    yield Static(id="gridding-caption")
                    yield Static(id="gridding-map")
            with TabPane("Edge kernel demo", id="tab-learn"), Horizontal(classes="lab-row"):
                with VerticalScroll(classes="lab-form"):
                    yield FormField("steps", "steps", kind="int", value=60)
                    yield FormField("lr", "learning rate", kind="float", value=0.01)
                    yield FormField("seed", "seed", kind="int", value=0)
                    yield Button("Learn the kernel (ctrl+g)", id="learn", variant="primary")
                    yield Static(id="learn-result")
                with Vertical(classes="lab-result"):
                    yield MetricChart("edge kernel: loss", "loss", xlabel="step", id="learn-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#hdc-table", DataTable).add_columns("layer i", "r_i", "M_i", "")
        if self.app.engine.ready:
            self._setup()
        else:
            waiting = self.app.engine.error or LOADING_TEXT
            for result in ("#size-result", "#hdc-verdict", "#learn-result"):
                self.query_one(result, Static).update(Text(waiting))

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        if message.error:
            self.query_one("#size-result", Static).update(Text(message.error))
        else:
            self._setup()

    def _setup(self) -> None:
        from engine.ops.reference import corr2d, edge_image

        self.update_size()
        self.update_hdc()
        x = edge_image()
        target = corr2d(x, x.new_tensor([[1.0, -1.0]]))
        self._demo_intro = (
            f"X (6×8 edge image):\n{matrix_text(x.tolist(), 0)}\n\n"
            f"Y = corr2d(X, [[1, -1]]):\n{matrix_text(target.tolist(), 0)}"
        )
        self.query_one("#learn-result", Static).update(self._demo_intro)

    # -- reading the forms ----------------------------------------------------------------
    def _values(self, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """Parsed values of `keys`, each bad field showing its message; None if any is bad."""
        values: dict[str, Any] = {}
        for key in keys:
            field = self.query_one(f"#field-{key}", FormField)
            try:
                value = field.parse()
                minimum = MINIMUMS.get(key)
                if minimum is not None and value < minimum:
                    raise FieldError(f"must be ≥ {minimum:g}")
                if key == "lr" and value <= 0:
                    raise FieldError("must be > 0")
                if key == "steps" and value > MAX_LEARN_STEPS:
                    raise FieldError(f"at most {MAX_LEARN_STEPS} steps")
                if key == "dilations" and (not value or min(value) < 1):
                    raise FieldError("give one or more rates, each ≥ 1")
            except FieldError as exc:
                field.set_error(str(exc))
                continue
            field.set_error(None)
            values[key] = value
        return values if len(values) == len(keys) else None

    @on(FormField.Changed)
    def _field_changed(self, event: FormField.Changed) -> None:
        key = event.field.key
        if not self.app.engine.ready:  # the fields still say what is wrong with them
            self._values((key,))
        elif key in SIZE_FIELDS:
            self.update_size()
        elif key in HDC_FIELDS:
            self.update_hdc()
        elif key in LEARN_FIELDS:
            self._values(LEARN_FIELDS)

    # -- output size ----------------------------------------------------------------------
    def update_size(self) -> None:
        """Recompute the output size from the form (or say why it cannot)."""
        from engine.ops.arithmetic import conv_output_size, effective_kernel_size

        result = self.query_one("#size-result", Static)
        v = self._values(SIZE_FIELDS)
        if v is None:
            result.update(Text("Fix the highlighted fields.", style="italic"))
            return
        try:
            out = conv_output_size(
                v["size"], v["kernel_size"], v["stride"], v["padding"], v["dilation"]
            )
            effective = effective_kernel_size(v["kernel_size"], v["dilation"])
        except CnnlabError as exc:
            result.update(Text(f"⚠ {exc}", style=self._tone("bold red")))
            return
        text = Text()
        text.append(f"output size = {out}", style=self._tone("bold green"))
        text.append(f"  ({out}×{out} from {v['size']}×{v['size']})\n\n")
        text.append(
            f"⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1\n"
            f"= ⌊({v['size']} + 2·{v['padding']} − {v['dilation']}·({v['kernel_size']} − 1)"
            f" − 1) / {v['stride']}⌋ + 1 = {out}\n\n"
        )
        text.append(f"effective kernel (k − 1)·d + 1 = {effective}\n")
        text.append(f"one output pixel sees {effective}×{effective} input pixels")
        result.update(text)

    # -- HDC and gridding -----------------------------------------------------------------
    def update_hdc(self) -> None:
        """Re-run the HDC check and redraw the M_i table and the gridding map."""
        from engine.ops.arithmetic import gridding_map, hdc_check, receptive_field

        verdict = self.query_one("#hdc-verdict", Static)
        table = self.query_one("#hdc-table", DataTable)
        caption = self.query_one("#gridding-caption", Static)
        drawing = self.query_one("#gridding-map", Static)
        table.clear()
        v = self._values(HDC_FIELDS)
        if v is None:
            verdict.update(Text("Fix the highlighted fields.", style="italic"))
            caption.update("")
            drawing.update("")
            self._counts = None
            return
        rates, k = v["dilations"], v["hdc_kernel"]
        try:
            report = hdc_check(rates, k)
            field = receptive_field([(k, 1, r) for r in rates])
        except CnnlabError as exc:
            verdict.update(Text(f"⚠ {exc}", style=self._tone("bold red")))
            return
        if report.ok:
            verdict.update(
                Text(f"✓ HDC holds for {list(rates)} with k = {k}", style=self._tone("bold green"))
            )
        else:
            verdict.update(Text("✗ " + "\n✗ ".join(report.reasons), style=self._tone("bold red")))
        for layer, rate, m in report.table():
            note = ""
            if layer == 2:
                note = f"≤ k={k} ✓" if m <= k else f"> k={k} ✗"
            table.add_row(str(layer), str(rate), str(m), note)
        if field > MAX_GRIDDING_FIELD:
            caption.update(f"receptive field {field}×{field}: too large to draw here")
            drawing.update("")
            self._counts = None
            return
        counts = gridding_map(rates, k)
        holes = int((counts == 0).sum())
        colour = not self.app.no_color
        caption.update(
            Text.assemble(
                f"receptive field {field}×{field}, ",
                (f"{holes} holes" if holes else "✓ 0 holes", "bold"),
                f" of {counts.size} pixels\n",
                gridding_legend(int(counts.max()), colour=colour),
            )
        )
        self._counts = counts
        self._draw_gridding()
        if not drawing.parent.size.width:  # not laid out yet: draw again once it is
            self.call_after_refresh(self._draw_gridding)

    def _draw_gridding(self) -> None:
        """Draw the last gridding map as wide as its panel allows (two columns a pixel,
        square, when it fits; one otherwise), so it re-flows with the terminal."""
        if self._counts is None:
            return
        drawing = self.query_one("#gridding-map", Static)
        panel = drawing.parent
        room = panel.scrollable_content_region.width if isinstance(panel, Widget) else 0
        room = room or 80
        colour = not self.app.no_color
        drawing.update(gridding_text(self._counts, max_columns=room, colour=colour))

    def _tone(self, style: str) -> Style:
        """`style` as given, or without its colours when NO_COLOR asks for none (the ✓/✗
        and the words carry the meaning)."""
        parsed = Style.parse(style)
        return parsed.without_color if self.app.no_color else parsed

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw_gridding)

    @on(TabbedContent.TabActivated, "#conv-tabs")
    def _tab_shown(self) -> None:
        # Drawn while its tab was hidden, the map had no panel to measure: draw it again.
        self.call_after_refresh(self._draw_gridding)

    # -- edge kernel demo -----------------------------------------------------------------
    def action_next_section(self) -> None:
        tabs = self.query_one("#conv-tabs", TabbedContent)
        order = ["tab-size", "tab-hdc", "tab-learn"]
        tabs.active = order[(order.index(tabs.active) + 1) % len(order)]

    @on(Button.Pressed, "#learn")
    def _learn_pressed(self) -> None:
        self.action_learn()

    def action_learn(self) -> None:
        """Start the demo in a worker thread (the UI keeps answering keys meanwhile)."""
        self.query_one("#conv-tabs", TabbedContent).active = "tab-learn"
        if not self.app.engine.ready:
            self.notify(self.app.engine.error or LOADING_TEXT, severity="warning", timeout=3)
            return
        v = self._values(LEARN_FIELDS)
        if v is None:
            self.notify("Fix the demo's fields first.", severity="warning")
            return
        self.query_one("#learn-chart", MetricChart).clear()
        self.query_one("#learn", Button).disabled = True
        self._learn(v["steps"], v["lr"], v["seed"])

    @work(thread=True, exclusive=True, group="learn")
    def _learn(self, steps: int, lr: float, seed: int) -> None:
        from engine.ops.learn import learn_kernel

        every = max(1, steps // 200)  # at most ~200 UI updates, however many steps

        def on_step(step: int, loss: float, kernel: Any) -> None:
            if step % every == 0 or step == steps:
                self.post_message(self.LearnStep(step, loss, kernel.tolist()))

        try:
            learned = learn_kernel(steps=steps, lr=lr, seed=seed, callback=on_step)
        except CnnlabError as exc:
            self.post_message(self.Learned(None, error=str(exc)))
            return
        self.post_message(self.Learned(learned.kernel.tolist(), learned.bias))

    @on(LearnStep)
    def _show_step(self, answer: LearnStep) -> None:
        if answer.superseded:
            return
        self.query_one("#learn-chart", MetricChart).append_point("loss", answer.step, answer.loss)
        self.query_one("#learn-result", Static).update(
            f"step {answer.step}: loss {answer.loss:.4g}\nK = [{matrix_text(answer.kernel)}]"
            f"\n\n{self._demo_intro}"
        )

    @on(Learned)
    def _learn_done(self, answer: Learned) -> None:
        if answer.superseded:
            return
        self.query_one("#learn", Button).disabled = False
        if answer.kernel is None:
            self.notify(answer.error or "stopped", title="Edge kernel demo", severity="error")
            return
        losses = self.query_one("#learn-chart", MetricChart).series.get("loss", ([], []))[1]
        final = f"{losses[-1]:.4g}" if losses else "?"
        self.query_one("#learn-result", Static).update(
            f"learned K = [{matrix_text(answer.kernel)}]  b = {answer.bias:.3f}\n"
            f"true    K = [ 1.00 -1.00]  b = 0\nfinal loss {final}\n\n{self._demo_intro}"
        )
