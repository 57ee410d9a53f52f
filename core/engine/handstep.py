"""The autoencoder's training step written out by hand, for the CPU.

Autograd does nothing wrong here, but on a CPU the model's matmuls are only
part of a step: under bf16 autocast each Linear casts its weight on every
forward and its gradient back to fp32 on every backward, Adam runs over
twelve tensors, and the graph is built and torn down each step. This step
keeps all weights in one flat buffer (core.nn.adam.flatten), casts them to
bf16 in one pass, writes every gradient in place into one bf16 buffer, casts
that back in one pass, and runs Adam once over the flat fp32 buffers.
Measured on the 2-core Xeon (AVX-512, AMX; bf16, batch 256, alternating
rounds): 4.3 ms a step against autograd's 5.0 ms; the bf16 floor (the same
matmuls alone, back to back) 1.7 ms.

The maths, for each Linear h = a Wᵀ + b followed by an activation f, with
g the loss's gradient with respect to h (products elementwise where marked *):
    dW = gᵀ a,   db = the sum of g over the batch,   da = g W,
    and the layer below gets g = f'(h_below) * da;
for the output, y = tanh(h) and loss = mean((y - x)²) over B·784 numbers:
    g = 2 / (B·784) · (y - x) * (1 - y²).
Activation gradients use torch's own backward kernels (aten.*_backward),
the same ones autograd calls. The loss and tanh are taken in fp32, as the
autograd path does (core/nn/models.py FloatTanh).

Only the plain autoencoder on the CPU takes this path; a VAE (sampling, KL)
and other devices keep autograd. tests/unit/test_handstep.py checks losses,
gradients and the Adam update against autograd and torch.optim.Adam.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.nn.adam import FlatAdam, views

aten = torch.ops.aten

FORWARD = {"silu": F.silu, "gelu": F.gelu, "relu": F.relu, "tanh": torch.tanh}
# f'(h) * g from the pre-activation h and the output f(h), whichever the kernel wants
BACKWARD = {
    "silu": lambda g, h, out: aten.silu_backward(g, h),
    "gelu": lambda g, h, out: aten.gelu_backward(g, h),
    "relu": lambda g, h, out: aten.threshold_backward(g, out, 0),
    "tanh": lambda g, h, out: aten.tanh_backward(g, out),
}
KINDS = {nn.SiLU: "silu", nn.GELU: "gelu", nn.ReLU: "relu", nn.Tanh: "tanh"}


def layers_of(model: nn.Module) -> tuple[list[nn.Linear], list[str | None]] | None:
    """The Linear layers of a plain AutoEncoder and the activation after each
    (None after the code and before the output tanh); None for any other model."""
    from core.nn.models import AutoEncoder, FloatTanh

    if type(model) is not AutoEncoder or len(model.decoder) != 2 or not isinstance(model.decoder[1], FloatTanh):
        return None
    modules = [*model.encoder, *model.decoder[0]]
    linears: list[nn.Linear] = []
    acts: list[str | None] = []
    for m in modules:
        if isinstance(m, nn.Linear):
            linears.append(m)
            acts.append(None)
        elif type(m) in KINDS and acts and acts[-1] is None:
            if isinstance(m, nn.GELU) and m.approximate != "none":
                return None
            acts[-1] = KINDS[type(m)]
        else:
            return None
    return linears, acts


class HandStep:
    """forward + loss, backward, Adam for one batch; `opt` must be the FlatAdam over `model`."""

    # The matmuls the step calls; aekl bench swaps in timed ones to see what
    # the matmuls themselves take inside a real step (core/lab/bench.py step_parts).
    mm = staticmethod(torch.mm)
    addmm = staticmethod(torch.addmm)

    def __init__(self, model: nn.Module, opt: FlatAdam, precision: str) -> None:
        found = layers_of(model)
        if found is None:
            raise ValueError("the hand-written step is only for the plain autoencoder")
        self.linears, self.acts = found
        self.opt = opt
        self.dtype = torch.bfloat16 if precision == "bf16" else opt.flat.dtype
        if self.dtype == opt.flat.dtype:  # fp32: multiply the weights themselves, write the gradients directly
            self.weights, self.grads = opt.flat, opt.grad
        else:  # bf16 copies, refreshed from / cast back to the fp32 buffers each step
            self.weights = torch.empty_like(opt.flat, dtype=self.dtype)
            self.grads = torch.empty_like(opt.grad, dtype=self.dtype)
        params = [p for m in self.linears for p in (m.weight, m.bias)]
        w, g = views(self.weights, params), views(self.grads, params)
        self.w, self.b, self.gw, self.gb = w[0::2], w[1::2], g[0::2], g[1::2]
        self.zero = torch.zeros((), device=opt.flat.device)
        self._saved: tuple | None = None

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One training step on the images `x` (B, 784) in [-1, 1]; returns (3,): loss, mse, 0."""
        loss = self.forward(x)
        self.backward()
        self.opt.step()
        return torch.stack((loss, loss, self.zero))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The MSE of the reconstruction of `x`; keeps what backward needs."""
        if self.weights is not self.opt.flat:
            self.weights.copy_(self.opt.flat)  # this step's bf16 weights, in one pass
        a = x.to(self.dtype)
        inputs, pre, post = [], [], []
        for w, b, act in zip(self.w, self.b, self.acts):
            inputs.append(a)
            h = self.addmm(b, a, w.t())
            pre.append(h)
            a = FORWARD[act](h) if act else h
            post.append(a)
        y = torch.tanh(h if h.dtype.itemsize >= 4 else h.float())  # fp32 at least, as FloatTanh
        diff = y - x
        n = diff.numel()
        loss = torch.dot(diff.view(-1), diff.view(-1)) / n
        self._saved = (inputs, pre, post, diff, y)
        return loss

    @torch.no_grad()
    def backward(self) -> None:
        """Every weight's and bias's gradient, written into the optimizer's `grad` buffer."""
        inputs, pre, post, diff, y = self._saved
        self._saved = None
        g = torch.empty(diff.shape, dtype=self.dtype, device=diff.device)
        torch.mul(aten.tanh_backward(diff, y), 2.0 / diff.numel(), out=g)
        for k in reversed(range(len(self.linears))):
            torch.sum(g, 0, out=self.gb[k])
            self.mm(g.t(), inputs[k], out=self.gw[k])
            if k == 0:
                break
            g = self.mm(g, self.w[k])
            act = self.acts[k - 1]
            if act:
                g = BACKWARD[act](g, pre[k - 1], post[k - 1])
        if self.grads is not self.opt.grad:
            self.opt.grad.copy_(self.grads)  # back to fp32 for Adam, in one pass
