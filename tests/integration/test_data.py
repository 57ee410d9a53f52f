"""Finding, checking and loading MNIST."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from core.data.mnist import MD5, bundled_dir, ensure_data, load_mnist, raw_dir, resolve_data_dir
from core.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_bundled_copy_ships_all_four_files():
    assert sorted(p.name for p in bundled_dir().glob("*.gz")) == sorted(f"{n}.gz" for n in MD5)


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("AEKL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == (tmp_path / "flag", True)
    assert resolve_data_dir(None) == (tmp_path / "env", True)
    monkeypatch.delenv("AEKL_DATA_DIR")
    monkeypatch.setenv("AEKL_CACHE_DIR", str(tmp_path / "cache"))
    assert resolve_data_dir(None) == (tmp_path / "cache" / "data", False)


def test_cache_is_filled_from_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setenv("AEKL_CACHE_DIR", str(tmp_path))
    root = ensure_data()
    assert sorted(p.name for p in raw_dir(root).iterdir()) == sorted(MD5)


def test_loads_flat_tensors_training_set_as_bytes(mnist_small):
    d = mnist_small
    assert d.train_x.shape == (512, 784) and d.test_x.shape == (10_000, 784)
    assert d.train_x.dtype == torch.uint8 and d.test_x.dtype == torch.float32
    assert float(d.test_x.min()) == -1.0 and float(d.test_x.max()) == 1.0
    index = torch.tensor([3, 0, 511, 7])
    batch = d.batch(index)
    assert batch.dtype == torch.float32 and float(batch.min()) == -1.0 and float(batch.max()) == 1.0
    # bit for bit what a float copy of the whole set, sliced, gives (the old storage)
    whole = d.train_x.to(torch.float32).div(127.5).sub(1.0)
    assert torch.equal(batch, whole[index])
    assert torch.equal(d.batch(torch.tensor([0]))[0, 152:156], torch.tensor([3, 18, 18, 18]) / 127.5 - 1)
    assert d.train_y[:5].tolist() == [5, 0, 4, 1, 9]  # the famous first labels
    assert d.test_y[:3].tolist() == [7, 2, 1]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not beside this checkout")
def test_a_user_folder_is_read_as_is():
    root = ensure_data(SHARED_DATA)
    assert root == SHARED_DATA


def test_missing_user_folder_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        ensure_data(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="lacks train-images-idx3-ubyte"):
        ensure_data(tmp_path / "empty")


def test_md5_mismatch_names_the_file(tmp_path):
    good = ensure_data()
    shutil.copytree(raw_dir(good), raw_dir(tmp_path))
    target = raw_dir(tmp_path) / "t10k-labels-idx1-ubyte"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte does not match"):
        load_mnist(tmp_path)
    target.write_bytes(bytes(data[:500]))  # truncated
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        ensure_data(tmp_path)


@pytest.mark.slow  # imports torchvision (seconds), which aekl itself no longer loads
def test_idx_files_read_as_torchvision_reads_them(mnist_small):
    from torchvision.datasets import MNIST as TorchvisionMNIST

    theirs = TorchvisionMNIST(str(ensure_data()), train=True, download=False)
    assert torch.equal(mnist_small.train_x, theirs.data[:512].reshape(512, 784))
    assert torch.equal(mnist_small.train_y, theirs.targets[:512])


def test_a_bad_idx_header_is_one_clear_error(tmp_path):
    from core.data.mnist import read_idx

    path = tmp_path / "bad"
    path.write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 2, 1, 2]))  # 0x0D: floats, not bytes
    with pytest.raises(DataError, match="not an idx file of unsigned bytes"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2]))  # says 3 values, holds 2
    with pytest.raises(DataError, match="holds 2 values"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 1, 7, 9]))
    assert read_idx(path).tolist() == [[7], [9]]
