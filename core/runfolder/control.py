"""Stop a run that trains in another process, safely.

The `lock` file names a pid, but anyone who can write the run folder can
write any pid there, so it is only a claim. A signal goes to that process
only when it is proven to be the run's trainer, right before the signal:

- the pid is a plain int (not a bool: True is 1), above 1 and within the
  kernel's pid range;
- its command line is aekl's (train, or a sweep);
- it holds the flock on this very lock file (/proc/locks names the holder's
  pid and the file's inode), or, where the kernel does not say, has the file
  open (/proc/<pid>/fd);
- and that file is this folder's own: the folder is not a link, and the lock
  is a regular file with one name (a hard link planted in a crafted folder
  would otherwise lend it another run's trainer).

The process is pinned with a pidfd before the checks, so a pid that is freed
and reused between the checks and the signal cannot receive it.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from pathlib import Path

from core.errors import RunError
from core.runfolder.lock import LOCK_NAME, holder
from core.runfolder.runs import Run

PID_MAX_DEFAULT = 1 << 22  # Linux's largest pid_max


def _pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max", "rb") as f:
            return int(f.read(32))
    except (OSError, ValueError):
        return PID_MAX_DEFAULT


def valid_pid(pid: object) -> bool:
    """A pid another process may have: an int, not a bool, not init, not us."""
    return (type(pid) is int and 1 < pid <= _pid_max()  # type(), not isinstance: True is an int
            and pid != os.getpid())


def trainer_pid(run: Run) -> int:
    """The pid of the live aekl process training `run`; RunError otherwise."""
    info = holder(run.path)
    if info is None:
        raise RunError(f"run {run.id} is not training (status: {run.state()})")
    pid, host = info.get("pid"), info.get("host")
    if not valid_pid(pid):
        raise RunError(f"run {run.id}: its lock does not name a training process (pid {_show(pid)}); "
                       "nothing signalled")
    if isinstance(host, str) and host and host != socket.gethostname():
        raise RunError(f"run {run.id} trains on {host[:64]}; stop it there")
    if not is_trainer(pid, run.path):
        raise RunError(f"process {pid} recorded for run {run.id} is not an aekl training of it; nothing signalled")
    return pid


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def is_trainer(pid: int, folder: Path) -> bool:
    """Whether `pid` runs aekl and holds the run's lock (see the module's doc)."""
    lock = Path(folder) / LOCK_NAME
    try:
        st = os.stat(lock, follow_symlinks=False)
    except OSError:
        return False
    if os.path.islink(folder) or not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        return False  # not this folder's own lock
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").is_dir():
        return _exists(pid)  # no /proc (macOS): the lock is held and the pid is alive
    if not _aekl_cmdline(proc):
        return False
    held = _flock_holders(st.st_dev, st.st_ino)
    if held is not None:
        return pid in held
    return _has_open(proc, st.st_dev, st.st_ino)


def _aekl_cmdline(proc: Path) -> bool:
    try:
        with open(proc / "cmdline", "rb") as f:
            argv = f.read(1 << 16).split(b"\0")
    except OSError:
        return False
    words = [a.decode(errors="replace") for a in argv]
    if "train" not in words and not any(w.endswith("sweep") for w in words):
        return False
    return any("aekl" in w or "core.cli" in w or "core" == w for w in words)


def _flock_holders(dev: int, ino: int) -> set[int] | None:
    """Pids /proc/locks names as holding a FLOCK on (dev, ino); None if unreadable."""
    want = f"{os.major(dev):02x}:{os.minor(dev):02x}:{ino}"
    try:
        with open("/proc/locks", "rb") as f:
            lines = f.read(1 << 22).decode(errors="replace").splitlines()
    except OSError:
        return None
    pids = set()
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; blocked waiters have "->" first
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == want:
            try:
                pids.add(int(parts[4]))
            except ValueError:
                pass
    return pids


def _has_open(proc: Path, dev: int, ino: int) -> bool:
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            st = os.stat(fd)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (dev, ino):
            return True
    return False


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def request_stop(run: Run) -> int:
    """Ask the trainer of `run` to stop after its current step (SIGTERM); return its pid."""
    pid = trainer_pid(run)
    pidfd = _pidfd(pid)
    try:
        # Checked again with the process pinned: the pid cannot be reused now.
        if pidfd is not None and not is_trainer(pid, run.path):
            raise RunError(f"process {pid} recorded for run {run.id} is not an aekl training of it; "
                           "nothing signalled")
        try:
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            raise RunError(f"run {run.id}: its trainer (process {pid}) has just ended; nothing signalled") from None
        except PermissionError:
            raise RunError(f"not allowed to signal process {pid} of run {run.id}") from None
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return pid


def _pidfd(pid: int) -> int | None:
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise RunError(f"process {pid} has just ended; nothing signalled") from None
    except OSError:
        return None  # an old kernel without pidfd


def wait_stopped(run: Run, timeout: float) -> bool:
    """True once nobody holds the run's lock (the trainer wrote its files and left)."""
    end = time.monotonic() + timeout
    while holder(run.path) is not None:
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True
