"""MNIST: find the files, check them, load them as tensors resident on a device.

The package ships the four original files gzipped (core/assets/mnist), so a
machine without internet still trains. Where the files are read from:

    --data-dir  >  $AEKL_DATA_DIR  >  ~/.cache/aekl/data ($AEKL_CACHE_DIR)

Only the cache is filled automatically (from the bundled copy). A folder the
user names must already hold the files, or be filled with --download.
Each folder is laid out as torchvision expects: <root>/MNIST/raw/<file>
(so --download can use torchvision's downloader); the files are read with numpy.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from core.config import TEST_SIZE, check_range, user_path
from core.errors import BadInput, DataError

# MD5 of the uncompressed files, as published with MNIST.
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def bundled_dir() -> Path:
    return Path(str(resources.files("core") / "assets" / "mnist"))


def cache_dir() -> Path:
    base = os.environ.get("AEKL_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "aekl"
    return root / "data"


def raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Return (root, named_by_user)."""
    if data_dir:
        return user_path(data_dir, "data_dir"), True
    env = os.environ.get("AEKL_DATA_DIR")
    if env:
        try:
            return user_path(env, "data_dir"), True
        except BadInput as exc:  # not an option the user typed: name the variable
            raise DataError(f"$AEKL_DATA_DIR {exc.rule}: {env!r}") from None
    return cache_dir(), False


def _missing(root: Path) -> list[str]:
    return [name for name in MD5 if not (raw_dir(root) / name).is_file()]


def _fill_from_bundle(root: Path) -> None:
    """Decompress the shipped .gz files into the cache, each file atomically."""
    target = raw_dir(root)
    target.mkdir(parents=True, exist_ok=True)
    for name in _missing(root):
        src = bundled_dir() / f"{name}.gz"
        if not src.is_file():
            raise DataError(f"the bundled MNIST file {src} is missing; reinstall aekl")
        fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{name}.")
        try:
            with gzip.open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            os.replace(tmp, target / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _download(root: Path) -> None:
    try:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=True, download=True)
        MNIST(str(root), train=False, download=True)
    except Exception as exc:  # network errors come in many types
        raise DataError(f"could not download MNIST into {root}: {exc}") from None


@lru_cache(maxsize=None)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime so a file replaced on disk is checked again,
    # but an unchanged one is hashed once per process.
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Files whose md5 matched, by path, with the (size, mtime, inode) they had then:
# a file found unchanged is not hashed again by the next process (hashing the
# 55 MB took a tenth of a second or more of every start). Any rewrite, copy
# or replacement changes one of the three, and the file is hashed again.
VERIFIED = "verified.json"


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_verified() -> dict:
    try:
        with open(cache_dir() / VERIFIED) as f:
            seen = json.load(f)
        return seen if isinstance(seen, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_verified(seen: dict) -> None:
    """Best effort: without the note the next process hashes again, nothing worse."""
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir(), prefix=f".{VERIFIED}.")
        with os.fdopen(fd, "w") as f:
            json.dump(seen, f)
        os.replace(tmp, cache_dir() / VERIFIED)
    except OSError:
        pass


def verify(root: Path) -> None:
    seen = _read_verified()
    fresh = False
    for name, want in MD5.items():
        path = raw_dir(root) / name
        st = path.stat()
        key = str(path.resolve())
        if seen.get(key) == _stamp(st):
            continue
        if _md5(str(path), st.st_size, st.st_mtime_ns) != want:
            raise DataError(f"{path} does not match the published MNIST md5 (size {st.st_size} bytes)",
                            field="data_dir", hint="delete it or point {name} elsewhere")
        seen[key], fresh = _stamp(st), True
    if fresh:
        _write_verified(seen)


def ensure_data(data_dir: str | os.PathLike | None = None, download: bool = False) -> Path:
    """Make sure the four checked files exist; return their root (files under MNIST/raw)."""
    root, named = resolve_data_dir(data_dir)
    if named:
        if os.path.lexists(root) and not root.is_dir():
            raise DataError(f"data folder {root} is not a folder (it is a file or a broken link)", field="data_dir",
                            hint="point {name} at the folder that holds MNIST/raw")
        if not root.is_dir() and not download:
            raise DataError(f"data folder {root} does not exist", field="download", hint="use {name} to fetch MNIST")
        missing = _missing(root)
        if missing and download:
            _download(root)
            missing = _missing(root)
        if missing:
            raise DataError(f"data folder {root} lacks {', '.join(missing)} under MNIST/raw", field="download",
                            hint="use {name}, or leave the data folder unset to use the bundled copy")
    else:
        try:
            _fill_from_bundle(root)
        except OSError as exc:
            raise DataError(f"cannot write the MNIST cache at {root}: {exc.strerror}") from None
    verify(root)
    return root


