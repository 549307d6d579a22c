"""Where `engine.use` writes inside a run: only into a run folder of the runs root.

Reading a run by path is fine anywhere, but evaluations and explanations are written into
the run, so the reference must resolve (by id) to a folder directly inside the runs root.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import RunStoreError
from engine.runs import RunStore


def writable_run_dir(store: RunStore, ref: str) -> Path:
    """The run folder for `ref` inside `store.root`; `RunStoreError` for anything else."""
    if not str(ref).strip():
        raise RunStoreError("name a run (an id, a unique part of one, or 'latest')")
    path = store.resolve(str(ref))
    root = store.root.resolve()
    if path.resolve().parent != root:
        raise RunStoreError(
            f"{path} is not a run folder inside the runs folder {root}: commands that write "
            "into a run only act on runs there (pass --runs-dir to name another runs folder)"
        )
    return root / path.name


def inside_run(run_dir: Path, path: Path) -> Path:
    """`path` when it lies inside `run_dir` (guards names built from data, e.g. class names)."""
    resolved = path.resolve()
    if run_dir.resolve() not in resolved.parents:
        raise RunStoreError(f"refusing to write {path}: it is outside the run folder {run_dir}")
    return path
