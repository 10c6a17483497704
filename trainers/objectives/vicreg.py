"""VICReg as the gradient-equivalent surrogate of the unified gradient paradigm, original and modified.

u0, u1: the L2-normalised embeddings of the two dropout views, N the batch size, sg = stop gradient.
The loss is ``L = f(u0, u1) + f(u1, u0)`` with, for f(u1, u2):

    orig:  weight = sg(2 u1 u1^T / N^2)                                       (N x N, diagonal included)
           neg_i  = sum_j weight_ij (u1_i . sg(u1_j))
           pos_i  = -(2/N) u1_i . sg(u2_i)
           f      = sum_i (pos_i + lambda neg_i)                                lambda = 30
    mod:   weight = sg(exp(u1 u1^T / tau) / sum_{k != l} exp(u1_k . u1_l / tau))          (w_w)
           pos_i  = lambda * ratio * (sum_{j != i} weight_ij) * (-u1_i . u2_i)   u2 NOT detached   (w_r)
           both views first pass the gradient-dissipation switch (w_gd): row i of view v keeps its gradient
           only where 1 - max_{j != i} uv_i . uv_j < m (same-view similarities); other rows are sg(uv_i).
                                                                               lambda = 1, m = 0.30,
                                                                               tau = 0.05, ratio = 1.50

"orig" is the official code's surrogate of VICReg's invariance + covariance terms on normalised embeddings, not
the textbook loss. Each switch can also be set on its own (the official code composes them freely); with w_w
off the weight is the orig one, with w_r off the positive term is the orig one.

Bardes, Ponce & LeCun, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning",
ICLR 2022; surrogate and modification from Li, Zhang & Nie, "Towards Better Understanding of Contrastive
Sentence Representation Learning: A Unified Paradigm for Gradient", ACL 2024 (arXiv 2402.18281; official code
BDBC-KG-NLP/UnderstandingCSE, ``isotropy/models.py``).

Defaults are the official BERT-base settings (batch 128, lr 1e-5 in both variants): orig lambda 30; mod
lambda 1, m 0.30, tau 0.05, ratio 1.50. RoBERTa-base (batch 512): orig lambda 30 (lr 1e-6); mod lambda 1,
m 0.37, tau 0.05, ratio 1.25 (lr 1e-5).

Returned terms (their sum is L): ``vicreg_align`` = sum of the pos terms of both directions,
``vicreg_uniform`` = lambda * sum of the neg terms of both directions.

[decision] Two numerical guards the official code lacks, neither changing a value or (in exact arithmetic) a
gradient: the w_w softmax subtracts the largest off-diagonal logit before ``exp`` (no overflow for small tau);
and the diagonal terms ``weight_ii u1_i . sg(u1_i)`` of neg are computed without gradient. Their gradient
w.r.t. the raw embeddings is exactly zero (it is radial, and the L2 normalisation removes radial components),
but under w_w ``weight_ii`` can exceed the off-diagonal weights by ``exp(2 / tau)``, so in fp32 the rounding
left over from cancelling that radial part would swamp the real gradient. (The same holds for Barlow Twins.)
"""

import typing

import torch
import torch.nn.functional as F

from ...modeling.configuration_simcse import ObjectiveVariant
from .base import GRADIENT_PARADIGM_CITATION, CseObjective, Gathered, check_views, full_precision, upcast_half

VARIANTS = typing.get_args(ObjectiveVariant)  # the config's own list: ("orig", "mod")


def gradient_dissipation(u: torch.Tensor, margin: float) -> torch.Tensor:
    """The w_gd switch: row i keeps its gradient iff ``1 - max_{j != i} u_i . u_j < margin``, else it is sg(u_i)."""
    with torch.no_grad():
        similarity = u @ u.T
        similarity.fill_diagonal_(float("-inf"))
        keep = (1 - similarity.max(dim=-1).values) < margin
    return torch.where(keep[:, None], u, u.detach())


