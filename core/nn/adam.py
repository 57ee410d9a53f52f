"""Adam for the engine: torch's fused Adam kernel, without torch.optim's Optimizer.

Why not torch.optim.Adam: its base class wraps methods in torch._disable_dynamo,
which imports torch._dynamo on first use, and that import alone takes longer
than `import torch` (1.5 to 3 s here), all of it before the first training
step. The update itself is the same kernel torch.optim.Adam(fused=True) runs
(torch._fused_adam_), so the numbers are the same; the state dict has
torch.optim.Adam's layout, so checkpoints load into either.

torch._fused_adam_ is private: it may vanish or change its arguments in a
torch release. `adam()` tries it once per device type on a scratch tensor,
with the very call `step` makes, and falls back to the public
torch.optim.Adam(fused=True) (same kernel, same numbers, the start-up cost
back) when it is missing or refuses the call.
"""

from __future__ import annotations

import torch

BETAS = (0.9, 0.999)  # torch's defaults; a run's β2 comes from its config (adam_beta2)
EPS = 1e-8


_WORKS: dict[tuple[str, object], bool] = {}


def adam(params, lr: float, device: torch.device, betas: tuple[float, float] = BETAS):
    """Adam over `params` on `device`: FusedAdam where the private kernel works, else torch's own."""
    params = list(params)
    if kernel_works(device):
        return FusedAdam(params, lr, betas)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


def kernel_works(device: torch.device) -> bool:
    """Whether torch's private fused Adam kernel takes our call on `device` (tried once)."""
    kernel = getattr(torch, "_fused_adam_", None)
    key = (device.type, kernel)
    if key not in _WORKS:
        _WORKS[key] = kernel is not None and _kernel_takes_our_call(kernel, device)
    return _WORKS[key]


def _kernel_takes_our_call(kernel, device: torch.device) -> bool:
    p, g, m, v = (torch.zeros(1, device=device) for _ in range(4))
    try:
        _update(kernel, [p], [g], [m], [v], [torch.ones((), device=device)], 0.0, BETAS)
    except (TypeError, RuntimeError, NotImplementedError):  # a changed signature, an unsupported device
        return False
    return True


@torch.no_grad()
def _update(kernel, params, grads, exp_avg, exp_avg_sq, steps, lr: float, betas: tuple[float, float]) -> None:
    kernel(params, grads, exp_avg, exp_avg_sq, [], steps, amsgrad=False, lr=lr,
           beta1=betas[0], beta2=betas[1], weight_decay=0.0, eps=EPS, maximize=False)


class FusedAdam:
    """Adam (no weight decay, no amsgrad) over one group of parameters on one device."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = BETAS) -> None:
        self.params = [p for p in params]
        self._groups(lr, betas)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # one float step count per parameter, as torch keeps them (on the CPU for a CPU model)
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def _groups(self, lr: float, betas: tuple[float, float]) -> None:
        self.param_groups = [{"lr": lr, "betas": tuple(betas), "eps": EPS, "weight_decay": 0.0, "amsgrad": False,
                              "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                              "fused": True, "decoupled_weight_decay": False}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        pick = lambda xs: [xs[i] for i in live]  # noqa: E731
        steps = pick(self.steps)
        torch._foreach_add_(steps, 1)
        _update(torch._fused_adam_, pick(self.params), [self.params[i].grad for i in live], pick(self.exp_avg),
                pick(self.exp_avg_sq), steps, group["lr"], group["betas"])

    def state_dict(self) -> dict:
        """torch.optim.Adam's layout: per-parameter state keyed by position, one group."""
        state = {i: {"step": s.clone(), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
                 for i, (s, m, v) in enumerate(zip(self.steps, self.exp_avg, self.exp_avg_sq)) if s.item() > 0}
        return {"state": state, "param_groups": [{**self.param_groups[0], "params": list(range(len(self.params)))}]}

    def load_state_dict(self, saved: dict) -> None:
        """Take a state dict of this class or of torch.optim.Adam over the same parameters."""
        groups = saved["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("optimizer state is for a different set of parameters")
        for i, p in enumerate(self.params):
            one = saved["state"].get(i, saved["state"].get(str(i)))
            if one is None:
                continue
            if one["exp_avg"].shape != p.shape:
                raise ValueError(f"optimizer state of parameter {i} has shape {tuple(one['exp_avg'].shape)}")
            self.exp_avg[i].copy_(one["exp_avg"])
            self.exp_avg_sq[i].copy_(one["exp_avg_sq"])
            self.steps[i].copy_(torch.as_tensor(one["step"], dtype=torch.float32))
        self.param_groups[0]["lr"] = groups[0]["lr"]


def flatten(params) -> torch.Tensor:
    """Move `params` (one dtype, one device) into one contiguous buffer and
    make each a view of its slice; returns the buffer. Values are unchanged."""
    params = list(params)
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    for p, view in zip(params, views(flat, params)):
        p.data = view
    return flat


def views(flat: torch.Tensor, params) -> list[torch.Tensor]:
    """Slices of `flat` shaped like `params`, in order (the layout flatten() made)."""
    out, offset = [], 0
    for p in params:
        out.append(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    return out


class FlatAdam(FusedAdam):
    """FusedAdam over parameters that flatten() has put in one buffer.

    One kernel call over 1 M numbers instead of one per parameter, with the
    gradients in one buffer too (`grad`, which each p.grad views), so a
    hand-written backward (core/engine/handstep.py) can fill it in place.
    Every parameter is updated on every step, so one step count serves all;
    the state dict keeps torch.optim.Adam's per-parameter layout.
    """

    def __init__(self, params, flat: torch.Tensor, lr: float, betas: tuple[float, float] = BETAS) -> None:
        self.params = list(params)
        self.flat = flat
        self.grad = torch.zeros_like(flat)
        self.m, self.v = torch.zeros_like(flat), torch.zeros_like(flat)
        self.exp_avg, self.exp_avg_sq = views(self.m, self.params), views(self.v, self.params)
        self.steps = [torch.zeros((), dtype=torch.float32, device=flat.device)] * len(self.params)
        for p, g in zip(self.params, views(self.grad, self.params)):
            p.grad = g
        self._groups(lr, betas)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to do: the hand-written backward overwrites every gradient."""

    @torch.no_grad()
    def step(self) -> None:
        count = self.steps[0]
        count += 1
        group = self.param_groups[0]
        _update(torch._fused_adam_, [self.flat], [self.grad], [self.m], [self.v], [count], group["lr"],
                group["betas"])
