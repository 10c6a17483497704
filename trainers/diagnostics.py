"""Gradient diagnostics of the unified gradient paradigm, from the current batch, for any objective.

Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence Representation Learning: A Unified
Paradigm for Gradient", ACL 2024 (arXiv 2402.18281) write the gradient of an anchor's loss w.r.t. its
normalised embedding h_i, the other view's normalised embeddings h' held constant, as

    g_i = GD_i * sum_{j != i} W_ij (h'_j - R_i h'_i),     sum_{j != i} W_ij = 1,

i.e. ``g_i = H'^T a_i`` with ``a_ij = GD_i W_ij`` (j != i) and ``a_ii = -GD_i R_i``. Given any coefficient vector,
``GD_i = sum_{j != i} a_ij``, ``W_ij = a_ij / GD_i`` and ``R_i = -a_ii / GD_i``.

What is computed (``gradient_diagnostics``), every call on detached copies, never touching the model's graph,
any ``.grad`` or the optimizer:

1. h, h' = L2-normalised float64 copies of the two views; g = autograd gradient of the objective's total loss
   (the sum of its terms) w.r.t. h, with h' constant, times B (the objectives average over anchors; for the four
   contrastive losses B * dL/dh_i is exactly anchor i's own term's gradient). The objective runs on the
   embeddings' device; everything after the backward runs on CPU in float64 ((B, d) tensors are moved).
2. The coefficients: where the objective has ``gradient_components`` (InfoNCE, ArcCon, MPT, MET) the closed form;
   otherwise a least-squares fit (below). The fit's or the closed form's relative residual against g is
   reported either way (for a closed form it is a check and should be ~0).

The fit, and why it is done in the tangent space. Every objective L2-normalises its inputs inside ``forward``,
so autograd only sees the tangential part ``P_i g_i`` (``P_i = I - h_i h_i^T``) of the paradigm's gradient: the
radial part cannot change a normalised embedding (g is projected onto the tangent space first, in case an
objective does not normalise). So the fit is ``min_a ||P_i (g_i - H'^T a)||``, which recovers
exactly the paradigm's coefficients when they exist (the closed form and the fit agree to rounding on InfoNCE).
It is solved as ``min_{a, c} ||g_i - H'^T a - c h_i||`` by partialling out: one ``torch.linalg.lstsq`` of the
shared ``(d, B)`` matrix ``H'^T`` against the 2B right-hand sides ``[g_i, h_i]`` (driver ``gelsd`` on CPU, in
float64: an SVD, so a minimum-norm solution when B >= d or H' is rank-deficient), then per anchor
``c_i = (r_h . r_g) / (r_h . r_h)`` from the residuals and ``a_i = H'^+ (g_i - c_i h_i)``.
Notes: when B >= d the span of H' is over-complete and the coefficients are the minimum-norm ones, not unique;
R is poorly determined when the two views nearly coincide (``P_i h'_i`` is then short), which is also when R has
little effect on training.

Reported (means over the batch; the W and R statistics over the anchors that receive gradient, NaN when none):

- ``grad/gd``: mean GD (0 for anchors whose gradient is dissipated, e.g. MPT/MET past the margin).
- ``grad/active``: fraction of anchors with GD != 0 (closed form) or a non-vanishing fitted gradient.
- ``grad/w_max``: mean mass of the largest weight, ``max_j q_ij`` with ``q_i = |W_i| / sum_j |W_ij|``.
- ``grad/w_hardest``: mean ``q_ik`` on the hardest negative ``k = argmax_{j != i} h_i . h'_j``.
- ``grad/w_entropy``: mean entropy of ``q_i`` in nats (``log(B - 1)`` for uniform weights, 0 for one-hot).
- ``grad/ratio``: mean R.
- ``grad/norm``: mean ``||g_i||`` (the B-scaled gradient).
- ``grad/fit_residual``: ``||g - fit||_F / ||g||_F`` over the batch, in [0, 1] for the fit (0 when g = 0).
- ``grad/closed_form``: 1.0 when the closed form was used, else 0.0.

Cost: one objective forward and a backward on (B, d) tensors and one (d, B) lstsq; no model forward. On a
2-core CPU at B = 64, d = 256: about 2 ms with the closed form, 5-10 ms with the fit (single BLAS thread); a
CPU oversubscribed by other processes makes multi-threaded BLAS spin and can multiply this many times.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

# An anchor receives gradient when ||g_i|| exceeds this fraction of the batch's largest ||g_k|| ...
GRADIENT_TOLERANCE = 1e-6
# ... and its net weight on the negatives |GD_i| exceeds this fraction of sum_j |a_ij|.
GD_TOLERANCE = 1e-6
# ||r_h||^2 below this: h_i lies in the span of H' (B >= d) and c_i is set to 0 (it is then absorbed by a_i).
SPAN_TOLERANCE = 1e-10


class GradientComponents(NamedTuple):
    """Per-anchor components of the paradigm, on CPU in float64."""

    gd: torch.Tensor  # (B,)
    weight: torch.Tensor  # (B, B), zero diagonal
    ratio: torch.Tensor  # (B,)
    coefficients: torch.Tensor  # (B, B): g_i ~ sum_j a_ij h'_j (tangential part)
    active: torch.Tensor  # (B,) bool: the anchor receives gradient and GD != 0
    residual: float  # ||g - fit||_F / ||g||_F
    closed_form: bool


def _cast(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is not None:
        return x.to(dtype)
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def anchor_gradient(
    objective: torch.nn.Module,
    anchor: torch.Tensor,
    positive: torch.Tensor,
    output: object | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(g, h, h')``: ``B * d L / d h`` for the normalised anchors h, the normalised positives h' held constant.

    Works on detached copies (inside ``enable_grad`` even when called under ``no_grad``), so the caller's graph
    and every ``.grad`` stay untouched. ``dtype``: the precision the objective is evaluated in (float64 by
    default; ``None`` keeps the embeddings' own, fp16/bf16 raised to fp32).
    """
    with torch.inference_mode(False), torch.enable_grad():
        h = F.normalize(_cast(anchor.detach().clone(), dtype), dim=-1)
        h_pos = F.normalize(_cast(positive.detach().clone(), dtype), dim=-1)
        leaf = h.clone().requires_grad_(True)
        terms = objective(leaf, h_pos) if output is None else objective(leaf, h_pos, output=output)
        total = sum(terms.values())
        if isinstance(total, torch.Tensor) and total.requires_grad:
            (grad,) = torch.autograd.grad(total, leaf, allow_unused=True)
        else:
            grad = None
    if grad is None:
        grad = torch.zeros_like(h)
    return grad.detach() * h.shape[0], h, h_pos


