"""Helpers for the dashboard's Pilot tests: waiting with a deadline, tiny configs, and a
fake trainer that publishes real engine events without training (for queue mechanics)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


async def wait_for(
    pilot: Pilot, predicate: Callable[[], bool], *, timeout: float = 60.0, what: str = ""
) -> None:
    """Let the app run until `predicate()` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        await pilot.pause(0.05)


def tiny_config(data_root: Path | None = None, **overrides: Any) -> dict[str, Any]:
    config = dict(TINY_SHAPES, **overrides)
    if data_root is not None:
        config["data_root"] = str(data_root)
    return config


class FakeTrainer:
    """Publishes RunStarted → (BatchProgress, EpochEnd)×epochs → RunFinished from `run()`.

    `gate` (if given) is waited on before each epoch, so a test decides when a run advances;
    `cancel()` ends the run as cancelled at the next epoch boundary, like the real trainer.
    """

    created: list[FakeTrainer] = []

    def __init__(self, config: dict[str, Any], runs_dir: Path, gate: threading.Event | None):
        self.config = config
        self.runs_dir = runs_dir
        self.gate = gate
        self.subscribers: list[Callable[[Any], None]] = []
        self.cancelled = threading.Event()
        self.status = "running"
        self.run_id = f"fake-{len(FakeTrainer.created) + 1}"
        FakeTrainer.created.append(self)

    def subscribe(self, fn: Callable[[Any], None]) -> None:
        self.subscribers.append(fn)

    def cancel(self) -> None:
        self.cancelled.set()
        if self.gate is not None:
            self.gate.set()

    def _publish(self, event: Any) -> None:
        for fn in self.subscribers:
            fn(event)

    def run(self) -> None:
        from engine.trainer.events import BatchProgress, EpochEnd, RunFinished, RunStarted

        epochs = int(self.config.get("epochs", 2))
        self._publish(
            RunStarted(
                self.run_id,
                dict(self.config),
                str(self.runs_dir / self.run_id),
                "classify",
                "cpu",
                123,
                ["a", "b"],
                10,
                4,
                epochs,
            )
        )
        for epoch in range(1, epochs + 1):
            if self.gate is not None:
                self.gate.wait(10)
            if self.cancelled.is_set():
                self.status = "cancelled"
                self._publish(RunFinished(self.run_id, "cancelled", None, {}))
                return
            self._publish(BatchProgress(self.run_id, epoch, 1, 1, 1.0 / epoch, 100.0, 1.0))
            metrics = {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "test_loss": 1.2 / epoch,
                "train_acc": 0.5 + epoch / 10,
                "test_acc": 0.4 + epoch / 10,
            }
            self._publish(EpochEnd(self.run_id, epoch, metrics))
            time.sleep(0.01)
        self.status = "completed"
        self._publish(RunFinished(self.run_id, "completed", None, {}))


def fake_factory(gate: threading.Event | None = None) -> Callable[..., FakeTrainer]:
    """A `trainer_factory` for CnnlabApp that builds FakeTrainers sharing `gate`."""
    FakeTrainer.created = []

    def factory(config: dict[str, Any], runs_dir: Path) -> FakeTrainer:
        return FakeTrainer(config, runs_dir, gate)

    return factory
