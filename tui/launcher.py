"""Start `aekl train` in a process of its own, detached from the app.

The process gets a new session (no controlling terminal), so a dropped SSH
connection, a closed tmux pane or quitting the app does not stop it; it
writes its run folder, which the app then follows like any other run. Its
stdout is discarded (the folder has everything) and its stderr goes to a
temporary file, read only when it fails before the folder is ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.config import AEConfig
from core.runfolder.lock import holder
from core.runfolder.runs import Run

READY_TIMEOUT_S = 300.0  # torch import + MNIST load on a slow, busy node


def new_name(config: AEConfig, runs_dir: Path) -> str:
    """A run folder name like the CLI's own, not yet taken."""
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.tag}"
    name, n = base, 1
    while (runs_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


@dataclass
class Launch:
    proc: subprocess.Popen
    run: Run
    log: Path
    config_file: Path | None = None  # what the trainer read its config from; gone once it has started

    def wait_ready(self, cancelled: Callable[[], bool]) -> str | None:
        """Wait until the run folder is being written; return an error line if the
        process ended first (or None when it is ready or we were cancelled)."""
        end = time.monotonic() + READY_TIMEOUT_S
        while not cancelled():
            code = self.proc.poll()
            if self._ready() or code == 0:  # (a tiny run may be over before we look)
                self._drop_log()
                return None
            if code is not None:
                return self._failure(code)
            if time.monotonic() > end:
                return f"the training process did not start within {READY_TIMEOUT_S:.0f}s"
            time.sleep(0.1)
        return None

    def _ready(self) -> bool:
        """Our process holds the run's lock: from here the folder tells the rest.
        (For a resume the folder exists all along, still saying "stopped".)"""
        info = holder(self.run.path)
        return info is not None and info.get("pid") == self.proc.pid and self.run.file("config.json").is_file()

    def _failure(self, code: int) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        self._drop_log()
        text = lines[-1] if lines else f"the training process exited with code {code}"
        return text.removeprefix("aekl: error: ")

    def _drop_log(self) -> None:
        self.log.unlink(missing_ok=True)
        if self.config_file is not None:
            self.config_file.unlink(missing_ok=True)


def train_argv(runs_dir: Path, data_dir: Path | None, config_file: Path | None, name: str | None,
               resume: str | None = None) -> list[str]:
    """The `aekl train` command line of a launch: a new run reads its whole config from a file
    (`--config`), so no option is spelled here; a resumed run keeps its own."""
    argv = [sys.executable, "-m", "core.cli", "train", "--json", "--out", str(runs_dir)]
    argv += ["--resume", resume] if resume else ["--name", str(name), "--config", str(config_file)]
    if data_dir:
        argv += ["--data-dir", str(data_dir)]
    return argv


def write_config(config: AEConfig) -> Path:
    """The config as a private temp file for the trainer to read (and the launch to delete)."""
    fd, path = tempfile.mkstemp(prefix="aekl-config-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(config.to_dict(), f)
    return Path(path)


def launch(config: AEConfig, runs_dir: Path, data_dir: Path | None, resume: str | None = None) -> Launch:
    """Start training `config` (or continue run `resume`) in its own process."""
    runs_dir = Path(runs_dir)
    name = resume or new_name(config, runs_dir)
    config_file = None if resume else write_config(config)
    argv = train_argv(runs_dir, data_dir, config_file, name, resume)
    fd, log = tempfile.mkstemp(prefix="aekl-train-", suffix=".log")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fd,
                                start_new_session=True, env=env)
    except BaseException:
        if config_file is not None:
            config_file.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return Launch(proc, Run(runs_dir / name), Path(log), config_file)
