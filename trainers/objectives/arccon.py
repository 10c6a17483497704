"""ArcCon: InfoNCE with an additive angular margin on the positive pair.

    theta_ii = arccos(s_ii),   s_ij = cos(h_i, h'_j)
    l_i = -log( exp(cos(theta_ii + u) / tau) / (exp(cos(theta_ii + u) / tau) + sum_{j != i} exp(s_ij / tau)) )
    L = 1/B sum_i l_i                                  (mean over anchors, as the official code's CrossEntropyLoss)

Zhang et al., "A Contrastive Framework for Learning Sentence Representations from Pairwise and Triple-wise
Perspective in Angular Space", ACL 2022 (ArcCon); in the form of Li, Zhang & Nie, "Towards Better
Understanding of Contrastive Sentence Representation Learning: A Unified Paradigm for Gradient", ACL 2024
(arXiv 2402.18281; official code BDBC-KG-NLP/UnderstandingCSE, ``isotropy/models.py``).

Defaults: u = 10 degrees, tau = 0.05.

Gradient paradigm (for the normalised anchor, positives constant): ``GD = (1 - p_ii) / tau`` and
``W_ij = softmax over negatives of s_ij / tau`` as InfoNCE (p computed with the margin-shifted positive logit),
and ``R = sin(theta_ii + u) / sin(theta_ii)`` (> 1 for u > 0: the positive is pulled harder than with InfoNCE).

[decision] ``s_ii`` is clamped to ``[-1 + 1e-6, 1 - 1e-6]`` before ``arccos`` (the official code does not clamp):
for two numerically identical views ``arccos`` would return NaN gradients. Inside the clamp nothing changes.
"""

import math

import torch

from .base import GRADIENT_PARADIGM_CITATION, SimilarityObjective, check_views, cosine_matrix, upcast_half
from .infonce import info_nce_from_similarity, softmax_gradient_components

ARCCOS_EPS = 1e-6


class ArcCon(SimilarityObjective):
    """InfoNCE whose positive logit is ``cos(theta_ii + u)``. Returns ``{"arccon": loss}``.

    Args:
        margin_degrees: the additive angular margin u, in degrees, 0 <= u < 180 (default 10).
        temperature: tau > 0 (default 0.05).
    """

    title = "ArcCon"
    description = (
        "InfoNCE with an additive angular margin on the positive: its logit is cos(theta_ii + u), u = 10 "
        "degrees by default; in the gradient paradigm GD and W are InfoNCE's and R = sin(theta_ii + u) / "
        "sin(theta_ii)."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "arccon"

    def __init__(self, margin_degrees: float = 10.0, temperature: float = 0.05):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 <= margin_degrees < 180:
            raise ValueError(f"margin_degrees must be in [0, 180), got {margin_degrees}")
        self.margin_degrees = float(margin_degrees)
        self.margin = math.radians(margin_degrees)
        self.temperature = temperature

    def _positive_angle(self, similarity: torch.Tensor) -> torch.Tensor:
        return torch.arccos(torch.diagonal(similarity).clamp(-1 + ARCCOS_EPS, 1 - ARCCOS_EPS))

    def loss_from_similarity(self, similarity: torch.Tensor) -> torch.Tensor:
        """The loss (mean over anchors) as a function of the ``(B, B)`` cosine matrix."""
        similarity = upcast_half(similarity)
        positive_logit = torch.cos(self._positive_angle(similarity) + self.margin)
        return info_nce_from_similarity(torch.diagonal_scatter(similarity, positive_logit), self.temperature)

    @torch.no_grad()
    def gradient_components(
        self, anchor: torch.Tensor, positive: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Closed-form ``(GD (B,), W (B, B) zero diagonal, R (B,))`` of each anchor's own term l_i.

        ``d l_i / d h_i = GD_i * sum_{j != i} W_ij (h'_j - R_i h'_i)`` (normalised h_i, positives constant).
        """
        check_views(anchor, positive)
        similarity = upcast_half(cosine_matrix(anchor, positive))
        theta = self._positive_angle(similarity)
        logits = torch.diagonal_scatter(similarity, torch.cos(theta + self.margin)) / self.temperature
        gd, weight = softmax_gradient_components(logits, self.temperature)
        return gd, weight, torch.sin(theta + self.margin) / torch.sin(theta)
