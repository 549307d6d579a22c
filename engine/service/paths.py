"""Where one runs folder's engine keeps its files: `<runs>/.engine/`.

    lock          held (flock) by the one engine of this runs folder for its whole life
    engine.sock   the owner-only Unix socket clients connect to (or see `socket-path`)
    socket-path   where the socket is when the runs folder's path is too long for AF_UNIX
    engine.json   the live engine's pid, socket and start time; removed on a clean exit,
                  so one left behind with a dead pid means the engine died
    queue.json    the waiting queue (engine.service.queue_store)
    engine.log    the detached engine's stdout and stderr

The folder is hidden, so the run store never lists it as a run (`is_run_name`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CnnlabError

ENGINE_DIR = ".engine"
# sun_path holds 108 bytes with its terminating NUL; keep a margin for odd platforms.
MAX_SOCKET_PATH = 100


class EngineError(CnnlabError):
    """Something about the background engine a person should hear: not running, would not
    start, speaks another protocol version, refused a request."""


@dataclass(frozen=True)
class EnginePaths:
    """The engine files of one runs folder (`runs_dir` is made absolute)."""

    runs_dir: Path

    @classmethod
    def of(cls, runs_dir: Path | str) -> EnginePaths:
        return cls(Path(os.path.abspath(Path(runs_dir).expanduser())))

    @property
    def folder(self) -> Path:
        return self.runs_dir / ENGINE_DIR

    @property
    def lock(self) -> Path:
        return self.folder / "lock"

    @property
    def info(self) -> Path:
        return self.folder / "engine.json"

    @property
    def previous_info(self) -> Path:
        return self.folder / "previous.json"

    @property
    def queue(self) -> Path:
        return self.folder / "queue.json"

    @property
    def log(self) -> Path:
        return self.folder / "engine.log"

    @property
    def socket_record(self) -> Path:
        return self.folder / "socket-path"

    @property
    def default_socket(self) -> Path:
        return self.folder / "engine.sock"

    def ensure_folder(self) -> Path:
        """Create `<runs>/.engine` owner-only (0700), the runs folder too if needed."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.folder, 0o700)
        return self.folder

    def socket(self) -> Path:
        """Where clients connect: the recorded path when there is one, else the default."""
        try:
            recorded = self.socket_record.read_text(encoding="utf-8").strip()
        except OSError:
            recorded = ""
        return Path(recorded) if recorded else self.default_socket

    def choose_socket(self) -> Path:
        """The socket path a starting engine binds (and records when it is not the default):
        `<runs>/.engine/engine.sock`, or, when that path is too long for AF_UNIX, a file in
        a short owner-only folder of this user's named by a hash of the runs folder."""
        if len(os.fsencode(self.default_socket)) <= MAX_SOCKET_PATH:
            self.socket_record.unlink(missing_ok=True)
            return self.default_socket
        digest = hashlib.sha256(os.fsencode(self.runs_dir)).hexdigest()[:16]
        path = short_socket_dir() / f"{digest}.sock"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise EngineError(f"no short enough folder for the engine's socket (tried {path})")
        self.socket_record.write_text(f"{path}\n", encoding="utf-8")
        return path


def short_socket_dir() -> Path:
    """An owner-only (0700) folder of this user's with a short path: under
    $XDG_RUNTIME_DIR when it is set and short, else /tmp/cnnlab-<uid>. One that exists but
    belongs to someone else, or is a link, is refused (someone could read the socket)."""
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime) and len(runtime) < 40:
        folder = Path(runtime) / "cnnlab"
    else:
        folder = Path(tempfile.gettempdir()) / f"cnnlab-{uid}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        raise EngineError(f"{folder} is not a folder of this user's; cannot put the socket there")
    os.chmod(folder, 0o700)
    return folder