@dataclass(frozen=True)
class MNIST:
    """Both splits on one device. The training images stay uint8 (a quarter of
    float32's memory) and become floats in [-1, 1] one batch at a time; the
    test images, read whole by evaluation and figures, are kept as floats."""

    train_x: "torch.Tensor"  # (N, 784) uint8, 0..255
    train_y: "torch.Tensor"  # (N,) int64
    test_x: "torch.Tensor"  # (10000, 784) float32 in [-1, 1]
    test_y: "torch.Tensor"  # (10000,) int64

    @property
    def device(self):
        return self.train_x.device

    def batch(self, index: "torch.Tensor") -> "torch.Tensor":
        """Training images at `index` as (B, 784) float32 in [-1, 1]."""
        # index_select rather than x[index]: the same rows, but on the CPU advanced
        # indexing took 170 us a batch of 256 here and index_select 11 us.
        return to_unit_range(self.train_x.index_select(0, index))


def to_unit_range(pixels: "torch.Tensor") -> "torch.Tensor":
    # uint8 -> float in [-1, 1], the range tanh can reach. The same two
    # operations whether applied to a batch or the whole set, so a batch is
    # bit for bit what slicing a float copy of the set would give.
    import torch

    return pixels.to(torch.float32).div_(127.5).sub_(1.0)


def read_idx(path: Path) -> "np.ndarray":
    """An idx file (the MNIST format) as a uint8 array of its declared shape.

    Read with numpy straight from the file: torchvision's reader builds the
    same arrays but costs its import (about 60 MB resident and a second of
    start-up) in every training process. The md5 check has run before this.
    """
    import numpy as np

    raw = np.fromfile(path, dtype=np.uint8)
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] != 0x08:  # 0x08: unsigned bytes
        raise DataError(f"{path} is not an idx file of unsigned bytes")
    dims = int(raw[3])
    shape = tuple(int(d) for d in raw[4 : 4 + 4 * dims].view(">u4"))
    body = raw[4 + 4 * dims :]
    if len(body) != math.prod(shape):
        raise DataError(f"{path} holds {len(body)} values, its header says {shape}")
    return body.reshape(shape)


# The four arrays decoded once into .npy files beside the cache, read back
# memory-mapped: no parsing, and pages are read as batches touch them. The
# folder is keyed by the published md5 sums: only files that matched them
# are ever decoded, so the arrays are the same whichever folder they came from.
DECODED = "decoded-" + hashlib.md5("".join(MD5.values()).encode()).hexdigest()[:12]
SHAPES = {"train-images-idx3-ubyte": (60_000, 28, 28), "train-labels-idx1-ubyte": (60_000,),
          "t10k-images-idx3-ubyte": (TEST_SIZE, 28, 28), "t10k-labels-idx1-ubyte": (TEST_SIZE,)}


def _decoded(raw: Path) -> dict[str, "np.ndarray"]:
    """The four arrays, from the decoded cache when it is whole, else decoded now (and cached)."""
    import numpy as np

    folder = cache_dir() / DECODED
    arrays = {}
    for name, shape in SHAPES.items():
        try:  # mode "c": copy-on-write, so torch gets a writable array without a copy
            array = np.load(folder / f"{name}.npy", mmap_mode="c", allow_pickle=False)
            if array.shape == shape and array.dtype == np.uint8:
                arrays[name] = array
                continue
        except (OSError, ValueError):
            pass
        arrays[name] = read_idx(raw / name)
        _save_npy(folder, name, arrays[name])
    return arrays


def _save_npy(folder: Path, name: str, array) -> None:
    import numpy as np

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, folder / f"{name}.npy")
    except OSError:
        pass  # a read-only cache: decode again next time


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    device="cpu",
    subset: int | None = None,
    download: bool = False,
) -> MNIST:
    """Load MNIST onto `device` once; `subset` keeps the first N training images."""
    import torch

    root = ensure_data(data_dir, download)
    arrays = _decoded(raw_dir(root))
    train_x = arrays["train-images-idx3-ubyte"]
    n = len(train_x)
    if subset is not None:
        n = check_range("subset", subset, 1, n)

    def tensor(array, dtype=None):
        return torch.from_numpy(array).to(device=device, dtype=dtype)

    return MNIST(
        train_x=tensor(train_x[:n].reshape(n, -1)),
        train_y=tensor(arrays["train-labels-idx1-ubyte"][:n], torch.int64),
        test_x=to_unit_range(tensor(arrays["t10k-images-idx3-ubyte"].reshape(-1, 28 * 28))),
        test_y=tensor(arrays["t10k-labels-idx1-ubyte"], torch.int64),
    )
