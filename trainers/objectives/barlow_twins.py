"""Barlow Twins as the gradient-equivalent surrogate of the unified gradient paradigm, original and modified.

u0, u1: the L2-normalised embeddings of the two dropout views, N the batch size, D the dimension,
sg = stop gradient. As VICReg (``vicreg.py``), ``L = f(u0, u1) + f(u1, u0)``, but the weights use the OTHER
view's self-similarity; for f(u1, u2):

    orig:  weight = sg(2 u2 u2^T / N^2)
           neg_i  = sum_j weight_ij (u1_i . sg(u1_j))
           C      = sg(u1^T u2) / N                                            (D x D; only its diagonal is used)
           pos_i  = sum_d pos_d (-u1_id sg(u2_id)),   pos_d = (1 - (1 - lambda) C_dd) 2/N
           f      = sum_i (pos_i + lambda neg_i)                                lambda = 30
    mod:   weight = sg(exp(u2 u2^T / tau) / sum_{k != l} exp(u2_k . u2_l / tau))          (w_w)
           pos_i  = lambda * ratio * (sum_{j != i} weight_ij) * (-u1_i . u2_i)   u2 NOT detached   (w_r)
           and the gradient-dissipation switch (w_gd) on both views: row i of view v keeps its gradient only
           where 1 - max_{j != i} uv_i . uv_j < m (same-view similarities); other rows are sg(uv_i).
                                                                               lambda = 1, m = 0.30,
                                                                               tau = 0.05, ratio = 1.50

"orig" is the official code's surrogate of the cross-correlation loss on normalised embeddings, not the
textbook loss. Each switch can be set on its own (the official code composes them freely).

Zbontar, Jing, Misra, LeCun & Deny, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", ICML
2021; surrogate and modification from Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence
Representation Learning: A Unified Paradigm for Gradient", ACL 2024 (arXiv 2402.18281; official code
BDBC-KG-NLP/UnderstandingCSE, ``isotropy/models.py``).

Defaults are the official BERT-base settings (batch 128, lr 1e-5 in both variants): orig lambda 30; mod
lambda 1, m 0.30, tau 0.05, ratio 1.50. RoBERTa-base (batch 512): orig lambda 30 (lr 1e-6); mod lambda 1,
m 0.37, tau 0.05, ratio 1.25 (lr 1e-5).

Returned terms (their sum is L): ``barlow_twins_align`` = sum of the pos terms of both directions,
``barlow_twins_uniform`` = lambda * sum of the neg terms of both directions.
"""

import torch

from .base import GRADIENT_PARADIGM_CITATION
from .vicreg import VICReg, exp_weight


class BarlowTwins(VICReg):
    """Barlow Twins surrogate, ``variant="orig"`` or ``"mod"``. Returns
    ``{"barlow_twins_align", "barlow_twins_uniform"}``.

    Args:
        variant: "orig" (switches off, lambda 30) or "mod" (all switches on, lambda 1). Default "orig".
        lambda_: weight of the uniformity (neg) term and of the orig positive's C_dd, >= 0; default 30 (orig) or
            1 (mod).
        margin: m >= 0 of the gradient-dissipation mask (w_gd); default 0.30.
        temperature: tau > 0 of the w_w weights; default 0.05.
        ratio: > 0, scales the positive term under w_r; default 1.50.
        w_gd, w_w, w_r: the modification switches; ``None`` (default) means on for "mod", off for "orig".
    """

    title = "Barlow Twins"
    description = (
        "A non-contrastive objective (cross-correlation of the two views), as the paper's code writes it: a "
        "gradient-equivalent surrogate."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "barlow_twins"
    orig_lambda = 30.0

    def weight(self, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
        """The detached (N, N) weights of f(u1, u2): Barlow Twins uses the other view's self-similarity."""
        if self.w_w:
            return exp_weight(u2, self.temperature)
        u2 = u2.detach()
        return 2 * u2 @ u2.T / u2.shape[0] ** 2

    def orig_positive(self, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
        """``sum_i pos_i`` with w_r off: ``sum_i sum_d (1 - (1 - lambda) C_dd) (2/N) (-u1_id sg(u2_id))``."""
        n = u1.shape[0]
        u2 = u2.detach()
        c_diagonal = (u1.detach() * u2).sum(dim=0) / n  # diag(u1^T u2) / N, without forming the D x D matrix
        pos = (1 - (1 - self.lambda_) * c_diagonal) * 2 / n
        return (pos * -(u1 * u2)).sum()

