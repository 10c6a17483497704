"""MPT: margin-based triplet loss on cosine similarity, with the hardest in-batch negative.

    l_i = [ max_{j != i} s_ij - s_ii + m ]_+ ,   s_ij = cos(h_i, h'_j)
    L = 1/B sum_i l_i                                                 (mean over anchors, as the official code)

The triplet objective in the form of Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence
Representation Learning: A Unified Paradigm for Gradient", ACL 2024 (arXiv 2402.18281; official code
BDBC-KG-NLP/UnderstandingCSE, ``isotropy/models.py``); the margin triplet loss goes back to Schroff et al.,
"FaceNet", CVPR 2015.

Default: m = 0.23.

Gradient paradigm (for the normalised anchor, positives constant): ``GD = 1[s_ii - max_{j != i} s_ij < m]``,
``W`` one-hot on the hardest negative k = argmax_{j != i} s_ij, ``R = 1``.
"""


import torch
import torch.nn.functional as F

from .base import GRADIENT_PARADIGM_CITATION, SimilarityObjective, check_views, cosine_matrix, upcast_half


def hardest_negative(similarity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(max_{j != i} s_ij, argmax)`` of each row of a ``(B, B)`` similarity matrix."""
    eye = torch.eye(similarity.shape[0], dtype=torch.bool, device=similarity.device)
    return similarity.masked_fill(eye, float("-inf")).max(dim=-1)


class MPT(SimilarityObjective):
    """Hinge on the gap between the positive and the hardest negative cosine. Returns ``{"mpt": loss}``.

    Args:
        margin: m >= 0 (default 0.23).
    """

    title = "MPT (margin product triplet)"
    description = (
        "[max_j s_ij - s_ii + m]_+ on cosine similarities (m = 0.23 by default): GD is 1 inside the margin, W"
        " one-hot on the hardest negative, R = 1."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "mpt"

    def __init__(self, margin: float = 0.23):
        super().__init__()
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin

    def loss_from_similarity(self, similarity: torch.Tensor) -> torch.Tensor:
        """The loss (mean over anchors) as a function of the ``(B, B)`` cosine matrix."""
        similarity = upcast_half(similarity)
        negative, _ = hardest_negative(similarity)
        return F.relu(negative - torch.diagonal(similarity) + self.margin).mean()

    @torch.no_grad()
    def gradient_components(
        self, anchor: torch.Tensor, positive: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Closed-form ``(GD (B,), W (B, B) zero diagonal, R (B,))`` of each anchor's own term l_i.

        ``d l_i / d h_i = GD_i * sum_{j != i} W_ij (h'_j - R_i h'_i)`` (normalised h_i, positives constant).
        """
        check_views(anchor, positive)
        similarity = upcast_half(cosine_matrix(anchor, positive))
        negative, k = hardest_negative(similarity)
        gd = (torch.diagonal(similarity) - negative < self.margin).to(similarity.dtype)
        weight = F.one_hot(k, similarity.shape[0]).to(similarity.dtype)
        return gd, weight, torch.ones_like(gd)
