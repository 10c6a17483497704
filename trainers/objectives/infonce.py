"""InfoNCE with in-batch negatives: the unsupervised SimCSE objective.

    L = 1/B sum_i -log( exp(s_ii / tau) / sum_j exp(s_ij / tau) ),   s_ij = cos(h_i, h'_j)

Gao, Yao & Chen, "SimCSE: Simple Contrastive Learning of Sentence Embeddings", EMNLP 2021 (arXiv 2104.08821).
Default tau = 0.05. Its gradient (arXiv 2402.18281) is GD * sum_{j!=i} W_ij (h'_j - R h'_i) with
GD = (1 - p_ii) / tau, W_ij = softmax over negatives of s_ij / tau, R = 1.
"""


import torch
import torch.nn.functional as F

from .base import SimilarityObjective, check_views, cosine_matrix, upcast_half


def info_nce_from_similarity(similarity: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over anchors (rows) of ``CE(similarity / temperature, label = i)``."""
    logits = upcast_half(similarity) / temperature
    labels = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, labels)


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE of ``anchor`` against ``positive`` (row i pairs with row i; the other rows are negatives)."""
    return info_nce_from_similarity(cosine_matrix(anchor, positive), temperature)


def softmax_gradient_components(logits: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``GD = (1 - p_ii) / tau`` and ``W = softmax over negatives`` of a ``(B, B)`` logit matrix (InfoNCE, ArcCon).

    ``1 - p_ii`` is computed as ``exp(LSE_{j != i} - LSE_j)`` and ``W`` from a diagonal-masked softmax, so neither
    divides by a vanishing ``1 - p_ii``.
    """
    eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
    negatives = logits.masked_fill(eye, float("-inf"))
    gd = torch.exp(torch.logsumexp(negatives, dim=-1) - torch.logsumexp(logits, dim=-1)) / temperature
    return gd, torch.softmax(negatives, dim=-1)


class InfoNCE(SimilarityObjective):
    """SimCSE's contrastive loss, mean over anchors. Returns ``{"infonce": loss}``.

    Args:
        temperature: tau > 0 (default 0.05, SimCSE).
    """

    title = "InfoNCE"
    description = (
        "CE(sim(h1_i, h2_j) / tau, label = i) over the in-batch negatives."
    )

    name = "infonce"

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def loss_from_similarity(self, similarity: torch.Tensor) -> torch.Tensor:
        """The loss (mean over anchors) as a function of the ``(B, B)`` cosine matrix ``s_ij = cos(h_i, h'_j)``."""
        return info_nce_from_similarity(similarity, self.temperature)

    @torch.no_grad()
    def gradient_components(
        self, anchor: torch.Tensor, positive: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Closed-form ``(GD (B,), W (B, B) zero diagonal, R (B,))`` of each anchor's own loss term.

        ``d l_i / d h_i = GD_i * sum_{j != i} W_ij (h'_j - R_i h'_i)`` for the L2-normalised anchor h_i, with the
        normalised positives h' held constant (arXiv 2402.18281). ``l_i`` is anchor i's term before the mean
        over anchors, so the mean-reduced loss's gradient is this divided by B.
        """
        check_views(anchor, positive)
        logits = upcast_half(cosine_matrix(anchor, positive)) / self.temperature
        gd, weight = softmax_gradient_components(logits, self.temperature)
        return gd, weight, torch.ones_like(gd)
