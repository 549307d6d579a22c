"""`--cache-dir DIR`, shared by the commands that decode data (train, sweep, datasets)."""

from __future__ import annotations

import argparse


def add_cache_flag(parser: argparse.ArgumentParser) -> None:
    """`--cache-dir DIR`: where decoded images are cached (never inside a data folder)."""
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="decode cache folder (default $CNNLAB_CACHE, else $XDG_CACHE_HOME/cnnlab or "
        "~/.cache/cnnlab)",
    )


def use_cache_flag(args: argparse.Namespace) -> None:
    """Apply `--cache-dir` for this process (through the variable the cache reads)."""
    if getattr(args, "cache_dir", None):
        from engine.datasets.cache import use_cache_dir

        use_cache_dir(args.cache_dir)
