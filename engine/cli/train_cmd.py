"""`cnnlab train`: one training run from the terminal, with live progress.

Every `TrainConfig` field is a kebab-case flag generated from `config_fields()`; a preset
(`--preset lab-conv`) or a resumed run (`--resume RUN`) supplies the rest. Events from the
trainer thread go through a queue and are rendered here, on the main thread, which also
turns Ctrl-C into a clean cancel and SIGTERM / SIGHUP into an `interrupted` run
(engine.cli.train_signals). `--detach` queues the run in the background engine instead
(engine.cli.train_detach).
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
from pathlib import Path
from typing import Any

from rich.markup import escape

from engine.cli.cache_flag import add_cache_flag, use_cache_flag

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_CANCELLED = 0, 1, 2, 130
_METAVARS = {
    "dataset": "NAME",
    "model": "NAME",
    "data_root": "DIR",
    "device": "DEVICE",
    "name": "TEXT",
    "nproc_per_node": "N",
}


def _converter(name: str):
    """An argparse `type=` for config field `name`: the config's own text parser, whose
    message argparse prints (`argument --batch-size: must be a whole number, got '3.5'`)."""
    from engine.errors import ConfigError
    from engine.trainer.config import parse_field_text

    def convert(text: str) -> Any:
        try:
            return parse_field_text(name, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.errors[name]) from None

    convert.__name__ = name
    return convert


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainConfig` field; all default to None (= not given). Values are
    checked by validation, after parsing, so every bad value is listed at once."""
    from engine.trainer.config import config_fields

    group = parser.add_argument_group("run configuration (defaults: preset, then the lab's)")
    for spec in config_fields(registries=False):
        if spec.name == "preset":
            continue
        if spec.name == "model_options":
            group.add_argument(
                "--model-opt",
                "--model-options",
                dest="model_opt",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="model option, repeatable (numbers, text, lists as a,b,c or [a,b,c])",
            )
        elif spec.type is bool:
            group.add_argument(
                spec.flag, action=argparse.BooleanOptionalAction, default=None, help=spec.help
            )
        else:
            choices = "{" + ",".join(spec.choices) + "}" if spec.choices else None
            group.add_argument(
                spec.flag,
                dest=spec.name,
                default=None,
                type=_converter(spec.name),
                metavar=_METAVARS.get(spec.name) or choices or spec.type.__name__.upper(),
                help=spec.help + (" ('none' clears it)" if spec.optional else ""),
            )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model (headless)",
        description="Train one model and save the run (config, metrics, checkpoints) in a "
        "run folder. Example: cnnlab train --preset quick-shapes --epochs 3",
    )
    parser.add_argument("--preset", help="start from a preset (see the list below)")
    parser.add_argument(
        "--resume", metavar="RUN", help="continue a run (id, name or short id) from its last.pt"
    )
    parser.add_argument("--runs-dir", help="where runs are saved (default $CNNLAB_RUNS or ./runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only the table")
    add_cache_flag(parser)
    parser.add_argument(
        "--detach",
        action="store_true",
        help="queue the run in the background engine (started if needed) and return at once; "
        "it keeps training when the terminal closes. Follow it with cnnlab watch",
    )
    parser.add_argument(
        "--download-weights",
        action="store_true",
        help="allow downloading torchvision weights that --init-from names and the torch hub "
        "cache lacks (from download.pytorch.org, hash-checked, with progress)",
    )
    add_config_flags(parser)
    from engine.cli.train_distributed import add_distributed_flags

    add_distributed_flags(parser)
    parser.epilog = _presets_epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.set_defaults(func=run_train)


