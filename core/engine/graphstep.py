"""The whole training step (forward, backward, Adam) as one CUDA graph.

A small MLP at batch 256 keeps a GPU waiting on Python and kernel launches,
not on arithmetic; replaying a captured graph launches the step's hundred-odd
kernels at once. What changes between steps lives in static device buffers
that the graph reads: the batch's indices (copied from the epoch's
permutation on the device) and the learning rate (a device tensor the
optimizer was built with). Nothing is read back to the host.

Used only on CUDA, for the plain autoencoder (a VAE's noise generator and
per-step KL weight would be frozen into the graph), and only when asked
(AEConfig.cuda_graphs). If capture fails, training goes on eagerly.
"""

from __future__ import annotations

import contextlib

import torch

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as CUDA graphs require


def graph_optimizer(model: torch.nn.Module, lr: float, device: torch.device,
                    betas: tuple[float, float]) -> torch.optim.Optimizer:
    """Adam that a graph can replay: step counts and the lr on the device."""
    return torch.optim.Adam(model.parameters(), lr=torch.tensor(lr, device=device), betas=betas, capturable=True,
                            foreach=True)


class GraphStep:
    def __init__(self, model, opt, data, state, batch_size: int, precision: str = "fp32") -> None:
        self.model, self.opt, self.data, self.state = model, opt, data, state
        self.precision = precision
        self.index = torch.zeros(batch_size, dtype=torch.long, device=data.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out: torch.Tensor | None = None  # (3,) loss, mse, kl of the last step, on the device
        self.done = 0
        self.failed: str | None = None  # why capture was given up, if it was
        for group in opt.param_groups:  # a resumed state dict may have brought a float back
            if not isinstance(group["lr"], torch.Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), device=data.device)

    def _cast(self):
        # A captured graph cannot keep autocast's cache of cast weights: each
        # replay must cast the weights Adam has just updated.
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)

    def _body(self) -> torch.Tensor:
        with self._cast():
            parts = self.model.losses(self.data.batch(self.index))
        parts["loss"].backward()
        self.opt.step()
        out = torch.stack([parts["loss"], parts["mse"], parts["mse"] * 0]).detach()
        self.state.sums += out
        return out

    def __call__(self, lr: float, start: int) -> torch.Tensor:
        """One step on the batch at perm[start : start + batch]; returns its (3,) losses."""
        self.index.copy_(self.state.perm[start : start + len(self.index)])
        for group in self.opt.param_groups:
            group["lr"].fill_(lr)
        if self.graph is None and self.failed is None and self.done >= WARMUP_STEPS:
            self._capture()
        self.done += 1
        if self.graph is not None:
            self.graph.replay()
            return self.out
        return self._eager()

    def _eager(self) -> torch.Tensor:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.opt.zero_grad(set_to_none=True)
            out = self._body()
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        try:
            with torch.cuda.graph(graph):
                self.out = self._body()
        except RuntimeError as exc:  # an op that cannot be captured: stay eager, say why once
            self.failed = str(exc).splitlines()[0][:200]
            self.out = None
            return
        self.graph = graph
