"""Every bad input gets exactly one line on stderr, exit code 2 and an empty stdout.

One table for all commands: add a row when a command learns a new option.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.data.mnist import ensure_data, raw_dir

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: the cuda device is valid here")


@pytest.fixture(scope="module")
def world(tmp_path_factory, finished_run):
    """A runs root with one finished run, an empty folder, a file, and bad data folders."""
    root = tmp_path_factory.mktemp("world")
    runs = root / "runs"
    shutil.copytree(finished_run, runs / "done")  # a run of TINY, as `aekl train` leaves it
    (runs / "not-a-run").mkdir()
    (root / "a-file").write_text("x")
    (root / "empty").mkdir()
    bad = root / "badmd5"
    shutil.copytree(raw_dir(ensure_data()), raw_dir(bad))
    with open(raw_dir(bad) / "train-labels-idx1-ubyte", "r+b") as f:
        f.seek(200)
        f.write(b"\x07")
    return root


CASES = [
    # (id, argv with {root}/{runs} placeholders, text the one line must contain[, marks])
    ("latent-0", ["train", "--latent", "0"], "--latent must be at least 1, got 0"),
    ("latent-neg", ["train", "--latent", "-3"], "got -3"),
    ("latent-text", ["train", "--latent", "two"], "'--latent' / '-z': Input should be a valid integer, unable to parse string as an integer (got 'two')"),
    ("epochs-0", ["train", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    ("batch-0", ["train", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    ("batch-too-big", ["train", "--subset", "100", "--batch-size", "128"], "--batch-size must not exceed the 100 training images, got 128"),
    ("lr-0", ["train", "--lr", "0"], "--lr must be a positive number, got 0"),
    ("lr-neg", ["train", "--lr", "-0.1"], "got -0.1"),
    ("lr-nan", ["train", "--lr", "nan"], "got nan"),
    ("steps-4", ["train", "--steps", "4"], "--steps must be at least 5, got 4"),
    ("index-high", ["train", "--from-index", "10000"], "--from-index must be a test image index, 0 to 9999, got 10000"),
    ("index-neg", ["train", "--to-index", "-1"], "--to-index must be a test image index, 0 to 9999, got -1"),
    ("kind", ["train", "--kind", "gan"], "--kind must be one of ae, vae, got 'gan'"),
    ("activation", ["train", "--activation", "swish"], "--activation must be one of relu, gelu, tanh, silu, got 'swish'"),
    ("hidden", ["train", "--hidden", "512,x"], "--hidden must be comma-separated integers"),
    ("hidden-gap", ["train", "--hidden", "64,,32"], "--hidden must be comma-separated integers, got '64,,32'"),
    ("subset-0", ["train", "--subset", "0"], "--subset must be at least 1, got 0"),
    ("subset-big", ["train", "--subset", "70000"], "--subset must be at most 60000, got 70000"),
    ("device", ["train", "--device", "tpu"], "--device is not a device aekl knows; choose auto, cpu, cuda, mps, got 'tpu'"),
    ("cuda", ["train", "--device", "cuda"], "--device cuda was asked for but no CUDA GPU", NO_CUDA),
    ("data-missing", ["train", "--data-dir", "{root}/nope"], "data folder {root}/nope does not exist (use --download to fetch MNIST)"),
    ("data-empty", ["train", "--data-dir", "{root}/empty"], "data folder {root}/empty lacks train-images-idx3-ubyte"),
    ("data-md5", ["train", "--data-dir", "{root}/badmd5"], "train-labels-idx1-ubyte does not match the published MNIST md5 (size 60008 bytes) (delete it or point --data-dir elsewhere)"),
    ("out-not-writable", ["train", *TINY, "--out", "{root}/a-file/runs"], "cannot create run folder"),
    ("name-exists", ["train", *TINY, "--out", "{runs}", "--name", "done"], "already exists (use --force"),
    ("name-path", ["train", *TINY, "--name", "../escape"], "--name must be a plain folder name"),
    ("resume-unknown", ["train", "--resume", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("resume-not-run", ["train", "--resume", "not-a-run", "--out", "{runs}"], "is not an aekl run"),
    ("resume-finished", ["train", "--resume", "done", "--out", "{runs}"], "already finished"),
    ("resume-dotdot", ["train", "--resume", "..", "--out", "{runs}"], "not a run id"),
    ("show-unknown", ["show", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("show-absolute", ["show", "/etc", "--out", "{runs}"], "not a run id"),
    ("show-k-without-nll", ["show", "done", "--k", "5", "--out", "{runs}"], "--k applies only with --nll, got 5"),
    ("latent-unknown", ["latent", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("interp-unknown", ["interpolate", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("interp-steps", ["interpolate", "done", "--steps", "3", "--out", "{runs}"], "--steps must be at least 5, got 3"),
    ("interp-index", ["interpolate", "done", "--from-index", "12345", "--out", "{runs}"], "--from-index must be a test image index, 0 to 9999, got 12345"),
    ("interp-method", ["interpolate", "done", "--method", "zigzag", "--out", "{runs}"], "--method must be linear or slerp, got 'zigzag'"),
    ("unknown-option", ["train", "--latnet", "2"], "No such option"),
    ("stop-unknown", ["stop", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("stop-path", ["stop", "../x", "--out", "{runs}"], "not a run id"),
    ("stop-not-running", ["stop", "done", "--out", "{runs}"], "is not training (status: finished)"),
    ("stop-wait-negative", ["stop", "done", "--wait", "-1", "--out", "{runs}"], "--wait must be between 0 and 86400"),
    ("movie-unknown", ["movie", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("movie-no-history", ["movie", "not-a-run", "--out", "{runs}"], "is not an aekl run"),
    ("resume-with-options", ["train", "--resume", "done", "--epochs", "5", "--out", "{runs}"],
     "--resume continues a run with its own config; drop --epochs"),
    # Bounds checked before anything is allocated. Rows that today's code
    # would accept carry --dry-run so that they fail fast there.
    ("seed-2**64", ["train", "--seed", str(2**64)], "--seed must be at most 9223372036854775807, got 18446744073709551616"),
    ("seed-neg", ["train", *TINY, "--seed", "-1", "--dry-run"], "--seed must be at least 0, got -1"),
    ("epochs-huge", ["train", *TINY, "--epochs", "1000000", "--dry-run"], "--epochs must be at most 100000, got 1000000"),
    ("batch-huge", ["train", "--batch-size", "100000"], "--batch-size must be at most 60000, got 100000"),
    ("hidden-deep", ["train", *TINY, "--hidden", ",".join(["4"] * 20), "--dry-run"], "--hidden allows at most 16 layers, got 20"),
    ("steps-huge", ["train", *TINY, "--steps", "1000", "--dry-run"], "--steps must be at most 500, got 1000"),
    ("threads-huge", ["train", "--threads", "100000"], "--threads must be at most 1024, got 100000"),
    ("interp-steps-huge", ["interpolate", "done", "--steps", str(2**62), "--out", "{runs}"], "--steps must be at most 500"),
    # Names, ids and paths
    ("name-newline", ["train", *TINY, "--out", "{root}/nl", "--name", "run\n"], "--name must be a plain folder name"),
    ("name-300", ["train", *TINY, "--out", "{root}/long", "--name", "a" * 300], "--name is 300 characters long; a run name has at most 200"),
    ("show-id-300", ["show", "a" * 300, "--out", "{runs}"], "the run id is 300 characters long"),
    ("resume-id-300", ["train", "--resume", "a" * 300, "--out", "{runs}"], "the run id is 300 characters long"),
    ("out-nosuchuser", ["runs", "--out", "~nosuchuser/runs"], "--out starts with ~nosuchuser, but there is no such user's home"),
    ("show-out-nosuchuser", ["show", "done", "--out", "~nosuchuser/runs"], "--out starts with ~nosuchuser"),
    ("data-nosuchuser", ["train", "--data-dir", "~nosuchuser/data"], "--data-dir starts with ~nosuchuser"),
    ("out-part-300", ["runs", "--out", "{root}/" + "d" * 300], "--out has a folder or file name longer than 255 bytes"),
    # a file where the runs folder goes, and a dry run's name: said before any work, as a real run says them
    ("runs-out-file", ["runs", "--out", "{root}/a-file"], "--out is not a folder"),
    ("sweep-out-file", ["sweep", *TINY, "--out", "{root}/a-file"], "--out is not a folder"),
    ("dry-run-out-file", ["train", *TINY, "--dry-run", "--out", "{root}/a-file"], "--out is not a folder"),
    ("dry-run-name-path", ["train", *TINY, "--dry-run", "--name", "../evil"], "--name must be a plain folder name"),
    ("dry-run-name-empty", ["train", *TINY, "--dry-run", "--name", ""], "--name must be a plain folder name"),
    ("out-path-5000", ["runs", "--out", "/".join(["dir"] * 1300)], "--out is longer than 4096 bytes"),
    # --device is checked by every command that takes one, before the checkpoint is read
    ("latent-device-tpu", ["latent", "done", "--device", "tpu", "--out", "{runs}"], "--device is not a device aekl knows"),
    ("interp-device-meta", ["interpolate", "done", "--device", "meta", "--out", "{runs}"], "--device is not a device aekl knows"),
    ("interp-device-cpu3", ["interpolate", "done", "--device", "cpu:3", "--out", "{runs}"], "got 'cpu:3'"),
    ("latent-device-unknown-run", ["latent", "ghost", "--device", "tpu", "--out", "{runs}"], "--device is not a device"),
    ("bench-samples-huge", ["bench", "--samples", str(2**62), "--out", "{root}"], "--samples must be at most 6000000"),
    ("bench-warmup-huge", ["bench", "--warmup", str(10**9), "--out", "{root}"], "--warmup must be at most 100000"),
    ("bench-threads-huge", ["bench", "--threads", "100000", "--out", "{root}"], "--threads must be at most 1024"),
    ("bench-processes-over-repeats", ["bench", "--repeats", "1", "--processes", "5", "--out", "{root}"],
     "--processes must be at most --repeats (1), got 5"),
    ("hidden-arabic-digit", ["train", "--hidden", "\u0665"], "--hidden must be written in ASCII digits"),
    ("kl-fullwidth-digit", ["kl", "--mu", "\uff11"], "which is not a number written in ASCII digits"),
    ("sweep-latent-huge", ["sweep", "--latent", "2,100000000", "--out", "{root}/sweep"], "--latent gives a model of"),
    ("sweep-seed-huge", ["sweep", "--seed", str(2**63), "--out", "{root}/sweep"], "--seed must be at most"),
]


@pytest.mark.parametrize("argv, needle", [pytest.param(c[1], c[2], id=c[0], marks=c[3:]) for c in CASES])
def test_bad_input_is_one_line_and_exit_2(world, argv, needle):
    argv = [a.format(root=world, runs=world / "runs") for a in argv]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle.format(root=world) in lines[0]
    assert result.stdout == ""


# --- values that would allocate more than any machine has --------------------
# Run in a subprocess under an address-space limit: were a check missing, the
# command would die allocating (a traceback, exit 1) instead of exit 2.
# torch's own import maps about 3 GiB of address space, hence 4 GiB.
MEMORY_LIMIT = 4 * 2**30
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

HUGE = [
    ("latent-1e8", ["train", "--subset", "256", "--latent", "100000000"],
     "--latent gives a model of 51,301,067,280 parameters (latent size 100000000, hidden sizes [512, 256]); "
     "at most 50,000,000 are allowed"),
    ("hidden-1e8", ["train", "--subset", "256", "--hidden", "100000000"], "--hidden gives a model of"),
    ("vae-latent-1e7", ["train", "--subset", "256", "--kind", "vae", "--latent", "10000000"], "--latent gives a model of"),
    ("interp-steps-2**62", ["interpolate", "done", "--steps", str(2**62), "--out", "{runs}"], "--steps must be at most 500"),
]


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.slow  # a fresh `aekl` process (torch) a case, under a memory limit
@pytest.mark.parametrize("argv, needle", [pytest.param(c[1], c[2], id=c[0]) for c in HUGE])
def test_oversized_values_are_refused_before_allocating(world, argv, needle):
    argv = [a.format(root=world, runs=world / "runs") for a in argv]
    result = subprocess.run([sys.executable, "-m", "core.cli", *argv], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **ONE_THREAD}, preexec_fn=_limit_memory)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr[-2000:]
    assert result.stdout == ""


# --- output that cannot fail silently ----------------------------------------


def _closed_stdout():
    os.close(1)


OUTPUT = [
    # (id, argv, extra environment, where stdout goes, exit code, text on stderr or stdout)
    ("help-ascii", ["--help"], {"PYTHONIOENCODING": "ascii"}, "pipe", 0, "Usage:"),
    ("kl-ascii", ["kl", "--sigma", "2", "--samples", "0"], {"PYTHONIOENCODING": "ascii"}, "pipe", 0, "KL(q || N(0, I))"),
    ("kl-latin1", ["kl", "--sigma", "2", "--samples", "0"], {"PYTHONIOENCODING": "latin-1"}, "pipe", 0, "| sigma |"),
    ("kl-help-ascii", ["kl", "--help"], {"PYTHONIOENCODING": "ascii"}, "pipe", 0, "sigma"),
    ("runs-dev-full", ["runs", "--out", "{runs}"], {}, "/dev/full", 1,
     "aekl: error: cannot write the output: No space left on device"),
    ("kl-dev-full", ["kl", "--samples", "0"], {}, "/dev/full", 1, "cannot write the output: No space left on device"),
    ("kl-json-dev-full", ["kl", "--samples", "0", "--json"], {}, "/dev/full", 1, "cannot write the output"),
    ("runs-closed", ["runs", "--out", "{runs}"], {}, "closed", 1, "aekl: error: standard output is closed"),
    ("kl-closed", ["kl", "--samples", "0"], {}, "closed", 1, "standard output is closed"),
    ("runs-json-broken-pipe", ["runs", "--json", "--out", "{runs}"], {}, "broken", 1,
     "aekl: error: cannot write the output: Broken pipe"),
]


@pytest.mark.slow  # a fresh `aekl` process a case
@pytest.mark.parametrize("argv, env, where, code, needle", [pytest.param(*c[1:], id=c[0]) for c in OUTPUT])
def test_output_never_fails_silently(world, argv, env, where, code, needle):
    argv = [sys.executable, "-m", "core.cli", *(a.format(runs=world / "runs") for a in argv)]
    env = {**os.environ, **env}
    if where == "broken":  # the reader is gone before aekl writes a byte
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        proc.stdout.close()
        stdout, stderr = "", proc.stderr.read()
        returncode = proc.wait(timeout=60)
    else:
        with open(os.devnull if where == "closed" else "/dev/full", "w") as sink:
            target = subprocess.PIPE if where == "pipe" else sink
            result = subprocess.run(argv, stdout=target, stderr=subprocess.PIPE, text=True, env=env, timeout=60,
                                    preexec_fn=_closed_stdout if where == "closed" else None)
        stdout, stderr, returncode = result.stdout or "", result.stderr, result.returncode
    assert returncode == code, stderr
    assert "Traceback" not in stderr
    if code == 0:
        assert needle in stdout
        stdout.encode(env["PYTHONIOENCODING"])  # only what that terminal can show
    else:
        assert stderr.strip().splitlines() == [stderr.strip()] and needle in stderr
