"""The option fields of one model, generated from its engine `OptionSpec`s.

Switching models rebuilds the fields; what was typed is remembered per model, so trying
another model and coming back never loses a carefully typed dilation list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.containers import Vertical

from cnnlab_tui.widgets.forms import FieldError, FormField

OPTION_PREFIX = "option-"  # form keys (and ids: #field-option-<name>) of model options


def option_kind(spec: Any) -> str:
    """The form kind for a model OptionSpec (int, float, list[int], choice)."""
    return spec.kind if spec.kind in ("int", "float", "list[int]", "choice") else "str"


class ModelOptions(Vertical):
    """Form fields for the options of the model shown (`show`), parsed by the engine."""

    DEFAULT_CSS = "ModelOptions { height: auto; }"

    def __init__(
        self,
        *,
        parser_for: Callable[[Any], Callable[[str], Any]] | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
    ) -> None:
        """`parser_for(spec)`: how a field of that option reads its text (the New run form
        gives the engine's parser); by default the option spec's own `parse`."""
        super().__init__(id=id)
        self._parser_for = parser_for or (lambda spec: spec.parse)
        self._memory: dict[str, dict[str, Any]] = {}
        self.shown_model: str | None = None
        self._building = False

    @property
    def ready(self) -> bool:
        """True once a model's fields are mounted, and not while they are being rebuilt."""
        return self.shown_model is not None and not self._building

    def fields(self) -> list[FormField]:
        return list(self.query(FormField))

    def remember(self) -> None:
        """Keep what is typed for the model shown, for when it is shown again (text that
        does not parse as one value — a sweep list such as `[4,8], [8,16]` — is kept as
        typed)."""
        if self.shown_model is None:
            return
        memory: dict[str, Any] = {}
        for field in self.fields():
            name = field.key.removeprefix(OPTION_PREFIX)
            try:
                memory[name] = field.parse()
            except FieldError:
                memory[name] = field.text
        self._memory[self.shown_model] = memory

    def preset(self, model: str, options: dict[str, Any]) -> None:
        """Use `options` the next time `model` is shown (loading a config)."""
        self._memory[model] = dict(options)

    def forget(self) -> None:
        self._memory.clear()

    async def show(self, model: str) -> Any:
        """Rebuild the fields for `model`; returns its ModelInfo (ModelError if unknown)."""
        from engine.models import get_model_info

        info = get_model_info(model)
        self._building = True
        try:
            await self.remove_children()
            typed = self._memory.get(model, {})
            await self.mount_all(
                FormField(
                    OPTION_PREFIX + spec.name,
                    spec.name,
                    kind=option_kind(spec),
                    value=typed.get(spec.name, info.options.get(spec.name)),
                    choices=spec.choices,
                    help=f"{spec.help} [{spec.describe()}]",
                    parser=self._parser_for(spec),
                )
                for spec in info.option_specs
            )
            self.shown_model = model
        finally:
            self._building = False
        return info