def _presets_epilog() -> str:
    from engine.presets import list_presets

    lines = [f"  {p.name:22} {p.description}" for p in list_presets()]
    return "presets:\n" + "\n".join(lines)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (model options parsed as key=value)."""
    from engine.trainer.config import config_fields, parse_model_option

    overrides = {
        spec.name: getattr(args, spec.name)
        for spec in config_fields(registries=False)
        if spec.name not in ("preset", "model_options") and getattr(args, spec.name) is not None
    }
    if args.model_opt:
        overrides["model_options"] = dict(parse_model_option(text) for text in args.model_opt)
    return overrides


def config_from_args(args: argparse.Namespace):
    """The TrainConfig the flags describe: defaults ← `--preset` ← flags, or, with
    `--resume RUN`, that run's saved config ← flags (ConfigError / RunStoreError)."""
    from engine.errors import ConfigError
    from engine.presets import resolve_config

    overrides = flag_overrides(args)
    if getattr(args, "config_json", None):  # the engine's run over several processes
        return _config_file(args.config_json, overrides)
    if getattr(args, "resume", None) is None:  # `--resume ""` is a mistake, not a new run
        return resolve_config(args.preset, overrides)
    if args.preset:
        raise ConfigError({"preset": "cannot be combined with --resume"})
    from engine.runs import RunStore
    from engine.trainer.resume import resume_config

    return resume_config(args.resume, RunStore(args.runs_dir).root, overrides)


def _config_file(path: str, overrides: dict[str, Any]):
    """A whole config from a JSON file (what the engine hands the ranks it launches) ←
    the flags given beside it."""
    import json

    from engine.errors import ConfigError
    from engine.trainer.config import TrainConfig, apply_overrides

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError({"config_json": f"cannot read {path} ({exc})"}) from None
    return apply_overrides(TrainConfig.from_dict(data), overrides)


def build_trainer(args: argparse.Namespace, distributed=None):
    """The Trainer the flags describe (raises ConfigError / RunStoreError for a person);
    `distributed`: this process is one rank of a run over several."""
    from engine.runs import RunStore
    from engine.trainer.loop import Trainer

    config = config_from_args(args)
    if args.resume is not None:
        return Trainer(
            config, runs_dir=RunStore(args.runs_dir).root, resume=args.resume,
            distributed=distributed,
        )  # fmt: skip
    return Trainer(
        config, runs_dir=args.runs_dir, distributed=distributed,
        run_id=getattr(args, "run_id", None),
        download_weights=getattr(args, "download_weights", False),
    )  # fmt: skip


def run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from engine.errors import CnnlabError, ConfigError

    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    use_cache_flag(args)
    from engine.cli.train_distributed import launch, wants_ranks

    if wants_ranks(args):
        return launch(args)
    if getattr(args, "detach", False):
        from engine.cli.train_detach import submit_detached

        return submit_detached(args, console, errors)
    if not getattr(args, "verbose", False):
        # The printer shows the trainer's Log events; its logging records would repeat them.
        logging.getLogger("engine.trainer.loop").setLevel(logging.CRITICAL)
    from engine.trainer.distributed import launched

    rank = None
    try:
        if launched():  # a rank torchrun started (cnnlab train --nproc-per-node)
            from engine.cli.train_distributed import start_rank

            rank = start_rank(args)
            if not rank.is_main:  # rank 0 alone speaks; the others only of their failure
                console = Console(file=open(os.devnull, "w"), highlight=False)  # noqa: SIM115
        trainer = build_trainer(args) if rank is None else build_trainer(args, distributed=rank)
        if rank is not None and rank.is_main:  # the engine launched this run: its events
            from engine.service.event_file import writer_from_environment

            forward = writer_from_environment()
            if forward is not None:
                trainer.subscribe(forward)
    except ConfigError as exc:
        _print_config_errors(errors, exc.errors)
        return EXIT_CONFIG
    except CnnlabError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_FAILED
    try:
        return _train_here(args, trainer, console, errors, rank=rank)
    finally:
        if rank is not None:
            rank.close()


