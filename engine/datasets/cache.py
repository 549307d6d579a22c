"""Keep decoded images on disk so each data set is decoded once per image size.

A cache file is `torch.save` of the uint8 tensor plus names and skipped files. Its key
hashes the relative file list, every file's size and mtime, the image size, the resize
mode (`letterbox` caches are their own kind, `classes-letterbox`, so the stretch caches
keep their keys and names) and `LOADER_VERSION`: touching, adding or removing a file (or
changing the decoder) misses the cache instead of serving stale pixels. The file lives in
`<data set>/.cnnlab-cache/` when that folder is writable and otherwise under the user cache
(`$CNNLAB_CACHE`, else `$XDG_CACHE_HOME/cnnlab`, else `~/.cache/cnnlab`) — read-only
shared data sets still decode only once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from engine.datasets.decode import DecodedImages, ProgressFn, check_resize, decode_files

log = logging.getLogger(__name__)

# Bump when decoding changes (resize filter, draft use…) so old caches are not reused.
LOADER_VERSION = 2
CACHE_DIRNAME = ".cnnlab-cache"


def user_cache_dir() -> Path:
    """Fallback cache root for data sets whose own folder is read-only."""
    if os.environ.get("CNNLAB_CACHE"):
        return Path(os.environ["CNNLAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cnnlab"


def cache_locations(dataset_dir: Path) -> list[Path]:
    """Where a data set's cache may live, in the order they are tried."""
    resolved = dataset_dir.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return [resolved / CACHE_DIRNAME, user_cache_dir() / f"{resolved.name}-{digest}"]


def fingerprint(base: Path, names: Sequence[str], image_size: int, kind: str) -> str:
    """Hash of what decoding depends on: names, sizes, mtimes, size, kind, loader version."""
    digest = hashlib.sha256()
    header = {"kind": kind, "image_size": image_size, "loader_version": LOADER_VERSION}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name in names:
        stat = (base / name).stat()
        digest.update(f"\n{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_kind(kind: str, resize: str = "stretch") -> str:
    """The cache kind for a decode: `kind` for stretch, `kind-<mode>` otherwise.

    A separate kind gives other modes their own key and file name, and stale-file removal
    (same kind and size) never deletes another mode's cache.
    """
    check_resize(resize)
    return kind if resize == "stretch" else f"{kind}-{resize}"


def _file_name(kind: str, image_size: int, key: str) -> str:
    return f"{kind}-{image_size}px-{key[:24]}.pt"


def load_cache(dataset_dir: Path, kind: str, image_size: int, key: str) -> DecodedImages | None:
    """The cached decode for `key`, or None (missing, unreadable or stale files are ignored)."""
    for folder in cache_locations(dataset_dir):
        path = folder / _file_name(kind, image_size, key)
        if not path.is_file():
            continue
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("key") != key:
                continue
            skipped = [(str(name), str(reason)) for name, reason in payload["skipped"]]
            log.debug("cache hit: %s", path)
            return DecodedImages(list(payload["names"]), payload["images"], skipped)
        except Exception as error:  # a damaged cache is only a miss, never a failure
            log.warning("ignoring unreadable cache file %s: %s", path, error)
    return None


def save_cache(
    dataset_dir: Path, kind: str, image_size: int, key: str, decoded: DecodedImages
) -> Path | None:
    """Write the decode to the first writable cache location; None when none is writable."""
    payload = {
        "key": key,
        "names": decoded.names,
        "images": decoded.images,
        "skipped": [list(item) for item in decoded.skipped],
    }
    name = _file_name(kind, image_size, key)
    for folder in cache_locations(dataset_dir):
        if not _may_write(folder):
            log.debug("cache folder %s is read-only; trying the next", folder)
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pt")
            os.close(handle)
            try:
                torch.save(payload, temp)
                os.chmod(temp, 0o644)  # mkstemp makes 0600; a shared cache must be readable
                os.replace(temp, folder / name)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        except OSError as error:
            log.debug("cache folder %s not writable (%s); trying the next", folder, error)
            continue
        _remove_stale(folder, kind, image_size, keep=name)
        log.debug("cached %d image(s) in %s", len(decoded.names), folder / name)
        return folder / name
    log.warning("no writable cache folder for %s; images will be decoded again", dataset_dir)
    return None


def _may_write(folder: Path) -> bool:
    """Whether we should write into `folder` (or create it in its nearest existing parent).

    Mode bits count, not only `os.access`: root may write anywhere, but a folder with no
    write bit at all (a shared, read-only data set) is meant to be left alone.
    """
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    if not existing.is_dir():
        return False
    return os.access(existing, os.W_OK) and bool(existing.stat().st_mode & 0o222)


def _remove_stale(folder: Path, kind: str, image_size: int, keep: str) -> None:
    """Old caches of the same kind and size can never hit again once files changed."""
    for old in folder.glob(f"{kind}-{image_size}px-*.pt"):
        if old.name != keep:
            with contextlib.suppress(OSError):
                old.unlink()


def decode_cached(
    dataset_dir: Path,
    names: Sequence[str],
    image_size: int,
    *,
    kind: str,
    progress: ProgressFn | None = None,
    label: str = "images",
    use_cache: bool = True,
    resize: str = "stretch",
) -> DecodedImages:
    """`decode_files(dataset_dir, names, …)`, served from the cache when it is current.

    `label` names the work in progress messages ("decoding vehicles (32 px)"); `resize` is
    a `decode.RESIZE_MODES` entry.
    """
    message = f"decoding {label}"
    kind = cache_kind(kind, resize)

    def decode() -> DecodedImages:
        return decode_files(
            dataset_dir, names, image_size, progress=progress, message=message, resize=resize
        )

    if not use_cache:
        return decode()
    key = fingerprint(dataset_dir, names, image_size, kind)
    cached = load_cache(dataset_dir, kind, image_size, key)
    if cached is not None:
        if progress:
            progress(len(names), len(names), f"{label}: loaded from cache")
        return cached
    decoded = decode()
    save_cache(dataset_dir, kind, image_size, key, decoded)
    return decoded
