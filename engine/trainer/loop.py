"""`Trainer`: runs one training run in a background thread and publishes events.

The run reads top to bottom in `_train`: run folder → data → model → optimiser → for each
epoch: train, evaluate, publish, checkpoint. The folder comes first so that every run shows
up in the runs list, even one whose data never loads. Everything a person can get wrong ends
the run as `failed` with a message (never a crashed thread that leaves a run `running`); a
non-finite loss ends it as `diverged`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.datasets import DATASETS
from engine.errors import ConfigError
from engine.events import (
    BatchProgress,
    EpochEnd,
    Log,
    RunFinished,
    RunStarted,
    Samples,
)
from engine.models import count_parameters
from engine.runs import RunWriter, SummaryTracker
from engine.runs.summary import best_score
from engine.trainer.accelerate import accelerate
from engine.trainer.checkpoint import (
    BEST,
    LAST,
    checkpoint_state,
    copy_checkpoint,
    load_checkpoint,
    restore_state,
    save_checkpoint,
)
from engine.trainer.config import TrainConfig
from engine.trainer.device import amp_dtype, device_label, resolve_device, tune_backend
from engine.trainer.distributed import Distributed
from engine.trainer.epoch import Parts, train_epoch
from engine.trainer.evaluation import (
    epoch_metrics,
    evaluation_only_metrics,
    input_baseline_text,
    losses_finite,
    predict,
)
from engine.trainer.failures import describe_failure, diverged_message
from engine.trainer.gpu_stats import EpochGpuStats
from engine.trainer.initial import fit_to_data, load_initial_weights, update_freezing
from engine.trainer.pseudo import pseudo_label_epoch, training_pool
from engine.trainer.resources import check_resources
from engine.trainer.resume import prepare_resume, resumed_history
from engine.trainer.samples import save_dehaze_samples
from engine.trainer.setup import (
    DeviceData,
    build_model,
    build_parts,
    build_task,
    bundle_messages,
    load_data,
    to_device,
)

logger = logging.getLogger(__name__)


def _never() -> bool:
    return False


Subscriber = Callable[[Any], None]
NUM_SAMPLES = 4  # dehazing test images drawn as hazy | output | clear each epoch
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _CancelledWhileLoading(Exception):
    """Raised from the data loader's progress callback to stop decoding on a cancel."""


