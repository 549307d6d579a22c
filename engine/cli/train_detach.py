"""`cnnlab train … --detach`: queue the run in the background engine and return.

The config is built exactly as a foreground train builds it (defaults ← preset ← flags) and
sent as a dict; the engine validates it (so this command loads no torch, unless
`--download-weights` has torchvision weights to fetch first) and its field → message errors
print like the foreground's. `--resume RUN --epochs N --detach` queues the
continuation of RUN up to N epochs in all, with any other flag a resume may change.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def submit_detached(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from engine.cli.engine_common import connect, runs_dir_of
    from engine.cli.train_cmd import _print_config_errors, flag_overrides
    from engine.errors import CnnlabError, ConfigError

    try:
        request = _request(args, runs_dir_of(args), flag_overrides)
        if getattr(args, "download_weights", False) and request["kind"] == "run":
            _fetch_weights(request["config"], errors)
        with connect(args, errors, start=True) as engine:
            if request["kind"] == "resume":
                entry = engine.submit_resume(
                    request["run_id"], request["epochs"], request["overrides"]
                )
            else:
                entry = engine.submit_run(request["config"])
    except ConfigError as exc:
        _print_config_errors(errors, exc.errors)
        return EXIT_CONFIG
    except CnnlabError as exc:
        errors.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        return EXIT_FAILED
    where = "running now" if entry.get("state") != "queued" else f"#{entry.get('position')}"
    console.print(
        f"queued [bold]{entry['queue_id']}[/] on lane {entry.get('lane')} ({where}): "
        f"{entry.get('label')}"
    )
    console.print(
        f"follow it: cnnlab watch {entry['queue_id']}    the queue: cnnlab queue    "
        f"cancel: cnnlab queue cancel {entry['queue_id']}"
    )
    return EXIT_OK


def _fetch_weights(config: dict[str, Any], errors: Console) -> None:
    """`--download-weights`: fetch the torchvision weights the run needs here, with torch
    hub's progress bar, before it is queued (the engine itself never downloads)."""
    from engine.transfer.hub import download_weights, missing_weights

    name = missing_weights(str(config.get("init_from") or ""))
    if name is not None:
        errors.print(f"downloading the torchvision:{name} weights (hash-checked)…")
        download_weights(name, progress=True)


def _request(args: argparse.Namespace, runs_dir, flag_overrides) -> dict[str, Any]:
    from engine.errors import ConfigError

    overrides = flag_overrides(args)
    if args.resume:
        from engine.runs import RunStore

        if args.preset:
            raise ConfigError({"preset": "cannot be combined with --resume"})
        run_id = RunStore(runs_dir).resolve(args.resume).name
        if "epochs" not in overrides:
            raise ConfigError({"epochs": "--resume … --detach needs --epochs N (the total)"})
        epochs = overrides.pop("epochs")
        return {"kind": "resume", "run_id": run_id, "epochs": epochs, "overrides": overrides}
    from engine.cli.train_cmd import config_from_args

    config = config_from_args(args).to_dict()
    root = config.get("data_root")
    if isinstance(root, str) and root and not os.path.isabs(os.path.expanduser(root)):
        # The engine may run in another folder: a relative path means this one.
        config["data_root"] = os.path.abspath(os.path.expanduser(root))
    return {"kind": "run", "config": config}
