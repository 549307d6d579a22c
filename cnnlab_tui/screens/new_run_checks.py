"""The New run form's slow checks: the data set probe and the parameter count.

Both touch disk or torch, so each runs in a thread worker and comes back as a `SlowAnswer`
message; every edit bumps a token, and only the answer to the newest edit is shown —
typing never waits, and a late answer never overwrites a newer one.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from cnnlab_tui.screens import new_run_support as support

SLOW_REFRESH_DELAY_S = 0.25


class SlowAnswer(Message):
    """A probe ("dataset") or parameter count ("params") finished in a worker thread."""

    def __init__(self, kind: str, token: int, text: str, ok: bool, extra: Any = None):
        super().__init__()
        self.kind, self.token, self.text, self.ok, self.extra = kind, token, text, ok, extra


class SlowChecks:
    """Starts the checks for `screen` (which must have `collect()`) and filters answers."""

    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._tokens = {"dataset": 0, "params": 0}
        self._timer: Timer | None = None
        self.num_classes: int | None = None  # from the last probe; None when unknown

    def schedule(self) -> None:
        """Check again shortly after the typing stops."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self._screen.set_timer(SLOW_REFRESH_DELAY_S, self.start)

    def start(self) -> None:
        config, _ = self._screen.collect()
        for kind in self._tokens:
            self._tokens[kind] += 1
        self._run("probe", self._probe, self._tokens["dataset"], config)
        self._run("params", self._count, self._tokens["params"], config)

    def accept(self, answer: SlowAnswer) -> bool:
        """Is this the answer to the newest edit? A probe with a new class count also
        recounts the parameters (the classifier's size depends on it)."""
        if answer.token != self._tokens[answer.kind]:
            return False
        if answer.kind == "dataset" and answer.extra != self.num_classes:
            self.num_classes = answer.extra
            self._tokens["params"] += 1
            self._run("params", self._count, self._tokens["params"], self._screen.collect()[0])
        return True

    def _run(self, group: str, fn: Any, token: int, config: dict[str, Any]) -> None:
        self._screen.run_worker(partial(fn, token, config), group=group, thread=True)

    def _post(self, *args: Any) -> None:
        self._screen.post_message(SlowAnswer(*args))

    def _probe(self, token: int, config: dict[str, Any]) -> None:
        from engine.datasets import probe_dataset

        try:
            status = probe_dataset(config["dataset"], config["data_root"])
            text, classes = support.describe_dataset(status)
            self._post("dataset", token, text, True, classes)
        except Exception as exc:  # the probe must never break the form
            self._post("dataset", token, f"✗ {exc}", False)

    def _count(self, token: int, config: dict[str, Any]) -> None:
        image_size = config.get("image_size")
        if not isinstance(image_size, int) or image_size < 1 or not config.get("model"):
            return
        classes = self.num_classes or support.DEFAULT_CLASS_COUNT
        try:
            text = support.count_parameters_text(
                config["model"], config["model_options"], image_size, classes
            )
            self._post("params", token, text, True)
        except Exception as exc:  # ModelError: e.g. image too small for the layers
            self._post("params", token, str(exc), False)
