"""Writes that stay inside a run folder and survive a kill at any moment.

A run folder may be shared or edited by hand, so anything in it may have been
swapped for a symlink, a hard link to someone's file, a FIFO or a folder.
Every write aekl makes goes through here:

- folders are opened with O_NOFOLLOW | O_DIRECTORY and files relative to
  that descriptor (`dir_fd`), so no path component we create is followed;
- a new version is written to a temp name made fresh with O_EXCL (never a
  fixed name someone could plant a link at) and renamed over the old one;
  rename replaces a link itself, never what it points to;
- files written in place (appended logs, the lock) must be regular files
  with one link: a hard link would carry our bytes into someone else's file;
- clean-up removes only names of our temp pattern and never follows links.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from core.errors import RunError

# Temp names: "." + target name + "." + random hex + ".tmp". Older aekl
# versions also left ".latent.tmp.gif"-style names; both are ours to remove.
TEMP_NAME = re.compile(r"^\..+\.(tmp|tmp\.gif)$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def open_folder(path: Path) -> int:
    """A descriptor of the folder `path`; RunError if it is a link or not a folder."""
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise _folder_error(path, exc) from None


def _folder_error(path: Path, exc: OSError) -> RunError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        kind = "a link" if os.path.islink(path) else "not a folder"
        return RunError(f"{path} is {kind}, not a folder aekl made; not writing there")
    return RunError(f"cannot open folder {path}: {_why(exc)}")


def open_subfolder(dir_fd: int, name: str, where: Path, create: bool = True) -> int:
    """A descriptor of the subfolder `name` of `dir_fd`, made if missing; never a link."""
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise RunError(f"cannot create {where / name}: {_why(exc)}") from None
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _folder_error(where / name, exc) from None


@contextmanager
def folder_of(path: Path) -> Iterator[int]:
    """`with folder_of(file) as fd:` the descriptor of the file's folder (not a link)."""
    fd = open_folder(Path(path).parent)
    try:
        yield fd
    finally:
        os.close(fd)


def temp_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(6)}.tmp"


def write_in(dir_fd: int, name: str, write: Callable[[object], None], where: Path) -> None:
    """Write `name` in the folder `dir_fd` atomically: a fresh O_EXCL temp file,
    fsync, rename. A reader sees the old file or the new one, never a prefix."""
    _refuse_folder(dir_fd, name, where)
    tmp = temp_name(name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                     dir_fd=dir_fd)
    except OSError as exc:
        raise RunError(f"cannot write {where / name}: {_why(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        _unlink_quietly(dir_fd, tmp)
        raise RunError(f"cannot write {where / name}: {_why(exc)}") from None
    except BaseException:
        _unlink_quietly(dir_fd, tmp)
        raise


def _refuse_folder(dir_fd: int, name: str, where: Path) -> None:
    """A folder in place of a file is not replaced (rename would fail or, empty, remove it)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise RunError(f"cannot write {where / name}: {_why(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise RunError(f"cannot write {where / name}: a folder is in its place")


def atomic_write(path: Path, write: Callable[[object], None]) -> Path:
    """Write `path` atomically; its folder must not be a link."""
    path = Path(path)
    with folder_of(path) as dir_fd:
        write_in(dir_fd, path.name, write, path.parent)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def open_in_place(dir_fd: int, name: str, flags: int, where: Path) -> int:
    """Open a file that is written in place (an appended log, a lock).

    It must be a regular file with one link; a FIFO must not block us (O_NONBLOCK)."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunError(f"{where / name} is a link, not a file aekl made; not writing it") from None
        raise RunError(f"cannot open {where / name}: {_why(exc)}") from None
    try:
        check_own_file(fd, where / name)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_own_file(fd: int, path: Path) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise RunError(f"{path} is not a regular file; not writing it")
    if st.st_nlink > 1:
        raise RunError(f"{path} is a hard link shared with another file; not writing it (remove it if it "
                       "is not needed)")


def append_to(path: Path, data: bytes, sync: bool = True) -> None:
    """Append whole bytes to `path` (made if missing), refusing links."""
    path = Path(path)
    with folder_of(path) as dir_fd:
        fd = open_in_place(dir_fd, path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, path.parent)
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    except OSError as exc:
        raise RunError(f"cannot write {path}: {_why(exc)}") from None
    finally:
        os.close(fd)


def open_append(path: Path):
    """A binary file object appending to `path` (a log kept open), refusing links."""
    path = Path(path)
    with folder_of(path) as dir_fd:
        fd = open_in_place(dir_fd, path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, path.parent)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab", buffering=0)


def remove_in(dir_fd: int, name: str) -> bool:
    """Remove the entry `name` (a link is removed, never followed); False if absent."""
    try:
        if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return False
        os.unlink(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def clean_temps_in(dir_fd: int) -> int:
    """Remove our temp files from one folder; returns how many."""
    count = 0
    for entry in os.scandir(dir_fd):
        if TEMP_NAME.match(entry.name) and not entry.is_dir(follow_symlinks=False):
            _unlink_quietly(dir_fd, entry.name)
            count += 1
    return count


def clean_temps(folder: Path, subfolders: tuple[str, ...] = ()) -> int:
    """Remove temp files a killed writer left in `folder` and its named
    subfolders (ones that are links are skipped, not followed)."""
    try:
        dir_fd = open_folder(folder)
    except RunError:
        return 0
    try:
        count = clean_temps_in(dir_fd)
        for name in subfolders:
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                count += clean_temps_in(sub)
            finally:
                os.close(sub)
        return count
    except OSError:
        return 0
    finally:
        os.close(dir_fd)


def check_writable(folder: Path, what: str = "output") -> None:
    """RunError now if `folder` will not take a file (read-only, full of
    inodes, not ours to write): a long job must not find out at its end."""
    folder = Path(folder)
    dir_fd = open_folder(folder)
    try:
        name = temp_name("probe")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=dir_fd)
        except OSError as exc:
            raise RunError(f"cannot write the {what} in {folder}: {_why(exc)}") from None
        os.close(fd)
        _unlink_quietly(dir_fd, name)
    finally:
        os.close(dir_fd)
