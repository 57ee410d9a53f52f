"""`aekl stop` signals only the run's own trainer.

The lock file's pid is a claim anyone could write. Each row makes the lock
held (so the run looks live) by a helper process and writes a pid into it:
a bool, init, a huge number, a negative one, a string, a live process that
is not aekl, one that looks like aekl but holds no lock. `aekl stop` must
answer with one line and exit 2, and every process must still be alive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from core.cli import app
from core.config import AEConfig
from core.runfolder.runs import Status, new_run

# Each case trains or starts processes: left out of the fast loop.
pytestmark = pytest.mark.slow

runner = CliRunner()

HOLD = ("import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


@pytest.fixture
def live_run(tmp_path):
    run = new_run(AEConfig(epochs=1), tmp_path, name="r")
    run.write_status(Status.RUNNING, 0, 3)
    procs = []

    def hold(pid_of) -> dict:
        """Hold the run's lock from a helper; the lock names pid_of(procs)."""
        bystander = subprocess.Popen(["sleep", "120"])
        lookalike = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "aekl", "train"])
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run.path / "lock")], stdout=subprocess.PIPE,
                                  text=True)
        procs.extend([bystander, lookalike, holder])
        assert holder.stdout.readline().strip() == "held"
        named = {"bystander": bystander.pid, "lookalike": lookalike.pid, "holder": holder.pid}
        (run.path / "lock").write_text(json.dumps({"pid": pid_of(named), "host": None}))
        return named

    yield run, hold, procs
    for p in procs:
        p.kill()
        p.wait()


PIDS = [
    ("bool", lambda p: True),
    ("init", lambda p: 1),
    ("huge", lambda p: 2 ** 70),
    ("negative", lambda p: -p["bystander"]),
    ("zero", lambda p: 0),
    ("string", lambda p: str(p["bystander"])),
    ("float", lambda p: float(p["bystander"])),
    ("list", lambda p: [p["bystander"]]),
    ("not-aekl", lambda p: p["bystander"]),
    ("aekl-without-the-lock", lambda p: p["lookalike"]),
    ("lock-holder-not-aekl", lambda p: p["holder"]),
    ("beyond-pid-max", lambda p: 1 << 23),
]


@pytest.mark.parametrize("pid_of", [p for _, p in PIDS], ids=[name for name, _ in PIDS])
def test_stop_never_signals_a_process_that_is_not_the_trainer(live_run, pid_of):
    run, hold, procs = live_run
    hold(pid_of)
    result = runner.invoke(app, ["stop", "r", "--out", str(run.path.parent), "--wait", "0"])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aekl: error: "), result.stderr
    assert "nothing signalled" in lines[0]
    # A SIGTERM, had one gone out, ends these processes at once: watch them for a second.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        assert [p.poll() for p in procs] == [None] * len(procs)
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["hard-linked lock", "linked folder"])
def test_stop_never_reaches_another_runs_trainer_through_a_link(tmp_path, how):
    # A trainer-like process (aekl on its command line) holds the lock of its own run;
    # a crafted folder borrows that lock by a hard link, or is a link to the whole run.
    own = new_run(AEConfig(epochs=1), tmp_path / "real", name="own")
    own.write_status(Status.RUNNING, 0, 3)
    trainer = subprocess.Popen([sys.executable, "-c", HOLD, str(own.path / "lock"), "aekl", "train"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert trainer.stdout.readline().strip() == "held"
        (own.path / "lock").write_text(json.dumps({"pid": trainer.pid, "host": None}))
        crafted = tmp_path / "crafted"
        crafted.mkdir()
        if how == "hard-linked lock":
            fake = new_run(AEConfig(epochs=1), crafted, name="fake")
            fake.write_status(Status.RUNNING, 0, 3)
            (fake.path / "lock").unlink()
            (fake.path / "lock").hardlink_to(own.path / "lock")
        else:
            (crafted / "fake").symlink_to(own.path)
        result = runner.invoke(app, ["stop", "fake", "--out", str(crafted), "--wait", "0"])
        assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
        assert "nothing signalled" in result.stderr or "link" in result.stderr, result.stderr
        time.sleep(0.5)
        assert trainer.poll() is None  # not signalled
        # with the borrowed name gone, the trainer's own folder is stoppable: the checks refuse only the link
        if how == "hard-linked lock":
            (crafted / "fake" / "lock").unlink()
        result = runner.invoke(app, ["stop", "own", "--out", str(tmp_path / "real"), "--wait", "0"])
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert trainer.wait(5) != 0
    finally:
        trainer.kill()
        trainer.wait()
