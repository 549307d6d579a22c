"""Helpers for the dashboard's Pilot tests: waiting with a deadline, tiny configs, filling
the New run form. Real background engines for them are in `tui_engine`."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

TINY_SHAPES = {
    "dataset": "shapes",
    "image_size": 16,
    "model": "conv",
    "model_options": {"widths": [4, 8]},
    "epochs": 2,
    "batch_size": 32,
    "device": "cpu",
}


def async_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an `async def` test with asyncio (no pytest async plugin needed); fixtures and
    parametrize still work because the wrapper keeps the test's signature."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def wait_for(
    pilot: Pilot, predicate: Callable[[], bool], *, timeout: float = 60.0, what: str = ""
) -> None:
    """Let the app run until `predicate()` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        await pilot.pause(0.05)


def record_notifications(app: Any) -> list[tuple[str, str]]:
    """Record every (message, severity) `app.notify` is called with, from now on."""
    seen: list[tuple[str, str]] = []
    notify = app.notify

    def recording(message: str, *args: Any, severity: str = "information", **kw: Any) -> None:
        seen.append((str(message), severity))
        notify(message, *args, severity=severity, **kw)

    app.notify = recording
    return seen


def tiny_config(data_root: Path | None = None, **overrides: Any) -> dict[str, Any]:
    config = dict(TINY_SHAPES, **overrides)
    if data_root is not None:
        config["data_root"] = str(data_root)
    return config


async def type_into(pilot: Pilot, screen: Any, key: str, text: str) -> None:
    """Replace the text of form field `key` by typing `text` into its input, as a user would."""
    from textual.widgets import Input

    control = screen.query_one(f"#field-{key} Input", Input)
    control.focus()
    control.value = ""
    await pilot.pause()
    await pilot.press(*text)
    await pilot.pause()


async def open_new_run(app: Any, pilot: Pilot) -> Any:
    """Wait until the New run form is up with its model options; returns the screen."""
    from cnnlab_tui.screens.new_run import NewRunScreen

    await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="New run screen")
    screen = app.screen
    await wait_for(pilot, lambda: screen.query("#field-option-widths"), what="model options")
    options = screen.query_one("#model-options")
    await wait_for(pilot, lambda: options.ready, what="the model options mounted")
    return screen


async def open_runs(app: Any, pilot: Pilot) -> Any:
    """Press F3 and wait until the Runs screen is up; returns it."""
    from cnnlab_tui.screens.runs import RunsScreen

    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="Runs")
    return app.screen


def form_field(screen: Any, key: str) -> Any:
    from cnnlab_tui.widgets.forms import FormField

    return screen.query_one(f"#field-{key}", FormField)


def fill_form(screen: Any, values: dict[str, Any]) -> None:
    """Set several New run fields (keys as in the form: `epochs`, `option-widths`…)."""
    for key, value in values.items():
        form_field(screen, key).set_value(value)


TINY_FORM = {
    "dataset": "shapes",
    "image_size": 16,
    "option-widths": "4, 8",
    "epochs": 2,
    "batch_size": 32,
    "max_train_batches": 3,
    "device": "cpu",
}
