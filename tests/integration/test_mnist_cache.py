"""The decoded MNIST cache: .npy arrays equal to the idx files, memory-mapped; a raw
file changed after its md5 was checked is checked again."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from core.data.mnist import bundled_dir, cache_dir, ensure_data, load_mnist, raw_dir
from core.errors import DataError


def idx_from_bundle(name: str) -> np.ndarray:
    """The bundled .gz decoded here, from the idx layout (magic, dims, big-endian sizes)."""
    raw = gzip.decompress((bundled_dir() / f"{name}.gz").read_bytes())
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw[4 + 4 * dims :], dtype=np.uint8).reshape(shape)


def test_decoded_arrays_are_the_idx_files_and_mapped():
    first, again = load_mnist(), load_mnist()
    images = idx_from_bundle("train-images-idx3-ubyte").reshape(60_000, 784)
    assert torch.equal(again.train_x, torch.from_numpy(images.copy()))
    assert torch.equal(again.test_y, torch.from_numpy(idx_from_bundle("t10k-labels-idx1-ubyte").astype(np.int64)))
    assert torch.equal(first.test_x, again.test_x)
    folders = list(cache_dir().glob("decoded-*"))
    assert len(folders) == 1 and len(list(folders[0].glob("*.npy"))) == 4
    mapped = np.load(folders[0] / "train-images-idx3-ubyte.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped.reshape(60_000, 784), images)


def test_a_checked_file_that_changes_is_checked_again():
    root = ensure_data()
    target = raw_dir(root) / "t10k-labels-idx1-ubyte"
    good = target.read_bytes()
    bad = bytearray(good)
    bad[100] ^= 0xFF
    try:
        target.write_bytes(bytes(bad))  # same size, new content
        with pytest.raises(DataError, match="t10k-labels-idx1-ubyte does not match"):
            ensure_data()
    finally:
        target.write_bytes(good)
    ensure_data()
