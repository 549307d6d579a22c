"""The events of one run and the statuses a run can have: what the trainer publishes, the
run store writes and reads, and sweeps forward — so none of them imports another for it.

A `Trainer` publishes, in this order:
RunStarted → (BatchProgress… → EpochEnd → Samples?)… → RunFinished, with Log anywhere.

They are small frozen dataclasses so subscribers (the run writer, the CLI printer, the
dashboard bridge) can pass them across threads without copying. Every event carries the
`run_id` so one subscriber can follow several runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How a run can end (`RunFinished.status`); the failed ones are those a sweep counts as failed.
# `interrupted`: stopped from outside (SIGTERM, SIGHUP, the engine shutting down), resumable.
# `pruned`: stopped at an epoch boundary by a search that judged it not worth finishing
# (a finished trial of the search, not a failure; its epochs and checkpoint stay).
FINISHED_STATUSES = ("completed", "cancelled", "failed", "diverged", "interrupted", "pruned")
FAILED_STATUSES = ("failed", "diverged")
# Every status a run folder can show: running while its writer lives, interrupted also when
# that process is gone without finishing, damaged when its files cannot be read.
STATUSES = ("running", *FINISHED_STATUSES, "damaged")


@dataclass(frozen=True)
class RunStarted:
    """Data and model are ready; training is about to begin.

    `config` is the resolved config as a JSON-ready dict. `start_epoch` is the number of
    epochs already done (non-zero when resuming); `history` holds their metric rows so a
    live view can draw the whole curve.
    """

    run_id: str
    config: dict[str, Any]
    run_dir: str
    task: str
    device: str
    params: int
    classes: list[str]
    num_train: int
    num_test: int
    epochs: int
    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BatchProgress:
    """Training progress inside an epoch (published every few batches and on the last).

    `epoch` and `batch` count from 1; `loss` is the running mean over the epoch so far,
    `batch_loss` the loss of batch `batch` alone (None from writers older than it), `lr`
    the learning rate after that batch's step (None from writers older than it);
    `eta_seconds` estimates the rest of the run's training time.
    """

    run_id: str
    epoch: int
    batch: int
    num_batches: int
    loss: float
    images_per_second: float
    eta_seconds: float
    batch_loss: float | None = None
    lr: float | None = None


@dataclass(frozen=True)
class EpochEnd:
    """One finished epoch. `metrics` is the row written to metrics.jsonl.

    Keys: epoch, train_loss, train_acc, test_loss, test_acc (classify) or train_loss,
    test_loss, test_psnr, test_ssim (dehaze), plus lr, seconds, images_per_second;
    val_* when a validation split exists; classification adds per_class_acc and confusion.
    """

    run_id: str
    epoch: int
    metrics: dict[str, Any]


@dataclass(frozen=True)
class Samples:
    """Sample images written for an epoch (dehazing: hazy | output | clear PNGs)."""

    run_id: str
    epoch: int
    paths: list[str]


@dataclass(frozen=True)
class Log:
    """A line for the run's log (level: debug|info|warning|error)."""

    run_id: str
    level: str
    message: str


@dataclass(frozen=True)
class RunFinished:
    """The run ended: status is completed, cancelled, failed, diverged, interrupted or pruned.

    `error` is the message for a person (None when completed or cancelled; the reason, such
    as "interrupted by SIGTERM", when interrupted; why, when pruned); `summary` is the final
    summary.json content.
    """

    run_id: str
    status: str
    error: str | None
    summary: dict[str, Any]


Event = RunStarted | BatchProgress | EpochEnd | Samples | Log | RunFinished
