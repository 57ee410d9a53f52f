"""Working in the latent space: encode, project to 2-D, walk between codes.

Shapes: x is (N, 784) in [-1, 1], codes are (N, latent), frames are
(steps + 2, 784): start, `steps` intermediate points, end.
"""

from __future__ import annotations

import torch

from core.config import MAX_INTERP_STEPS, check_range, check_test_index
from core.errors import BadInput

MIN_STEPS = 5
METHODS = ("linear", "slerp")
BATCH = 5000


@torch.inference_mode()
def encode(model, x: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    codes = torch.cat([model.encode(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    model.train(was_training)
    return codes


@torch.inference_mode()
def decode(model, z: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = model.decode(z)
    model.train(was_training)
    return out


def check_index(index: int, size: int, name: str = "index") -> int:
    """For a face that words its own message (the TUI's decode box)."""
    if not 0 <= index < size:
        raise BadInput(f"{name} {index} is outside the test set (0 to {size - 1})")
    return index


def interpolation_pair(labels: torch.Tensor, start: int | None, end: int | None) -> tuple[int, int]:
    """Default endpoints: the first test image, and the first one of another digit."""
    size = len(labels)
    i = check_test_index("interp_from", 0 if start is None else start, size)
    if end is not None:
        return i, check_test_index("interp_to", end, size)
    others = (labels != labels[i]).nonzero()
    return i, int(others[0]) if len(others) else (i + 1) % size


def path_points(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """(steps + 2, latent) points from z0 to z1, endpoints included.

    'linear' is the straight line of the exercise; 'slerp' follows the great
    circle, which suits a VAE whose codes concentrate on a shell.
    """
    check_range("interp_steps", steps, MIN_STEPS, MAX_INTERP_STEPS)
    check_method(method)
    t = torch.linspace(0, 1, steps + 2, device=z0.device, dtype=z0.dtype)[:, None]
    if method == "linear":
        return (1 - t) * z0 + t * z1
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=0).clamp(-1, 1)  # slerp
    omega = torch.acos(cos)
    if omega.abs() < 1e-6:  # parallel codes: slerp degenerates to the line
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise BadInput(field="method", value=method, rule=f"must be {' or '.join(METHODS)}")
    return method


def line_frames(model, endpoints: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """Decode the path between the codes of two images: (steps + 2, 784)."""
    z0, z1 = encode(model, endpoints)
    return decode(model, path_points(z0, z1, steps, method))


def pca_2d(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project (N, d) codes on their two main axes; returns (N, 2) and the
    fraction of variance each axis explains. For d <= 2 codes pass through."""
    codes = codes.double()
    if codes.shape[1] <= 2:
        pad = torch.zeros(len(codes), 2 - codes.shape[1], dtype=codes.dtype, device=codes.device)
        return torch.cat([codes, pad], 1).float(), torch.ones(2, dtype=torch.float32)
    centred = codes - codes.mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    share = (s**2 / (s**2).sum())[:2]
    return (centred @ vh[:2].T).float(), share.float().cpu()


def manifold_axes(codes: torch.Tensor, n: int = 15, gaussian: bool = False) -> tuple[list[float], list[float]]:
    """The n values along each axis of a 2-D manifold grid, ascending.

    An autoencoder's codes have no prescribed distribution, so the grid spans
    their central 98%. A VAE's prior is N(0, I), so the grid walks equal
    steps of probability, 5% to 95%, mapped through the inverse normal CDF
    (as in Kingma and Welling's figure 4): more rows where the prior has mass."""
    if gaussian:
        from statistics import NormalDist

        probs = [0.05 + 0.9 * i / (n - 1) for i in range(n)]
        values = [NormalDist().inv_cdf(p) for p in probs]
        return values, values
    lo = torch.quantile(codes.float(), 0.01, dim=0)
    hi = torch.quantile(codes.float(), 0.99, dim=0)
    return torch.linspace(float(lo[0]), float(hi[0]), n).tolist(), torch.linspace(float(lo[1]), float(hi[1]), n).tolist()


def manifold_grid(model, codes: torch.Tensor, n: int = 15, gaussian: bool = False) -> torch.Tensor:
    """Decode an n x n grid (see manifold_axes): (n*n, 784), row-major,
    top row = highest second coordinate (so the picture reads like the scatter)."""
    xs, ys = manifold_axes(codes, n, gaussian)
    xs, ys = torch.tensor(xs), torch.tensor(ys).flip(0)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1).reshape(-1, 2)
    return decode(model, grid.to(codes.device, codes.dtype))


# Where each latent dimension is moved to in a traversal, in units of the prior's sigma.
TRAVERSAL_VALUES = (-3.0, -2.25, -1.5, -0.75, 0.0, 0.75, 1.5, 2.25, 3.0)


def traversal_images(model, image: torch.Tensor, kl_per_dim) -> tuple[list[int], torch.Tensor]:
    """Dimensions by KL, largest first, and (latent, len(TRAVERSAL_VALUES), 784) decodes:
    row r is the code of `image` (784,) with dimension order[r] set to each value,
    the others kept. traversals.png and the TUI's traversal view draw these."""
    mu = encode(model, image[None])[0]
    order = sorted(range(len(kl_per_dim)), key=lambda d: -kl_per_dim[d])
    values = torch.tensor(TRAVERSAL_VALUES, dtype=mu.dtype, device=mu.device)
    rows = []
    for d in order:
        z = mu.repeat(len(values), 1)
        z[:, d] = values
        rows.append(z)
    images = decode(model, torch.cat(rows))
    return order, images.reshape(len(order), len(values), -1)