def _train_here(args: argparse.Namespace, trainer, console, errors, rank=None) -> int:
    from engine.cli.train_signals import interrupt_on_signals

    events: queue.Queue = queue.Queue()
    trainer.subscribe(events.put)
    quiet = args.quiet or not trainer.writes_run
    printer = TrainPrinter(console, quiet)
    with interrupt_on_signals(trainer, (console, errors)) as signals:
        trainer.start()
        finished = _pump(trainer, events, printer, (console, errors), signals)
        printer.close()
        if rank is not None and finished is not None and finished.status == "failed":
            # one line: the launcher says which rank failed and records the run
            first = str(finished.error).strip().splitlines()[0] if finished.error else ""
            errors.print(f"rank {rank.rank} stopped: {first}", markup=False)
            return EXIT_FAILED
        if rank is not None and not rank.is_main and finished is not None:  # rank 0 says it
            if finished.status == "completed":
                return EXIT_OK
            stopped = finished.status in ("cancelled", "interrupted")
            return EXIT_CANCELLED if stopped else EXIT_FAILED
        code = _report_end(console, errors, trainer, finished)
    if signals and (finished is None or finished.status == "interrupted"):
        return 128 + signals[0]
    return code


def _pump(trainer, events: queue.Queue, printer: TrainPrinter, consoles, signals) -> Any:
    """Render events until RunFinished; Ctrl-C cancels (a second one stops waiting), and so
    does a second SIGTERM / SIGHUP after the first has interrupted the run."""
    from engine.cli.train_signals import mute, signal_name
    from engine.events import RunFinished

    interrupted, signals_seen = False, 0
    while True:
        try:
            if len(signals) > signals_seen:
                signals_seen = len(signals)
                if signals_seen > 1:
                    return None
                printer.note(
                    f"[yellow]{signal_name(signals[0])}: stopping after this batch… "
                    "(again to stop waiting)[/]"
                )
            event = events.get(timeout=0.1)
            try:
                printer.handle(event)
            except OSError:  # the terminal went away before its SIGHUP arrived
                mute(consoles)
            if isinstance(event, RunFinished):
                return event
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            if interrupted:
                return None
            interrupted = True
            trainer.cancel()
            printer.note("[yellow]cancelling after this batch… (Ctrl-C again to stop waiting)[/]")


def _report_end(console, errors, trainer, finished) -> int:
    from engine.errors import CnnlabError, ConfigError

    if finished is None:
        errors.print("[red]stopped waiting; the run is still stopping[/]")
        return EXIT_CANCELLED
    if trainer.run_dir.is_dir():
        console.print(f"run folder: {trainer.run_dir}")
    if finished.status == "completed":
        return EXIT_OK
    if finished.status == "cancelled" and not (trainer.run_dir / "last.pt").exists():
        errors.print("[yellow]cancelled[/] before the first epoch finished")
        return EXIT_CANCELLED
    if finished.status == "cancelled":
        errors.print(
            "[yellow]cancelled[/]: finished epochs are kept; resume with "
            f"cnnlab train --resume {trainer.run_id}"
        )
        return EXIT_CANCELLED
    if finished.status == "interrupted":
        errors.print(
            f"[yellow]{finished.error}[/]: finished epochs are kept; resume with "
            f"cnnlab train --resume {trainer.run_id} --epochs N"
        )
        return EXIT_CANCELLED
    if isinstance(trainer.error, ConfigError):
        _print_config_errors(errors, trainer.error.errors)
        return EXIT_CONFIG
    errors.print(f"[red]{finished.status}:[/] {escape(str(finished.error))}")
    if trainer.error is not None and not isinstance(trainer.error, CnnlabError):
        errors.print(f"details in {trainer.run_dir / 'run.log'}")
    errors.print(_recorded_text(trainer, finished.status), markup=False)
    return EXIT_FAILED


def _recorded_text(trainer, status: str) -> str:
    """Whether the run folder says how the run ended — read back from disk, not assumed."""
    from engine.runs import read_run

    if not trainer.run_dir.is_dir():
        return f"nothing was recorded: the run folder {trainer.run_dir} could not be made"
    on_disk = read_run(trainer.run_dir)
    if on_disk.summary.get("status") == status:
        return f"recorded as a {status} run: cnnlab show {trainer.run_dir}"
    return (
        f"could not record the {status} run in {trainer.run_dir}: its summary still says "
        f"{on_disk.summary.get('status') or 'nothing'} (it lists as {on_disk.status}); "
        "the epochs finished before are kept"
    )


