"""The `cnnlab` console script.

With a sub-command (`cnnlab train …`) it runs the headless engine CLI; with none (or only
`--data-root` / `--runs-dir` / `--cache-dir`) it opens the dashboard. Living in the UI
package keeps the engine free of UI imports.
"""

from __future__ import annotations

import argparse
import sys


def _dashboard_args(argv: list[str]) -> argparse.Namespace | None:
    """Parse argv as dashboard options; None when argv names a CLI command instead."""
    parser = argparse.ArgumentParser(prog="cnnlab", add_help=False)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--cache-dir", default=None)
    args, rest = parser.parse_known_args(argv)
    return None if rest else args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    dash = _dashboard_args(argv)
    if dash is None:
        from engine.cli import main as cli_main

        return cli_main(argv)
    if dash.cache_dir:
        from engine.datasets.cache import use_cache_dir

        use_cache_dir(dash.cache_dir)
    from cnnlab_tui.app import run_app

    return run_app(data_root=dash.data_root, runs_dir=dash.runs_dir)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
