"""A stand-in checkpoint for run folders written by hand in tests.

A run with epochs done has a checkpoint.pt, and lists check that it is one
cheaply (a zip, as torch.save writes: first header and end record). Tests
that only read a run's files need no weights: this zip passes that check
and fails a real load, which says the checkpoint is damaged."""

from __future__ import annotations

import zipfile
from pathlib import Path


def stand_in_checkpoint(path: Path, note: str = "not weights") -> Path:
    with zipfile.ZipFile(path, "w") as stand_in:
        stand_in.writestr("checkpoint/data.pkl", note)
    return path
