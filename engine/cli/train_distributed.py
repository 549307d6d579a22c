"""`cnnlab train --nproc-per-node N [--nnodes M --node-rank R --rdzv-endpoint HOST:PORT]`:
one run over N processes here (one per GPU, or N shares of the CPU), and over M machines.

    cnnlab train --preset cifar10-fast --nproc-per-node 4                 # one machine, 4 GPUs
    # two machines, 8 GPUs each: the same command on both, node rank 0 and 1
    cnnlab train --preset cifar10-fast --nproc-per-node 8 --nnodes 2 --node-rank 0 \
                 --rdzv-endpoint node0.example:29500
    cnnlab train --preset cifar10-fast --nproc-per-node 8 --nnodes 2 --node-rank 1 \
                 --rdzv-endpoint node0.example:29500

This process is the launcher: it checks the run as a foreground `cnnlab train` would (so a
mistake is said before any process starts), then starts the ranks through torchrun
(`torch.distributed.run`, the elastic launcher; no restarts) as `python -m engine.cli train
…` with the same flags. Each rank runs the ordinary Trainer (engine.trainer.distributed says
what differs); rank 0, on node 0, prints and writes the run folder. When a rank dies, torchrun
stops the others and this launcher records the run `failed`, naming the rank and how it
died — the run never hangs (every collective has a timeout, $CNNLAB_DDP_TIMEOUT).
Only node 0 holds the run folder; resuming a multi-machine run reads its checkpoint on
every rank, so it needs the runs folder on a filesystem all machines share.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

log = logging.getLogger(__name__)
ENGINE_CHECK_SECONDS = 1.0  # how often a launcher the engine started checks it is there
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_CANCELLED = 0, 1, 2, 130
# The launcher's own flags; --nproc-per-node is a config field (the ranks keep it, so the
# run's config.json says how many processes trained it).
FLAGS = ("--nnodes", "--node-rank", "--rdzv-endpoint")


def add_distributed_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "one run over several machines, --nproc-per-node processes on each (torch.distributed: "
        "NCCL on GPUs, gloo on the CPU)"
    )
    group.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines (default 1)")
    group.add_argument(
        "--node-rank", type=int, default=0, metavar="R",
        help="this machine's place, 0 … M-1 (0 writes the run folder)",
    )  # fmt: skip
    group.add_argument(
        "--rdzv-endpoint", default=None, metavar="HOST:PORT",
        help="where node 0 listens for the others (several machines)",
    )  # fmt: skip
    group.add_argument("--run-id", default=None, help=argparse.SUPPRESS)  # rank 0's folder
    # The engine's runs over several processes: the whole resolved config, as a JSON file.
    group.add_argument("--config-json", default=None, help=argparse.SUPPRESS)


def wants_ranks(args: argparse.Namespace) -> bool:
    """Whether `cnnlab train` with these flags launches ranks: --nproc-per-node or --nnodes
    given, or a config (a resumed run's, say) that trains over several processes — never
    inside a rank torchrun started."""
    if getattr(args, "detach", False):  # the engine launches it (no torch imported here);
        return getattr(args, "nnodes", 1) > 1  # several machines it cannot: refused below
    from engine.errors import CnnlabError
    from engine.trainer.distributed import launched

    if launched():
        return False
    if getattr(args, "nproc_per_node", None) is not None or getattr(args, "nnodes", 1) > 1:
        return True
    from engine.cli.train_cmd import config_from_args

    try:
        return config_from_args(args).nproc_per_node > 1
    except CnnlabError:  # the ordinary path says what is wrong
        return False


def _worker_argv(argv: list[str], run_id: str | None) -> list[str]:
    """The launcher's own arguments without the launch flags (each rank gets the rest):
    the options before `train` (`-v`) stay before it."""
    where = argv.index("train") if "train" in argv else -1
    before, after = argv[: where + 1], argv[where + 1 :]
    kept, skip = [], False
    for item in after:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name in FLAGS:
            skip = "=" not in item
            continue
        kept.append(item)
    if not before or before[-1] != "train":
        before = [*before, "train"]
    return [*before, *kept, *(["--run-id", run_id] if run_id else [])]


def _preflight(args: argparse.Namespace, world: int) -> str | None:
    """Check the run here, as the ranks will (ConfigError / RunStoreError for a person),
    and, on node 0, choose a new run's id: the folder the launcher watches."""
    from engine.errors import ConfigError
    from engine.runs import RunStore, new_run_id
    from engine.trainer.distributed import sync_bn_problem
    from engine.trainer.resume import prepare_resume
    from engine.trainer.validation import batch_split_problem

    if args.nproc_per_node < 1 or args.nnodes < 1:
        raise ConfigError({"nproc_per_node": "--nproc-per-node and --nnodes are at least 1"})
    if not 0 <= args.node_rank < args.nnodes:
        raise ConfigError({"node_rank": f"--node-rank is 0 … {args.nnodes - 1}"})
    if args.nnodes > 1 and not args.rdzv_endpoint:
        raise ConfigError({"rdzv_endpoint": "several machines need --rdzv-endpoint HOST:PORT"})
    if args.detach:
        raise ConfigError(
            {"detach": "a run over several machines starts in the foreground on each of "
             "them (the engine runs one over this machine's GPUs: drop --nnodes)"}
        )  # fmt: skip
    from engine.cli.train_cmd import config_from_args

    config = config_from_args(args).ensure_valid()
    device = _device_type(config.device)
    if device == "cuda":
        import torch

        if args.nproc_per_node > torch.cuda.device_count():
            raise ConfigError(
                {"nproc_per_node": f"{args.nproc_per_node} processes need as many GPUs; this "
                 f"machine has {torch.cuda.device_count()} (or train on --device cpu)"}
            )  # fmt: skip
    problem = sync_bn_problem(config, device)
    if problem:
        raise ConfigError({"sync_bn": problem})
    problem = batch_split_problem(config.batch_size, world)  # over every machine's ranks
    if problem:
        raise ConfigError({"batch_size": problem})
    if args.node_rank != 0:
        return None
    root = RunStore(args.runs_dir).root
    if args.resume:
        return prepare_resume(args.resume, root, config, world_size=world).run_dir.name
    return new_run_id(config.model, config.dataset, root)


def _device_type(spec: str) -> str:
    from engine.trainer.device import resolve_device

    return resolve_device(spec).type


def launch(args: argparse.Namespace) -> int:
    """Start the ranks through torchrun and wait for them; the run's outcome as exit code."""
    from engine.cli.train_cmd import _print_config_errors
    from engine.errors import CnnlabError, ConfigError

    console, errors = Console(highlight=False), Console(stderr=True, highlight=False)
    try:
        if args.nproc_per_node is None:  # the config says (a resumed run's, --config-json)
            from engine.cli.train_cmd import config_from_args

            args.nproc_per_node = config_from_args(args).nproc_per_node
        world = args.nproc_per_node * args.nnodes
        run_id = _preflight(args, world)
    except ConfigError as exc:
        _print_config_errors(errors, exc.errors)
        return EXIT_CONFIG
    except CnnlabError as exc:
        errors.print(f"[red]error:[/] {exc}")
        return EXIT_FAILED
    _stop_with_the_engine()
    if not getattr(args, "verbose", False):  # what they say is said below, in our words
        import torch.distributed.elastic.agent.server.api  # noqa: F401 - sets its own level

        for name in ("torch.distributed", "torch.distributed.elastic.agent.server.api"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    failure, first = _run_ranks(args, _worker_argv(list(args.argv), run_id))
    if run_id is None:  # another node: node 0 records the run
        if failure:
            errors.print(f"[red]failed:[/] {escape(failure)}")
        return EXIT_FAILED if failure else EXIT_OK
    from engine.runs import RunStore

    run_dir = RunStore(args.runs_dir).root / run_id
    status, failure = _ending(run_dir, failure, first)
    if failure:
        errors.print(f"[red]failed:[/] {escape(failure)}")
        if run_dir.is_dir():
            errors.print(f"recorded as a failed run: cnnlab show {run_id}")
    elif status != "completed":
        console.print(f"run {run_id} ended {status}")
    return {"completed": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(status, EXIT_FAILED)


def _stop_with_the_engine() -> None:
    """When the engine launched this run ($CNNLAB_ENGINE_PID), stop the ranks if it dies:
    SIGTERM to this launcher, which torchrun passes on, so the run ends `interrupted` and
    resumable like the engine's own runs, and no orphan keeps GPUs a new engine hands out."""
    from engine.service.distributed_job import ENGINE_PID_ENV

    text = os.environ.get(ENGINE_PID_ENV, "").strip()
    if not text.isdigit():
        return

    def watch(engine: int) -> None:
        while os.getppid() == engine:
            time.sleep(ENGINE_CHECK_SECONDS)
        log.warning("the engine (pid %d) is gone: stopping the ranks", engine)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, args=(int(text),), name="engine watch", daemon=True).start()


def _run_ranks(args: argparse.Namespace, worker: list[str]) -> tuple[str | None, int | None]:
    """Run torchrun with the ranks' command: (None, None) when every rank exited 0, else
    (what went wrong first — the rank, and its exit code or signal —, that rank)."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    from engine.trainer.distributed import timeout_seconds

    options = ["--nproc-per-node", str(args.nproc_per_node), "--max-restarts", "0"]
    if args.nnodes > 1:
        options += [
            "--nnodes", str(args.nnodes), "--node-rank", str(args.node_rank),
            "--rdzv-backend", "static", "--rdzv-endpoint", str(args.rdzv_endpoint),
            "--rdzv-conf", f"timeout={max(1, round(timeout_seconds()))}",  # a missing node
        ]  # fmt: skip
    else:  # this machine alone, on its loopback (its host name need not resolve)
        options += ["--standalone", "--local-addr", "127.0.0.1"]
        if "lo" in {name for _, name in socket.if_nameindex()}:
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    options += ["--monitor-interval", "0.5", "-m", "engine.cli", *worker]
    from engine.trainer.distributed import source_on_path

    os.environ.update(source_on_path(os.environ))
    try:
        torchrun.run(torchrun.parse_args(options))
    except ChildFailedError as exc:
        return _describe(exc), exc.get_first_failure()[0]
    except KeyboardInterrupt:
        return "stopped with Ctrl-C", None
    except SignalException as exc:  # SIGINT / SIGTERM here: torchrun passed it to the ranks,
        log.info("ranks stopped by %s", exc.sigval)  # which end the run as cancelled /
        return None, None  # interrupted themselves (rank 0 records which)
    except Exception as exc:  # the rendezvous failed: a wrong endpoint, a node that never came
        return f"the processes could not be started ({type(exc).__name__}: {exc})", None
    return None, None


def _describe(exc: Any) -> str:
    """'rank 1 (pid 4242) was killed by SIGKILL; the run was stopped' for the first rank
    that failed (the others fail after it: their peer went away)."""
    rank, failure = exc.get_first_failure()
    if failure.exitcode < 0:
        how = f"was killed by {failure.signal_name()}"
    else:
        how = f"exited with code {failure.exitcode}"
    return f"rank {rank} (pid {failure.pid}) {how}; the run was stopped"


def _ending(run_dir: Path, failure: str | None, first: int | None) -> tuple[str, str | None]:
    """(the run's final status, what its failure is recorded as): a run that a rank's
    failure cut short is recorded `failed` with which rank and how (rank 0 may have been
    killed before it could write anything, or have written what its peers' going away did
    to it — then run.log keeps its words); when rank 0 itself failed, its own reason."""
    from engine.runs import read_run
    from engine.runs.writer import record_ending

    if not run_dir.is_dir():
        return "failed", failure
    record = read_run(run_dir)
    if failure is None:
        return record.status, None
    earlier = record.summary.get("error")
    if first == 0 and record.status == "failed" and earlier:  # rank 0 failed, and said why
        failure = f"rank 0 failed: {earlier}"
    if record.status in ("running", "interrupted", "failed"):  # rank 0's own words: run.log
        record_ending(run_dir, "failed", failure)
        return "failed", failure
    return record.status, failure


def start_rank(args: argparse.Namespace):
    """This process is a rank torchrun started: join the group (ConfigError for a person)."""
    from engine.cli.train_cmd import config_from_args
    from engine.trainer.distributed import Distributed

    return Distributed.start(config_from_args(args))
