"""Import hygiene, checked in fresh interpreters: the computing core stays
free of UI libraries, and `aekl --help` does not pay for torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_core_imports_no_ui_libraries():
    loaded = json.loads(run_python(
        "import sys, json, core, core.gauss.kl, core.gauss.parse, core.gauss.explain, core.errors\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'typer', 'rich'})))"
    ))
    assert loaded == []


@pytest.mark.slow  # a fresh interpreter; the next test checks --help for torch too
def test_help_does_not_import_torch():
    out = run_python(
        "import sys\n"
        "from core.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print('torch' in sys.modules)"
    )
    assert out == "False"


def test_help_and_sweep_help_import_neither_torch_nor_ray():
    # Ray is an optional extra and takes a noticeable time to import; only
    # `aekl sweep --executor ray` may load it.
    out = run_python(
        "import sys, io, contextlib\n"
        "from core.cli import app\n"
        "buf = io.StringIO()\n"
        "for args in (['--help'], ['sweep', '--help']):\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        try:\n"
        "            app(args)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print('--ray-address' in buf.getvalue(), 'ray' in sys.modules, 'torch' in sys.modules)"
    )
    assert out == "True False False"


def test_kl_help_does_not_import_torch():
    out = run_python(
        "import sys, io, contextlib\n"
        "from core.cli import app\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        "        app(['kl', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('--explain' in buf.getvalue(), 'torch' in sys.modules)"
    )
    assert out == "True False"


def test_kl_without_run_does_not_import_torch():
    # torch is paid for only by --run (the posterior of a trained encoder)
    out = run_python(
        "import sys, io, contextlib\n"
        "from core.cli import app\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        "        app(['kl', '--mu', '0.5,1', '--sigma', '1,2', '--samples', '0'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('total' in buf.getvalue(), 'torch' in sys.modules)"
    )
    assert out == "True False"


@pytest.mark.skipif(shutil.which("aekl") is None and not (Path(sys.executable).parent / "aekl").exists(),
                    reason="the aekl script is not installed")
def test_installed_script_help_lists_kl():
    script = shutil.which("aekl") or str(Path(sys.executable).parent / "aekl")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "kl" in done.stdout


@pytest.mark.slow  # trains in a fresh process
def test_training_imports_neither_torchvision_nor_dynamo_nor_matplotlib():
    # Each costs seconds before the first step (torch._dynamo comes with
    # torch.optim's optimizers) and tens of MB; figures may load matplotlib later.
    out = run_python(
        "import sys\n"
        "from core.config import AEConfig\n"
        "from core.data.mnist import load_mnist\n"
        "from core.engine.fit import fit\n"
        "data = load_mnist(None, 'cpu', subset=256)\n"
        "events = list(fit(AEConfig(hidden=(16,), batch_size=64, epochs=1, device='cpu'), data))\n"
        "print(type(events[-1]).__name__, sorted(m for m in ('torchvision', 'torch._dynamo', 'matplotlib')"
        " if m in sys.modules))"
    )
    assert out == "Finished []"
