"""Keep decoded images on disk so each data set is decoded once per image size.

A cache file is `torch.save` of the uint8 tensor plus names and skipped files. Its key
hashes the relative file list, every file's size and mtime, the image size, the resize
mode (`letterbox` caches are their own kind, `classes-letterbox`, so the stretch caches
keep their keys and names) and the loader version: touching, adding or removing a file (or
changing the decoder) misses the cache instead of serving stale pixels.

Caches live in the user's cache folder, never in the data: `$CNNLAB_CACHE` (also set by
`--cache-dir`), else `$XDG_CACHE_HOME/cnnlab`, else `~/.cache/cnnlab`, one sub-folder per
data set (`<name>-<hash of its path>`). A data folder may be shared, read-only, or read by
torchvision's `ImageFolder` (for which a hidden cache folder would be one more class), so
nothing is ever written there. Caches that older versions left in `<data set>/.cnnlab-cache/`
are still read, never written.
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
# 16-bit PNG/TIFF files are scaled to 8 bits since this version (they used to saturate):
# only file lists holding such formats carry the mark in their key, so JPEG-only caches
# (the lab's data sets) keep their keys and stay valid.
HIGH_DEPTH_MARK = "16-bit-scaled"
HIGH_DEPTH_SUFFIXES = (".png", ".tif", ".tiff")
LEGACY_DIRNAME = ".cnnlab-cache"  # inside data folders, written before version 0.2
CACHE_ENV = "CNNLAB_CACHE"


def user_cache_dir() -> Path:
    """The cache root: `$CNNLAB_CACHE`, else `$XDG_CACHE_HOME/cnnlab`, else ~/.cache/cnnlab."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cnnlab"


def use_cache_dir(folder: str | os.PathLike) -> None:
    """Make `folder` the cache root for this process and the ones it starts (`--cache-dir`)."""
    os.environ[CACHE_ENV] = str(Path(folder).expanduser())


def _path_bytes(path: Path | str) -> bytes:
    """A path as the bytes the OS has: names that are not UTF-8 keep their raw bytes."""
    return os.fsencode(str(path))


def cache_folder(dataset_dir: Path) -> Path:
    """Where a data set's cache files are written."""
    resolved = dataset_dir.resolve()
    digest = hashlib.sha256(_path_bytes(resolved)).hexdigest()[:12]
    name = os.fsencode(resolved.name).decode("utf-8", "replace").replace("\ufffd", "_")
    return user_cache_dir() / f"{name}-{digest}"


def cache_locations(dataset_dir: Path) -> list[Path]:
    """Where a data set's cache may be read from, in order (only the first is written)."""
    return [cache_folder(dataset_dir), dataset_dir.resolve() / LEGACY_DIRNAME]


def _decoder_header(names: Sequence[str], image_size: int, kind: str) -> dict:
    """What the decoder's output depends on besides the files themselves."""
    header = {"kind": kind, "image_size": image_size, "loader_version": LOADER_VERSION}
    if any(str(n).lower().endswith(HIGH_DEPTH_SUFFIXES) for n in names):
        header["decoder"] = HIGH_DEPTH_MARK
    return header


def fingerprint(base: Path, names: Sequence[str], image_size: int, kind: str) -> str:
    """Hash of what decoding depends on: names, sizes, mtimes, size, kind, loader version."""
    digest = hashlib.sha256()
    digest.update(json.dumps(_decoder_header(names, image_size, kind), sort_keys=True).encode())
    for name in names:
        stat = (base / name).stat()
        digest.update(b"\n" + _path_bytes(name))
        digest.update(f"\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
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
    """Write the decode to the user cache folder; None when it cannot be written."""
    payload = {
        "key": key,
        "names": decoded.names,
        "images": decoded.images,
        "skipped": [list(item) for item in decoded.skipped],
    }
    folder = cache_folder(dataset_dir)
    name = _file_name(kind, image_size, key)
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
    except (OSError, RuntimeError) as error:  # torch reports a full disk as RuntimeError
        log.warning(
            "cannot write the decode cache in %s (%s); images will be decoded again next "
            "time (set --cache-dir or $%s to a writable folder)",
            folder,
            error,
            CACHE_ENV,
        )
        return None
    _remove_stale(folder, kind, image_size, keep=name)
    log.debug("cached %d image(s) in %s", len(decoded.names), folder / name)
    return folder / name


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