def _print_config_errors(errors, fields: dict[str, str]) -> None:
    errors.print("[red]invalid configuration:[/]")
    for name, message in fields.items():
        errors.print(f"  {name}: {message}", markup=False)


# Info lines worth a terminal line: where the initial weights came from (engine.transfer's
# report) and the progress of a pretraining run trained first (init_from=preset:NAME).
SHOWN_INFO = (
    "init from ",
    "re-initialised ",
    "every key loaded",
    "not used from the source",
    "pretraining run ",
    "pretraining: reusing",
    "pretraining: no completed",
    "pretraining: epoch ",
)


class TrainPrinter:
    """Turns trainer events into a header, a progress bar per epoch and a per-epoch table."""

    def __init__(self, console, quiet: bool = False):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.task = "classify"
        self.epochs = 0
        self.progress = None
        if not quiet:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[ips]:.0f} img/s"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
        self._bar = None
        self._header_printed = False
        self.samples: tuple[int, int] | None = None

    def note(self, text: str) -> None:
        self.console.print(text)

    def handle(self, event) -> None:
        from engine.events import BatchProgress, EpochEnd, Log, RunStarted, Samples

        if isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, BatchProgress) and self.progress is not None:
            self._batch(event)
        elif isinstance(event, EpochEnd):
            self.epoch_row(event.metrics)
        elif isinstance(event, Samples):
            self.samples = (len(event.paths), event.epoch)
        elif isinstance(event, Log) and event.level == "warning":  # errors: said at the end
            first = event.message.splitlines()[0]
            self.console.print(f"[yellow]{event.level}:[/] {escape(first)}", markup=True)
        elif (
            isinstance(event, Log)
            and event.level == "info"
            and event.message.startswith(SHOWN_INFO)
        ):
            self.console.print(event.message, markup=False, highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.samples:
            count, epoch = self.samples
            self.console.print(
                f"samples: {count} hazy | output | clear images per epoch "
                f"(last: epoch {epoch}) in samples/"
            )

    def _started(self, event) -> None:
        from engine.runs.describe import hyperparameters_text, model_text

        self.task, self.epochs = event.task, event.epochs
        config = event.config
        self.console.print(f"[bold]{event.run_id}[/]")
        self.console.print(
            f"  {model_text({}, config)} on {config['dataset']} · {event.params:,} parameters · "
            f"{event.device}\n  {event.num_train} train / {event.num_test} test · "
            f"{hyperparameters_text(config)}",
            markup=False,
        )
        if event.start_epoch:
            self.console.print(f"  resuming after epoch {event.start_epoch}")
            for row in event.history:
                self.epoch_row(row)

    def _batch(self, event) -> None:
        description = f"epoch {event.epoch}/{self.epochs}"
        if self._bar is None:
            self.progress.start()
            self._bar = self.progress.add_task(
                description, total=event.num_batches, loss=0.0, ips=0.0
            )
        self.progress.update(
            self._bar,
            description=description,
            total=event.num_batches,
            completed=event.batch,
            loss=event.loss,
            ips=event.images_per_second,
            visible=True,
        )

    def epoch_row(self, row: dict[str, Any]) -> None:
        from rich.table import Table

        from engine.runs.describe import metric_text

        columns = _columns(self.task, row)
        table = Table(box=None, show_header=not self._header_printed, pad_edge=False)
        for name in columns:
            table.add_column(name, justify="right", min_width=10)
        table.add_row(*[metric_text(c, row.get(c)) for c in columns])
        self._header_printed = True
        if self._bar is not None:
            self.progress.update(self._bar, visible=False)  # until the next epoch's batches
        self.console.print(table)


def _columns(task: str, row: dict[str, Any]) -> list[str]:
    if task == "dehaze":
        names = ["epoch", "train_loss", "val_psnr", "test_loss", "test_psnr", "test_ssim"]
    else:
        names = ["epoch", "train_loss", "train_acc", "val_acc", "test_loss", "test_acc"]
    return [n for n in names if n in row or n in ("epoch",)] + ["seconds"]
