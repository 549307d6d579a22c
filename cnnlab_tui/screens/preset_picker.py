"""A modal list of the engine's presets (the lab's experiments): enter loads, escape closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class PresetPicker(ModalScreen[str | None]):
    """Pick one of the engine's presets (the lab's experiments); enter loads it."""

    DEFAULT_CSS = """
    PresetPicker { align: center middle; }
    PresetPicker > #preset-dialog {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $accent 80%; background: $surface; padding: 0 1;
    }
    PresetPicker #preset-title { text-style: bold; margin-bottom: 1; }
    PresetPicker #preset-list { height: auto; max-height: 20; }
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, presets: list[tuple[str, str]]) -> None:
        super().__init__()
        self._presets = presets

    def compose(self) -> ComposeResult:
        with Vertical(id="preset-dialog"):
            yield Static("Load a preset  (enter: load · esc: close)", id="preset-title")
            yield OptionList(
                *[Option(f"[b]{name}[/b]  {desc}", id=name) for name, desc in self._presets],
                id="preset-list",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
