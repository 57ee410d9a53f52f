"""Bounded reads of run-folder files: never a FIFO, a link or a 3 GB line.

Every open is non-blocking (a FIFO in place of a file must not hang a
reader) and refuses links (a run folder's files are aekl's own, never
links). Sizes are checked before reading, and reads ask for what the file
holds, not for the limit, so a reader never reserves memory it does not need.
`Tail` keeps a growing file open and hands out only the whole lines that are
new since the last call.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from pathlib import Path
from typing import Any

from core.errors import RunError
from core.runfolder.schema import (MAX_HISTORY_BYTES, MAX_JSON_BYTES, MAX_LINE_BYTES, Damaged, HistoryRecord,
                                   parse_history, parse_json)

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 16


def open_regular(path: Path, limit: int, follow: bool = False) -> tuple[int, os.stat_result]:
    """An fd of a regular file of at most `limit` bytes; RunError (missing) or Damaged.
    `follow` allows a link: for a file the user names, not one in a run folder."""
    try:
        fd = os.open(path, _FLAGS & ~os.O_NOFOLLOW if follow else _FLAGS)
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Damaged(str(path), "a link, not a file aekl wrote") from None
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Damaged(str(path), "not a regular file")
    if st.st_size > limit:
        os.close(fd)
        raise Damaged(str(path), f"{st.st_size:,} bytes, more than aekl writes ({limit:,})")
    return fd, st


def read_bytes(path: Path, limit: int = MAX_JSON_BYTES, follow: bool = False) -> bytes:
    fd, st = open_regular(path, limit, follow)
    try:
        parts, left = [], min(st.st_size, limit) + 1  # +1: see a file that grew past the limit
        while left > 0:
            chunk = os.read(fd, min(left, CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(parts)
    if len(data) > limit:
        raise Damaged(str(path), f"more than {limit:,} bytes")
    return data


def read_json_file(path: Path, limit: int = MAX_JSON_BYTES, follow: bool = False) -> Any:
    return parse_json(read_bytes(path, limit, follow), str(path))


def load_history(path: Path, latent: int | None) -> HistoryRecord:
    """history/epoch-NNNN.npz, bounded and checked (no pickles: allow_pickle=False)."""
    return parse_history(read_npz(path), str(path), latent)


def read_npz(path: Path) -> dict[str, Any]:
    """The arrays of a run folder's .npz (its first 16), bounded and checked: no
    pickles, no more bytes declared than the file may hold; Damaged otherwise."""
    import numpy as np

    fd, _ = open_regular(path, MAX_HISTORY_BYTES)
    try:
        with os.fdopen(fd, "rb") as f:
            _check_declared_sizes(f, path)
            f.seek(0)
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k] for k in z.files[:16]}
    except Damaged:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, npy header and cut data all mean damage
        raise Damaged(str(path), f"not an archive aekl wrote ({type(exc).__name__})") from None


def _check_declared_sizes(f, path: Path) -> None:
    """Damaged if the arrays' own headers declare more bytes than such a file may
    hold (MAX_HISTORY_BYTES): a deflated file of a megabyte can declare gigabytes,
    which loading would allocate. For the .npz files of a run folder."""
    import zipfile

    import numpy as np

    total = 0
    with zipfile.ZipFile(f) as archive:
        for name in archive.namelist()[:16]:
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(member)
            total += math.prod(shape) * dtype.itemsize
            if total > MAX_HISTORY_BYTES:
                raise Damaged(str(path), f"its arrays declare more than {MAX_HISTORY_BYTES:,} bytes")


class Tail:
    """A growing file of JSON lines, read from where the last call stopped.

    `read()` returns the whole lines written since, each with its 1-based
    line number; a last line without its newline waits for the rest. When the
    file is replaced or shrinks (a resume rewrote it) `reset` is set and the
    lines returned are the new file's, from its first.
    """

    def __init__(self, path: Path, limit: int, max_line: int = MAX_LINE_BYTES) -> None:
        self.path, self.limit, self.max_line = Path(path), limit, max_line
        self.fd: int | None = None
        self.ino = None
        self.offset = 0  # bytes consumed into whole lines
        self.partial = b""
        self.lines = 0  # whole lines handed out
        self.reset = False

    def read(self) -> list[tuple[int, bytes]]:
        self.reset = False
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            if self.fd is not None or self.offset:
                self._restart()
            return []
        except OSError as exc:
            raise RunError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if self.fd is not None and (st.st_ino != self.ino or st.st_size < self.offset + len(self.partial)):
            self._restart()
        if self.fd is None:
            self.fd, opened = open_regular(self.path, self.limit)
            self.ino = opened.st_ino
        elif st.st_size == self.offset + len(self.partial):
            return []  # nothing new: no read at all
        elif st.st_size > self.limit:
            raise Damaged(str(self.path), f"{st.st_size:,} bytes, more than aekl writes ({self.limit:,})")
        return self._lines()

    def _lines(self) -> list[tuple[int, bytes]]:
        out = []
        while True:
            try:
                chunk = os.read(self.fd, CHUNK)
            except OSError as exc:
                raise RunError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            if not chunk:
                return out
            data = self.partial + chunk
            *whole, self.partial = data.split(b"\n")
            for line in whole:
                self.lines += 1
                self.offset += len(line) + 1
                out.append((self.lines, line))
            if len(self.partial) > self.max_line:
                raise Damaged(f"{self.path}: line {self.lines + 1}", f"longer than {self.max_line:,} bytes")

    def _restart(self) -> None:
        self.restart()
        self.reset = True

    def restart(self) -> None:
        """Read from the first line again at the next call."""
        self.close()
        self.offset, self.partial, self.lines = 0, b"", 0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
