"""MHE (minimum hyperspherical energy) as the gradient-equivalent surrogate of the unified gradient paradigm,
original and modified.

u0, u1: the L2-normalised embeddings of the two dropout views, N the batch size, sg = stop gradient,
align_i = 2 - 2 u0_i . u1_i:

    Uv    = logsumexp_{i > j} (uv_i . uv_j [/ tau])              (one LSE over the N(N-1)/2 same-view pairs)
    L     = lambda (U0 + U1) + sum_i a0_i + sum_i a1_i
    orig: a0_i = a1_i = align_i / (2N)                                                       lambda = 10
    mod:  logits / tau and av_i = align_i * ratio * omega_i / 2,                             lambda = 1,
          omega_i = sg(exp(LSE_{j != i}(uv_i . uv_j / tau) - Uv) / tau)       (w_w: tau and omega)
          ratio multiplies a (w_r); both views first pass the gradient-dissipation switch (w_gd): row i of
          view v keeps its gradient only where 1 - max_{j != i} uv_i . uv_j < m; other rows are sg(uv_i).
                                                                  m = 0.30, tau = 0.05, ratio = 1.75

"orig" is the official code's surrogate (a log-sum-exp of the pairwise similarities), not the textbook MHE.
Each switch can be set on its own (the official code composes them freely); with w_w off, the logits are not
divided by tau and omega_i = 1/N; with w_r off, ratio is 1.

Liu et al., "Learning towards Minimum Hyperspherical Energy", NeurIPS 2018; surrogate and modification from
Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence Representation Learning: A Unified
Paradigm for Gradient", ACL 2024 (arXiv 2402.18281; official code BDBC-KG-NLP/UnderstandingCSE,
``isotropy/models.py``).

Defaults are the official BERT-base settings (batch 128, lr 1e-5 in both variants): orig lambda 10; mod
lambda 1, m 0.30, tau 0.05, ratio 1.75. RoBERTa-base (batch 512): orig lambda 10 (lr 1e-6); mod lambda 1,
m 0.30, tau 0.05, ratio 1.25 (lr 1e-5).

Returned terms (their sum is L): ``mhe_align`` = sum_i a0_i + sum_i a1_i, ``mhe_uniform`` = lambda (U0 + U1).
"""


import torch

from .base import GRADIENT_PARADIGM_CITATION, Gathered, full_precision
from .vicreg import NonContrastiveObjective


class MHE(NonContrastiveObjective):
    """MHE surrogate, ``variant="orig"`` or ``"mod"``. Returns ``{"mhe_align", "mhe_uniform"}``.

    Args:
        variant: "orig" (switches off, lambda 10) or "mod" (all switches on, lambda 1). Default "orig".
        lambda_: weight of the uniformity term, >= 0; default 10 (orig) or 1 (mod).
        margin: m >= 0 of the gradient-dissipation mask (w_gd); default 0.30.
        temperature: tau > 0 of the logits and of omega under w_w; default 0.05.
        ratio: > 0, scales the alignment under w_r; default 1.75.
        w_gd, w_w, w_r: the modification switches; ``None`` (default) means on for "mod", off for "orig".
    """

    title = "MHE (minimum hyperspherical energy)"
    description = (
        "A non-contrastive uniformity objective: alignment of the two views plus the log-sum-exp energy of "
        "each view's pairwise similarities."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "mhe"
    orig_lambda = 10.0

    def __init__(
        self,
        variant: str = "orig",
        lambda_: float | None = None,
        margin: float = 0.30,
        temperature: float = 0.05,
        ratio: float = 1.75,
        w_gd: bool | None = None,
        w_w: bool | None = None,
        w_r: bool | None = None,
    ):
        super().__init__(variant, lambda_, margin, temperature, ratio, w_gd, w_w, w_r)

    def energy(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Uv, omega)`` of one view: the LSE over the pairs i > j, and the detached per-row weight omega."""
        n = u.shape[0]
        logits = u @ u.T
        if self.w_w:
            logits = logits / self.temperature
        rows, cols = torch.tril_indices(n, n, offset=-1, device=u.device)
        uniform = torch.logsumexp(logits[rows, cols], dim=0)
        if not self.w_w:
            return uniform, torch.full((n,), 1.0 / n, dtype=u.dtype, device=u.device)
        with torch.no_grad():
            eye = torch.eye(n, dtype=torch.bool, device=u.device)
            row_lse = torch.logsumexp(logits.detach().masked_fill(eye, float("-inf")), dim=-1)
            omega = torch.exp(row_lse - uniform.detach()) / self.temperature
        return uniform, omega

    @full_precision
    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        u0, u1 = self.views(anchor, positive)
        align = 2 - 2 * (u0 * u1).sum(dim=-1)
        uniform0, omega0 = self.energy(u0)
        uniform1, omega1 = self.energy(u1)
        ratio = self.ratio if self.w_r else 1.0
        alignment = (align * omega0 * ratio / 2).sum() + (align * omega1 * ratio / 2).sum()
        return {f"{self.name}_align": alignment, f"{self.name}_uniform": self.lambda_ * (uniform0 + uniform1)}
