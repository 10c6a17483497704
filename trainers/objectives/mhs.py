"""MHS (maximum hyperspherical separation) as the gradient-equivalent surrogate of the unified gradient
paradigm, original and modified.

u0, u1: the L2-normalised embeddings of the two dropout views, N the batch size, sg = stop gradient,
align_i = 2 - 2 u0_i . u1_i, and v' the view other than v:

    dmin_v,i = min_{j != i} sqrt(||uv_i - sg(uv'_j)||^2 + 1e-4),     Uv_i = -dmin_v,i
    L        = lambda (mean_i U0_i + mean_i U1_i) + mean_i a0_i + mean_i a1_i
    orig:    a0_i = a1_i = align_i / 2                                                       lambda = 1
    mod:     av_i = align_i * ratio / (2 sg(dmin_v,i))                    (w_r)              lambda = 1,
             and the gradient-dissipation switch (w_gd) on both views: row i of view v keeps its gradient
             only where 1 - max_{j != i} uv_i . uv_j < m (same-view similarities); other rows are sg(uv_i).
                                                                          m = 0.30, ratio = 1.75
             w_w is accepted for a uniform interface and has no effect (as in the official code); MHS has no
             temperature.

Each switch can be set on its own (the official code composes them freely).

Liu et al., "Learning with Hyperspherical Uniformity", AISTATS 2021 (hyperspherical separation); surrogate and
modification from Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence Representation
Learning: A Unified Paradigm for Gradient", ACL 2024 (arXiv 2402.18281; official code
BDBC-KG-NLP/UnderstandingCSE, ``isotropy/models.py``).

Defaults are the official BERT-base settings (batch 128): orig lambda 1 (lr 5e-6); mod lambda 1, m 0.30,
ratio 1.75 (lr 1e-5). RoBERTa-base (batch 512): orig lambda 1 (lr 1e-6); mod lambda 1, m 0.27, ratio 1.00
(lr 1e-5).

Returned terms (their sum is L): ``mhs_align`` = mean a0 + mean a1, ``mhs_uniform`` = lambda (mean U0 + mean U1).

[decision] The squared distances are expanded as ``|a|^2 + |b|^2 - 2 a.b`` instead of the official code's
(N, N, D) broadcast: the same values and gradients up to rounding, with O(N^2) instead of O(N^2 D) memory.
"""


import torch

from .base import GRADIENT_PARADIGM_CITATION, Gathered, full_precision
from .vicreg import NonContrastiveObjective

DISTANCE_EPS = 1e-4


def nearest_cross_view_distance(u: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``min_{j != i} sqrt(||u_i - sg(other_j)||^2 + 1e-4)`` for each row i of ``u``."""
    other = other.detach()
    squared = (u * u).sum(dim=-1, keepdim=True) + (other * other).sum(dim=-1) - 2 * u @ other.T
    distance = (squared + DISTANCE_EPS).sqrt()
    eye = torch.eye(u.shape[0], dtype=torch.bool, device=u.device)
    return distance.masked_fill(eye, float("inf")).min(dim=-1).values


class MHS(NonContrastiveObjective):
    """MHS surrogate, ``variant="orig"`` or ``"mod"``. Returns ``{"mhs_align", "mhs_uniform"}``.

    Args:
        variant: "orig" (switches off) or "mod" (all switches on). Default "orig".
        lambda_: weight of the uniformity term, >= 0; default 1 in both variants.
        margin: m >= 0 of the gradient-dissipation mask (w_gd); default 0.30.
        ratio: > 0, scales the alignment under w_r; default 1.75.
        w_gd, w_w, w_r: the modification switches; ``None`` (default) means on for "mod", off for "orig".
            ``w_w`` has no effect on MHS.
    """

    title = "MHS (maximum hyperspherical separation)"
    description = (
        "A non-contrastive uniformity objective: alignment of the two views plus the (negated) distance of "
        "each embedding to its nearest other-view neighbour."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "mhs"
    orig_lambda = 1.0

    def __init__(
        self,
        variant: str = "orig",
        lambda_: float | None = None,
        margin: float = 0.30,
        ratio: float = 1.75,
        w_gd: bool | None = None,
        w_w: bool | None = None,
        w_r: bool | None = None,
    ):
        super().__init__(variant, lambda_, margin, None, ratio, w_gd, w_w, w_r)

    @full_precision
    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        u0, u1 = self.views(anchor, positive)
        align = 2 - 2 * (u0 * u1).sum(dim=-1)
        dmin0 = nearest_cross_view_distance(u0, u1)
        dmin1 = nearest_cross_view_distance(u1, u0)
        if self.w_r:
            alignment = ((align * self.ratio / (2 * dmin0.detach())).mean()
                         + (align * self.ratio / (2 * dmin1.detach())).mean())
        else:
            alignment = 2 * (align / 2).mean()
        return {f"{self.name}_align": alignment, f"{self.name}_uniform": self.lambda_ * (-dmin0.mean() - dmin1.mean())}
