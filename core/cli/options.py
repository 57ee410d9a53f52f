"""Option declarations shared by `aekl train` and `aekl-tui` (its training form).

Defaults come from AEConfig alone; both commands read these same objects, so
a flag is spelled, documented and defaulted in one place.
"""

from __future__ import annotations

from pathlib import Path

import typer

from core.config import AEConfig


def option(default, help: str, panel: str, *names: str):
    return typer.Option(default, *names, help=help, rich_help_panel=panel)


MODEL, TRAINING, INTERP, FOLDER = "Model", "Training", "Interpolation", "Run folder and data"

LATENT = option(AEConfig.latent, "Latent (code) size.", MODEL, "--latent", "-z")
KIND = option(AEConfig.kind, "Model kind: ae or vae.", MODEL)
BETA = option(AEConfig.beta, "VAE: weight of the KL term.", MODEL)
HIDDEN = option(",".join(map(str, AEConfig.hidden)), "Encoder hidden widths, e.g. 512,256.", MODEL)
ACTIVATION = option(AEConfig.activation, "relu, gelu, tanh or silu.", MODEL)
EPOCHS = option(AEConfig.epochs, "Passes over the training set.", TRAINING)
BATCH_SIZE = option(AEConfig.batch_size, "Images per step.", TRAINING)
LR = option(AEConfig.lr, "Peak learning rate (warm-up, then cosine decay).", TRAINING)
SEED = option(AEConfig.seed, "Seed for init, batch order and noise.", TRAINING)
DEVICE = option(AEConfig.device, "auto, cpu, cuda or mps (with --resume: where to continue).", TRAINING)
THREADS = option(AEConfig.threads, "CPU threads for torch (0 = torch default).", TRAINING)
SUBSET = option(None, "Train on the first N training images only.", TRAINING)
FROM_INDEX = option(None, "Test image where the interpolation starts.", INTERP)
TO_INDEX = option(None, "Test image where the interpolation ends.", INTERP)
STEPS = option(AEConfig.interp_steps, "Intermediate interpolation frames (>= 5).", INTERP)
OUT = option(Path("runs"), "Folder that holds run folders.", FOLDER, "--out", "--runs-dir")
DATA_DIR = option(None, "MNIST root (default: bundled copy via the cache).", FOLDER)
