"""Option declarations shared by `aekl train` and `aekl-tui` (its training form).

Defaults come from AEConfig alone; both commands read these same objects, so
a flag is spelled, documented and defaulted in one place.
"""

from __future__ import annotations

from pathlib import Path

import typer

from core.config import MAX_EPOCHS, MAX_INTERP_STEPS, MAX_PARAMS, MAX_THREADS, TRAIN_SIZE, AEConfig


def option(default, help: str, panel: str, *names: str):
    return typer.Option(default, *names, help=help, rich_help_panel=panel)


MODEL, TRAINING, INTERP, FOLDER = "Model", "Training", "Interpolation", "Run folder and data"

LATENT = option(AEConfig.latent, f"Latent (code) size (the model may have at most {MAX_PARAMS:,} parameters).", MODEL, "--latent", "-z")
KIND = option(AEConfig.kind, "Model kind: ae or vae.", MODEL)
BETA = option(AEConfig.beta, "VAE: weight of the KL term.", MODEL)
KL_SCHEDULE = option(AEConfig.kl_schedule, "VAE: how β moves: monotonic or cyclical (Fu et al. 2019).", MODEL)
KL_WARMUP = option(AEConfig.kl_warmup, "VAE: epochs over which β rises from 0 (monotonic; 0 = none).", MODEL)
KL_CYCLES = option(AEConfig.kl_cycles, "VAE: cycles of the cyclical schedule.", MODEL)
FREE_BITS = option(AEConfig.free_bits, "VAE: nats per latent dimension the KL term does not charge.", MODEL)
HIDDEN = option(",".join(map(str, AEConfig.hidden)), "Encoder hidden widths, e.g. 512,256.", MODEL)
ACTIVATION = option(AEConfig.activation, "relu, gelu, tanh or silu.", MODEL)
EPOCHS = option(AEConfig.epochs, f"Passes over the training set (1 to {MAX_EPOCHS:,}).", TRAINING)
BATCH_SIZE = option(AEConfig.batch_size, f"Images per step (1 to {TRAIN_SIZE:,}).", TRAINING)
LR = option(AEConfig.lr, "Peak learning rate (warm-up, then cosine decay).", TRAINING)
WARMUP = option(AEConfig.warmup, "Fraction of all steps that ramp the learning rate up.", TRAINING)
SEED = option(AEConfig.seed, "Seed for init, batch order and noise (0 to 2**63 - 1).", TRAINING)
DEVICE = option(AEConfig.device, "auto, cpu, cuda or mps (with --resume: where to continue).", TRAINING)
CUDA_GRAPHS = option(AEConfig.cuda_graphs, "CUDA, plain AE: replay each training step as one CUDA graph.",
                     TRAINING, "--cuda-graphs/--no-cuda-graphs")
PRECISION = option(AEConfig.precision, "auto, fp32 or bf16: the matmuls' arithmetic (bf16: autocast, fp32 weights, "
                   "Adam and loss); auto = bf16 where the hardware has it natively.", TRAINING)
THREADS = option(AEConfig.threads, f"CPU threads for torch (0 = torch default, at most {MAX_THREADS}).", TRAINING)
SUBSET = option(None, "Train on the first N training images only.", TRAINING)
FROM_INDEX = option(None, "Test image where the interpolation starts.", INTERP)
TO_INDEX = option(None, "Test image where the interpolation ends.", INTERP)
STEPS = option(AEConfig.interp_steps, f"Intermediate interpolation frames (5 to {MAX_INTERP_STEPS}).", INTERP)
OUT = option(Path("runs"), "Folder that holds run folders.", FOLDER, "--out", "--runs-dir")
DATA_DIR = option(None, "MNIST root (default: bundled copy via the cache).", FOLDER)