class Trainer:
    """One training run. `start()` runs it in a thread; `run()` runs it here.

    `runs_dir` defaults to `$CNNLAB_RUNS` or `./runs`; `resume` names a run folder (or id in
    `runs_dir`) to continue from its `last.pt`, with `config` None to reuse its saved config.
    `distributed`: this process is one rank of a run over several (engine.trainer.distributed;
    every rank builds its Trainer at the same point: they agree on the run's id here), and
    only rank 0 writes the run folder. `run_id` names a new run's folder (a launcher chose it).
    `download_weights`: the person agreed that missing torchvision weights of `init_from`
    may be downloaded (otherwise such a run fails, saying how to get them).
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        runs_dir: Path | str | None = None,
        resume: Path | str | None = None,
        distributed: Distributed | None = None,
        run_id: str | None = None,
        *,
        download_weights: bool = False,
    ):
        from engine.runs import default_runs_dir, new_run_id

        self._download_weights = download_weights  # consent to fetch torchvision weights
        root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self._resume_from, started_at = 0, None
        self._dist = distributed
        if resume is not None:
            ranks = distributed.world_size if distributed is not None else 1
            plan = prepare_resume(resume, root, config, world_size=ranks)
            self.config, self.run_dir, self._resume_from = plan.config, plan.run_dir, plan.done
            started_at = plan.started_at
        else:
            if config is None:
                raise TypeError("Trainer needs a config (or resume=RUN)")
            self.config = config.ensure_valid()
            self.run_dir = root / (run_id or new_run_id(config.model, config.dataset, root))
            if distributed is not None:
                self.run_dir = root / distributed.agree(self.run_dir.name)
        if self.config.nproc_per_node > 1 and distributed is None:
            raise ConfigError(
                {"nproc_per_node": f"{self.config.nproc_per_node} processes train this run "
                 "together: cnnlab train (or the engine) launches them, a Trainer is one"}
            )  # fmt: skip
        self.run_id = self.run_dir.name
        self.status = "pending"
        self.error: BaseException | None = None
        self.summary: dict[str, Any] | None = None
        self._cancel = threading.Event()
        self._stop_reason: str | None = None  # interrupt() / prune(): why the run stopped
        self._stop_status = "cancelled"  # … and how it ends: interrupted or pruned
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._resuming = resume is not None
        self._gpu: EpochGpuStats | None = None  # per-epoch GPU figures (CUDA runs)
        # The one summary of this run: fed every event here (`_publish`), read by the writer
        # for summary.json and by RunFinished — so disk and events never disagree.
        task = DATASETS[self.config.dataset].task
        self._tracker = SummaryTracker(
            self.run_id, self.config.to_dict(), task=task, started_at=started_at
        )
        self._writer = RunWriter(self.run_dir, self._tracker)
        self._main = distributed is None or distributed.is_main
        if self._main:
            self.subscribe(self._writer)

    # ------------------------------------------------------------------ public API

    @property
    def writes_run(self) -> bool:
        """Whether this trainer writes the run folder and speaks (rank 0 of a distributed
        run, or a single process)."""
        return self._main

    def subscribe(self, fn: Subscriber) -> None:
        """Call `fn(event)` for every event, from the trainer's thread."""
        with self._lock:
            self._subscribers.append(fn)

    def start(self) -> Trainer:
        """Run in a background (daemon) thread; returns self."""
        if self._thread is not None or self.status != "pending":
            raise RuntimeError("this trainer has already run")
        self._thread = threading.Thread(target=self.run, name=f"trainer-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop; it does so within one batch and ends as `cancelled`."""
        self._cancel.set()

    def interrupt(self, reason: str) -> None:
        """Stop like `cancel`, but from outside the person's choice (a signal, the engine
        shutting down): the run ends `interrupted`, with `reason` as its error, and its
        last finished epoch's checkpoint stays to resume from."""
        if not self._cancel.is_set():
            self._stop_status, self._stop_reason = "interrupted", reason
        self._cancel.set()

    def prune(self, reason: str) -> None:
        """Stop like `cancel` because a search judged the run not worth finishing (called
        at an epoch boundary, from an EpochEnd subscriber): the run ends `pruned`, with
        `reason` as its error, keeping that epoch's checkpoint."""
        if not self._cancel.is_set():
            self._stop_status = "pruned"
            self._stop_reason = reason
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when the run has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status not in ("pending", "running")

    def run(self) -> str:
        """Run to the end in this thread; returns the final status."""
        if self.status != "pending":
            raise RuntimeError("this trainer has already run")
        self.status = "running"
        status, message = "failed", None
        try:
            status, message = self._train()
        except KeyboardInterrupt:
            status = "cancelled"
            raise
        except Exception as exc:  # every failure must end the run with a status
            self.error = exc
            message, trace = describe_failure(exc, self.config)
            self._log("error", message if trace is None else f"training failed:\n{trace}")
        finally:
            if self._gpu is not None:
                self._gpu.close()
            self.status = status
            self.summary = self._tracker.finish(status, message)
            self._log("info", f"finished: {status}" + (f" ({message})" if message else ""))
            self._publish(RunFinished(self.run_id, status, message, self.summary))
        return status

    # ------------------------------------------------------------------ the run

    def _train(self) -> tuple[str, str | None]:
        config = self.config
        if not self._resuming and self._main:  # a resumed run already has its folder
            self._writer.create()
        device = self._dist.device if self._dist else resolve_device(config.device)
        amp = amp_dtype(device, config.amp)
        if config.amp and amp is None:
            self._log("warning", f"mixed precision applies on CUDA only; not used on {device}")
        torch.manual_seed(config.seed)
        try:
            bundle = load_data(config, progress=self._loading_progress())
        except _CancelledWhileLoading:
            return self._stopped()
        for level, message in bundle_messages(bundle):
            self._log(level, message)
        model = build_model(config, bundle, device)
        if self._dist:
            model = self._dist.prepare_model(model, config)
        data = to_device(bundle, device)
        # refuse what cannot fit (only rank 0 of a distributed run writes checkpoints)
        check_resources(config, bundle, device, self.run_dir if self._main else None)
        task = build_task(config, bundle, data.test[0])
        if self._resume_from == 0:
            if fit_to_data(model, task, data.train[0], device):
                self._log(
                    "info", f"{config.model}: data-dependent layers fitted to the training images"
                )
            load_initial_weights(
                config,
                model,
                list(bundle.classes),
                self.run_dir.parent,
                download=self._download_weights,
                train=self._pretrain,
                log=lambda message: self._log("info", message),
            )
            if self._cancel.is_set() and not self._dist:
                return self._stopped()
        self._speed_up(model, data, device, amp)
        if data.task == "dehaze":
            self._log("info", input_baseline_text(data))
        parts = build_parts(config, model, task, data, device, amp)
        if self._dist:
            self._dist.prepare_parts(parts, config, len(data.train[0]))
            self._log("info", f"distributed: {self._dist.describe()}, global batch "
                      f"{config.batch_size} split between them, lr as configured")  # fmt: skip
        if self._cancel.is_set() and not self._dist:  # cancelled while the data loaded
            return self._stopped()
        start, best = 0, float("-inf")
        if self._resume_from > 0:
            # Loaded on the CPU (RNG states must stay there); weights move on loading.
            state = load_checkpoint(self.run_dir / LAST)
            start, best = restore_state(parts, state, config)
            if self._dist:
                self._dist.restore_rank_state(parts, state)
        self._publish(
            RunStarted(
                self.run_id,
                config.to_dict(),
                str(self.run_dir),
                bundle.task,
                device_label(device) + (f" × {self._dist.describe()}" if self._dist else ""),
                count_parameters(model),
                list(bundle.classes),
                len(data.train[0]),
                len(data.test[0]),
                config.epochs,
                start,
                resumed_history(self.run_dir, start),
            )
        )
        self._log(
            "info",
            f"{'resuming' if start else 'training'} {config.model} "
            f"({count_parameters(model):,} parameters) on {device_label(device)}, "
            f"epochs {start + 1}-{config.epochs}",
        )
        if not getattr(model, "trainable", True):
            return self._evaluate_only(parts, data)
        self._gpu = EpochGpuStats(device)
        for epoch in range(start + 1, config.epochs + 1):
            self._gpu.begin()
            update_freezing(parts, epoch, config.freeze_epochs, lambda m: self._log("info", m))
            train_x, train_y = data.train
            if pseudo_label_epoch(epoch, config.epochs, config.pseudo_label):
                train_x, train_y, added = training_pool(parts, data, config.pseudo_label)
                self._log("info", f"epoch {epoch}: {added} pseudo-labelled val/test images")
            result = train_epoch(
                parts, train_x, train_y, self._progress_fn(epoch, parts), self._cancel.is_set
            )
            if result is None:
                return self._stopped()
            if result.diverged:
                return "diverged", diverged_message(config, epoch, result.diverged)
            if parts.lookahead is not None and epoch == config.epochs:
                parts.lookahead.finish(parts.model)  # the run ends on the averaged weights
            if self._dist:  # every rank evaluates rank 0's model, to the end
                self._dist.sync_buffers(parts.model)
            stop = self._cancel.is_set if not self._dist else _never
            metrics = epoch_metrics(parts, data, epoch, result, stop)
            if metrics is None:
                return self._stopped()
            if not losses_finite(metrics):
                return "diverged", diverged_message(config, epoch, "the end of the epoch")
            metrics.update(self._gpu.end())
            self._publish(EpochEnd(self.run_id, epoch, metrics))
            self._publish_samples(parts, data, epoch)
            best = self._checkpoint(parts, epoch, metrics, best)
        return "completed", None

    def _pretrain(self, config: TrainConfig) -> tuple[str, str]:
        """Train a pretraining run (init_from=preset:NAME) to the end in this thread, as a
        run of its own in the same runs folder; its log lines and a cancel pass through."""
        inner = Trainer(config.replace(device=self.config.device), runs_dir=self.run_dir.parent)
        self._log("info", f"pretraining run {inner.run_id} (preset {config.preset})")

        def relay(event: Any) -> None:
            if self._cancel.is_set():
                inner.cancel()
            if isinstance(event, Log) and event.level != "debug":
                self._log(event.level, f"pretraining: {event.message}")
            elif isinstance(event, EpochEnd):
                self._log("info", f"pretraining: epoch {event.epoch}/{config.epochs} done")

        inner.subscribe(relay)
        # The pretraining reseeds torch: keep this run's random stream as it was, so a run
        # that trained its pretraining and one that found it give the same result.
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        try:
            return inner.run(), inner.run_id
        finally:
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)

    def _speed_up(
        self,
        model: torch.nn.Module,
        data: DeviceData,
        device: torch.device,
        amp: torch.dtype | None,
    ) -> None:
        """Apply the config's speed settings and log every one that is in force."""
        done = tune_backend(device) + accelerate(
            model, channels_last=self.config.channels_last, compile_model=self.config.compile
        )
        if amp is not None:
            done.append(f"{str(amp).removeprefix('torch.')} autocast")
        if data.train[0].device.type != device.type:
            done.append(f"data set in pinned host memory (too big for {device})")
        elif device.type != "cpu":
            done.append(f"whole data set on {device}")
        if done:
            self._log("info", "speed: " + ", ".join(done))

    def _evaluate_only(self, parts: Parts, data: DeviceData) -> tuple[str, str | None]:
        """Training-free models: one evaluation, recorded as epoch 1."""
        self._log("info", f"{self.config.model} needs no training: evaluating once")
        row = evaluation_only_metrics(parts, data, self._cancel.is_set)
        if row is None:
            return self._stopped()
        self._publish(EpochEnd(self.run_id, 1, row))
        self._publish_samples(parts, data, 1)
        return "completed", None

    def _checkpoint(self, parts: Parts, epoch: int, metrics: dict[str, Any], best: float) -> float:
        score = best_score(metrics, parts.task.name)
        improved = score > best
        best = max(best, score)
        state = checkpoint_state(parts, epoch, best, self.config)
        if self._dist:  # every rank's random state, gathered on every rank
            state.update(world_size=self._dist.world_size, ranks=self._dist.rank_states(parts))
        if not self._main:
            return best
        save_checkpoint(self.run_dir / LAST, state)
        if improved:
            copy_checkpoint(self.run_dir / LAST, self.run_dir / BEST)
        return best

    def _publish_samples(self, parts: Parts, data: DeviceData, epoch: int) -> None:
        if data.task != "dehaze" or len(data.test[0]) == 0 or not self._main:
            return
        hazy, clear = (t[:NUM_SAMPLES] for t in data.test)
        outputs, _ = predict(parts, hazy, clear)
        paths = save_dehaze_samples(
            hazy, outputs, clear, data.test_names[:NUM_SAMPLES], epoch, self.run_dir / "samples"
        )
        self._publish(Samples(self.run_id, epoch, paths))

    # ------------------------------------------------------------------ helpers

    def _stopped(self) -> tuple[str, str | None]:
        """How a run stopped on request ends: cancelled, or interrupted / pruned with its
        reason."""
        if self._stop_reason is not None:
            return self._stop_status, self._stop_reason
        return "cancelled", None

    def _publish(self, event: Any) -> None:
        """Give `event` to the summary and every subscriber; a failing subscriber is logged."""
        if not isinstance(event, RunFinished):
            self._tracker.apply(event)
        with self._lock:
            subscribers = list(self._subscribers)
        for fn in subscribers:
            try:
                fn(event)
            except Exception:
                logger.exception("subscriber %r failed on %s", fn, type(event).__name__)
        # The run folder is the truth: the first write it refused stops the run (the
        # writer still tries the final summary, so the run reads as failed if it can).
        failure = None if isinstance(event, (Log, RunFinished)) else self._writer.take_failure()
        if failure is not None:
            raise failure

    def _log(self, level: str, message: str) -> None:
        logger.log(_LEVELS.get(level, logging.INFO), "%s: %s", self.run_id, message)
        self._publish(Log(self.run_id, level, message))

    def _loading_progress(self) -> Callable[[int, int, str], None]:
        """Log decoding progress about once a second; a cancel stops the decoding."""
        last = [0.0]

        def report(done: int, total: int, message: str) -> None:
            if self._cancel.is_set():
                raise _CancelledWhileLoading
            now = time.monotonic()
            if done >= total or now - last[0] >= 1.0:
                last[0] = now
                self._log("info", f"loading data: {done}/{total} {message}".rstrip())

        return report

    def _progress_fn(
        self, epoch: int, parts: Any = None
    ) -> Callable[[int, int, float, float, float], None]:
        began = time.perf_counter()
        total_epochs = self.config.epochs

        def report(batch: int, num_batches: int, loss: float, ips: float, last: float) -> None:
            per_batch = (time.perf_counter() - began) / batch
            left = (num_batches - batch) + (total_epochs - epoch) * num_batches
            eta = per_batch * left
            lr = _current_lr(parts)
            self._publish(
                BatchProgress(self.run_id, epoch, batch, num_batches, loss, ips, eta, last, lr)
            )

        return report


def _current_lr(parts: Any) -> float | None:
    """The first parameter group's learning rate now (what the Live lr curve draws)."""
    optimizer = getattr(parts, "optimizer", None)
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        return None
    lr = groups[0].get("lr")
    return float(lr) if isinstance(lr, int | float) else None