def _tangential(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Row-wise ``P_i v_i = v_i - (h_i . v_i) h_i``."""
    return v - (v * h).sum(dim=-1, keepdim=True) * h


def _relative_residual(g: torch.Tensor, fit: torch.Tensor) -> float:
    norm = torch.linalg.norm(g)
    return 0.0 if norm == 0 else float(torch.linalg.norm(g - fit) / norm)


def _fitted_gradient(coefficients: torch.Tensor, h: torch.Tensor, h_pos: torch.Tensor) -> torch.Tensor:
    """Row-wise ``P_i H'^T a_i``."""
    return _tangential(coefficients @ h_pos, h)


def _split(coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(GD, W, R)`` from coefficients ``a``; W and R are 0 where GD is 0."""
    diagonal = torch.diagonal(coefficients)
    off = coefficients - torch.diag_embed(diagonal)
    gd = off.sum(dim=-1)
    safe = torch.where(gd == 0, torch.ones_like(gd), gd)
    weight = torch.where((gd != 0)[:, None], off / safe[:, None], torch.zeros_like(off))
    ratio = torch.where(gd != 0, -diagonal / safe, torch.zeros_like(gd))
    return gd, weight, ratio


def fit_gradient_components(g: torch.Tensor, h: torch.Tensor, h_pos: torch.Tensor) -> GradientComponents:
    """Least-squares ``(GD, W, R)`` of each anchor: ``min_a ||P_i (g_i - H'^T a)||`` (see the module docstring)."""
    g, h, h_pos = (t.detach().to("cpu", torch.float64) for t in (g, h, h_pos))
    g = _tangential(g, h)
    n = g.shape[0]
    basis = h_pos.T  # (d, B)
    solution = torch.linalg.lstsq(basis, torch.cat([g, h], dim=0).T, driver="gelsd").solution  # (B, 2B)
    a_g, a_h = solution[:, :n].T, solution[:, n:].T  # rows: coefficients of g_i and of h_i
    r_g, r_h = g - a_g @ h_pos, h - a_h @ h_pos
    r_h_squared = (r_h * r_h).sum(dim=-1)
    in_span = r_h_squared < SPAN_TOLERANCE
    c = torch.where(in_span, torch.zeros_like(r_h_squared),
                    (r_h * r_g).sum(dim=-1) / torch.where(in_span, 1.0, r_h_squared))
    coefficients = a_g - c[:, None] * a_h
    gd, weight, ratio = _split(coefficients)
    g_norm = torch.linalg.norm(g, dim=-1)
    active = (g_norm > GRADIENT_TOLERANCE * g_norm.max()) & (gd.abs() > GD_TOLERANCE * coefficients.abs().sum(dim=-1))
    residual = _relative_residual(g, _fitted_gradient(coefficients, h, h_pos))
    return GradientComponents(gd, weight, ratio, coefficients, active, residual, closed_form=False)


def closed_form_components(
    objective: torch.nn.Module,
    g: torch.Tensor,
    h: torch.Tensor,
    h_pos: torch.Tensor,
) -> GradientComponents:
    """``objective.gradient_components`` as ``GradientComponents``, with its residual against the autograd g."""
    gd, weight, ratio = (t.detach().to("cpu", torch.float64) for t in objective.gradient_components(h, h_pos))
    g, h, h_pos = (t.detach().to("cpu", torch.float64) for t in (g, h, h_pos))
    weight = weight - torch.diag_embed(torch.diagonal(weight))
    coefficients = gd[:, None] * (weight - torch.diag_embed(ratio * weight.sum(dim=-1)))
    residual = _relative_residual(_tangential(g, h), _fitted_gradient(coefficients, h, h_pos))
    return GradientComponents(gd, weight, ratio, coefficients, gd != 0, residual, closed_form=True)


def batch_components(
    objective: torch.nn.Module,
    anchor: torch.Tensor,
    positive: torch.Tensor,
    output: object | None = None,
    use_closed_form: bool = True,
    dtype: torch.dtype | None = torch.float64,
) -> tuple[GradientComponents, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(components, g, h, h')`` of the current batch: the closed form where available and wanted, else the fit."""
    g, h, h_pos = anchor_gradient(objective, anchor, positive, output, dtype)
    if use_closed_form and hasattr(objective, "gradient_components"):
        return closed_form_components(objective, g, h, h_pos), g, h, h_pos
    return fit_gradient_components(g, h, h_pos), g, h, h_pos


def summarize(
    components: GradientComponents,
    g: torch.Tensor,
    h: torch.Tensor,
    h_pos: torch.Tensor,
    prefix: str = "grad/",
) -> dict[str, float]:
    """The flat ``{name: float}`` statistics of the module docstring."""
    g, h, h_pos = (t.detach().to("cpu", torch.float64) for t in (g, h, h_pos))
    active = components.active
    mass = components.weight.abs()
    q = mass / mass.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(mass.dtype).tiny)
    entropy = -(q * torch.log(q.clamp_min(torch.finfo(q.dtype).tiny))).sum(dim=-1)
    similarity = h @ h_pos.T
    similarity.fill_diagonal_(float("-inf"))
    hardest = q.gather(1, similarity.argmax(dim=-1, keepdim=True)).squeeze(1)
    nan = torch.tensor(math.nan, dtype=torch.float64)

    def active_mean(x: torch.Tensor) -> torch.Tensor:
        return x[active].mean() if bool(active.any()) else nan

    stats = torch.stack([
        components.gd.mean(),
        active.double().mean(),
        active_mean(q.max(dim=-1).values),
        active_mean(hardest),
        active_mean(entropy),
        active_mean(components.ratio),
        torch.linalg.norm(g, dim=-1).mean(),
    ]).tolist()
    names = ["gd", "active", "w_max", "w_hardest", "w_entropy", "ratio", "norm"]
    result = {prefix + name: float(value) for name, value in zip(names, stats)}
    result[prefix + "fit_residual"] = float(components.residual)
    result[prefix + "closed_form"] = 1.0 if components.closed_form else 0.0
    return result


def gradient_diagnostics(
    objective: torch.nn.Module,
    anchor: torch.Tensor,
    positive: torch.Tensor,
    output: object | None = None,
    use_closed_form: bool = True,
    prefix: str = "grad/",
    dtype: torch.dtype | None = torch.float64,
) -> dict[str, float]:
    """GD / W / R statistics of ``objective`` on the current batch's two views (see the module docstring).

    Args:
        objective: any ``CseObjective``; its ``gradient_components`` closed form is used when it has one.
        anchor, positive: ``(B, d)`` embeddings of the two views (any device/dtype; detached copies are used).
        output: passed on to objectives that need the model output.
        use_closed_form: False forces the least-squares fit even where a closed form exists.
        prefix: prepended to every name.
        dtype: precision of the objective's evaluation; float64 (default) makes the closed-form check and the
            fit exact to ~1e-12 (in fp32, autograd's ``p_ii - 1`` cancels when p_ii ~ 1); ``None`` keeps the
            embeddings' dtype, e.g. for an objective with fp32 parameters.
    """
    components, g, h, h_pos = batch_components(objective, anchor, positive, output, use_closed_form, dtype)
    return summarize(components, g, h, h_pos, prefix)


__all__ = [
    "GradientComponents", "anchor_gradient", "fit_gradient_components", "closed_form_components",
    "batch_components", "summarize", "gradient_diagnostics",
]