def exp_weight(u: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sg(exp(u u^T / tau) / sum_{k != l} exp(u_k . u_l / tau))``: the full matrix, diagonal included."""
    with torch.no_grad():
        logits = u @ u.T / temperature
        off_diagonal = ~torch.eye(u.shape[0], dtype=torch.bool, device=u.device)
        weight = torch.exp(logits - logits[off_diagonal].max())
        return weight / weight[off_diagonal].sum()


class NonContrastiveObjective(CseObjective):
    """Shared machinery of the four non-contrastive surrogates (VICReg, Barlow Twins, MHE, MHS): the variant, the
    switches and the validation of their hyperparameters. ``temperature=None`` marks an objective without one (MHS).

    It lives here because Barlow Twins is "as VICReg" and the objectives package keeps one file per objective.
    """

    orig_lambda = 1.0
    variant_descriptions = {
        "orig": "Variant `orig`: the original objective (its gradient lacks the paradigm's components, which is why "
                "it does poorly on STS).",
        "mod": "Variant `mod`: modified as the paper proposes, adding the three components: gradient dissipation "
               "(`w_gd`, a margin on the same-view similarities), the weight (`w_w`, a softmax over negatives with a "
               "temperature) and the ratio (`w_r`).",
    }

    def card_description(self) -> str:
        return f"{self.description} {self.variant_descriptions[self.variant]}"

    def __init__(self, variant: str, lambda_: float | None, margin: float, temperature: float | None,
                 ratio: float, w_gd: bool | None, w_w: bool | None, w_r: bool | None):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if lambda_ is None:
            lambda_ = self.orig_lambda if variant == "orig" else 1.0
        if not lambda_ >= 0:
            raise ValueError(f"lambda_ must be >= 0, got {lambda_}")
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not ratio > 0:
            raise ValueError(f"ratio must be > 0, got {ratio}")
        modified = variant == "mod"
        self.variant = variant
        self.lambda_, self.margin, self.temperature, self.ratio = float(lambda_), margin, temperature, ratio
        self.w_gd = modified if w_gd is None else bool(w_gd)
        self.w_w = modified if w_w is None else bool(w_w)
        self.w_r = modified if w_r is None else bool(w_r)

    def extra_repr(self) -> str:
        temperature = "" if self.temperature is None else f", temperature={self.temperature}"
        return (f"variant={self.variant!r}, lambda_={self.lambda_}, margin={self.margin}{temperature}, "
                f"ratio={self.ratio}, w_gd={self.w_gd}, w_w={self.w_w}, w_r={self.w_r}")

    def views(self, anchor: torch.Tensor, positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u0, u1)``: the L2-normalised views, through the w_gd switch when it is on."""
        check_views(anchor, positive)
        u0 = F.normalize(upcast_half(anchor), dim=-1)
        u1 = F.normalize(upcast_half(positive), dim=-1)
        if self.w_gd:
            u0, u1 = gradient_dissipation(u0, self.margin), gradient_dissipation(u1, self.margin)
        return u0, u1


class VICReg(NonContrastiveObjective):
    """VICReg surrogate, ``variant="orig"`` or ``"mod"``. Returns ``{"vicreg_align", "vicreg_uniform"}``.

    Args:
        variant: "orig" (switches off, lambda 30) or "mod" (all switches on, lambda 1). Default "orig".
        lambda_: weight of the uniformity (neg) term, >= 0; default 30 (orig) or 1 (mod).
        margin: m >= 0 of the gradient-dissipation mask (w_gd); default 0.30.
        temperature: tau > 0 of the w_w weights; default 0.05.
        ratio: > 0, scales the positive term under w_r; default 1.50.
        w_gd, w_w, w_r: the modification switches; ``None`` (default) means on for "mod", off for "orig".
    """

    title = "VICReg"
    description = (
        "A non-contrastive objective (variance-invariance-covariance), as the paper's code writes it: a "
        "gradient-equivalent surrogate."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "vicreg"
    orig_lambda = 30.0

    def __init__(
        self,
        variant: str = "orig",
        lambda_: float | None = None,
        margin: float = 0.30,
        temperature: float = 0.05,
        ratio: float = 1.50,
        w_gd: bool | None = None,
        w_w: bool | None = None,
        w_r: bool | None = None,
    ):
        super().__init__(variant, lambda_, margin, temperature, ratio, w_gd, w_w, w_r)

    def weight(self, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
        """The detached (N, N) weights of f(u1, u2): VICReg uses u1's own self-similarity."""
        if self.w_w:
            return exp_weight(u1, self.temperature)
        u1 = u1.detach()
        return 2 * u1 @ u1.T / u1.shape[0] ** 2

    def orig_positive(self, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
        """``sum_i pos_i`` of f(u1, u2) with w_r off: ``-(2/N) sum_i u1_i . sg(u2_i)``."""
        return -(2 / u1.shape[0]) * (u1 * u2.detach()).sum()

    def directed_terms(self, u1: torch.Tensor, u2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sum_i pos_i, sum_i neg_i)`` of f(u1, u2); f = pos + lambda * neg."""
        weight = self.weight(u1, u2)
        similarity = u1 @ u1.detach().T
        # The diagonal terms w_ii u1_i . sg(u1_i) keep their value but get no gradient: through the L2
        # normalisation their gradient is exactly zero, while in fp32 their radial part (w_ii grows like
        # exp(2 / tau) under w_w) would leak rounding noise into the tangential gradient.
        eye = torch.eye(u1.shape[0], dtype=torch.bool, device=u1.device)
        similarity = torch.where(eye, similarity.detach(), similarity)
        negative = (weight * similarity).sum()
        if self.w_r:
            off_diagonal_mass = weight.masked_fill(eye, 0).sum(dim=-1)  # not rowsum - diag: that cancels in fp32
            positive = self.lambda_ * self.ratio * (off_diagonal_mass * -(u1 * u2).sum(dim=-1)).sum()
        else:
            positive = self.orig_positive(u1, u2)
        return positive, negative

    @full_precision
    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        u0, u1 = self.views(anchor, positive)
        pos01, neg01 = self.directed_terms(u0, u1)
        pos10, neg10 = self.directed_terms(u1, u0)
        return {f"{self.name}_align": pos01 + pos10, f"{self.name}_uniform": self.lambda_ * (neg01 + neg10)}
