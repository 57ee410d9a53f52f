"""One writer per run folder: an advisory lock held for the writer's lifetime.

The lock is `flock` on the run's `lock` file. The kernel drops it when the
holder dies however it dies (SIGKILL, OOM, power), so a held lock means a
live writer and a free one means nobody trains the run: no heartbeat guess.
The file also records who holds it (pid, host, command) for the messages and
for `aekl stop`. It is re-entrant within one process, because the CLI locks a
folder before it replaces or resumes it and the engine locks it again.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import RunError
from core.runfolder.safeio import check_own_file, open_folder

LOCK_NAME = "lock"
_held: dict[Path, list] = {}  # resolved lock path -> [fd, depth]


def _lock_path(folder: Path) -> Path:
    return Path(folder).resolve() / LOCK_NAME


def _open(path: Path, flags: int, dir_fd: int | None = None) -> int:
    # O_NOFOLLOW: never write through a symlink someone put in a run folder;
    # O_NONBLOCK: a FIFO in its place must not hang us.
    try:
        fd = os.open(path if dir_fd is None else LOCK_NAME, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     0o644, dir_fd=dir_fd)
    except OSError as exc:
        raise RunError(f"cannot open {path}: {exc.strerror}") from None
    if not _is_regular(fd):
        os.close(fd)
        raise RunError(f"{path} is not a regular file")
    return fd


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def holder(folder: Path) -> dict[str, Any] | None:
    """Who holds the folder's lock, or None when no live process does."""
    path = _lock_path(folder)
    if path in _held:
        return _info(os.getpid())
    if not path.is_file() or path.is_symlink():
        return None
    try:
        fd = _open(path, os.O_RDONLY)
    except RunError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            info = json.loads(os.read(fd, 4096) or b"{}")
        except (ValueError, OSError):
            info = {}
        return info if isinstance(info, dict) else {}
    finally:
        os.close(fd)  # also drops the shared lock, if we got it
    return None


def _info(pid: int) -> dict[str, Any]:
    return {"pid": pid, "host": socket.gethostname(), "since": time.time(), "argv": sys.argv[:8]}


def describe(info: dict[str, Any]) -> str:
    pid = info.get("pid", "?")
    host = info.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"process {pid}{where}"


def acquire(folder: Path, wait: float = 1.0) -> None:
    """Take the folder's lock or raise RunError naming the holder.

    Waits up to `wait` seconds: a reader's liveness check holds a shared lock
    for a moment and must not make a writer fail.
    """
    path = _lock_path(folder)
    if path in _held:
        _held[path][1] += 1
        return
    # The lock is opened inside the folder as opened without following a link:
    # a run folder that is a link to another is refused before anything in it is written.
    dir_fd = open_folder(Path(folder))
    try:
        fd = _open(path, os.O_RDWR | os.O_CREAT, dir_fd)
    finally:
        os.close(dir_fd)
    try:
        # We rewrite the file below: a hard link would carry that into
        # someone else's file.
        check_own_file(fd, path)
    except RunError:
        os.close(fd)
        raise
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                try:
                    info = json.loads(os.pread(fd, 4096, 0) or b"{}")
                except (ValueError, OSError):
                    info = {}
                os.close(fd)
                who = describe(info) if isinstance(info, dict) else "another process"
                raise RunError(f"run {Path(folder).name} is in use by {who}; "
                               "wait for it to finish or stop it first") from None
            time.sleep(0.05)
    body = json.dumps(_info(os.getpid())).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, body, 0)
    _held[path] = [fd, 1]


def release(folder: Path) -> None:
    path = _lock_path(folder)
    entry = _held.get(path)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _held[path]
        os.close(entry[0])  # closing drops the flock; the file stays for the next writer


def held_fd(folder: Path) -> int | None:
    """The descriptor of the folder's lock if this process holds it: a child given
    it (subprocess's pass_fds) holds the same lock until it exits."""
    entry = _held.get(_lock_path(folder))
    return entry[0] if entry else None


class Locked:
    """`with Locked(folder):` holds the lock for the block, released on every exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __enter__(self) -> "Locked":
        acquire(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        release(self.folder)
