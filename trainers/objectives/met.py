"""MET: margin-based triplet loss on Euclidean distance, with the nearest in-batch negative.

    d_ij = sqrt(max(2 - 2 s_ij, 1e-4)),   s_ij = cos(h_i, h'_j)   (distance of the normalised vectors)
    l_i = [ d_ii - min_{j != i} d_ij + m ]_+
    L = 1/B sum_i l_i                                                 (mean over anchors, as the official code)

The triplet objective in the form of Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence
Representation Learning: A Unified Paradigm for Gradient", ACL 2024 (arXiv 2402.18281; official code
BDBC-KG-NLP/UnderstandingCSE, ``isotropy/models.py``); the margin triplet loss goes back to Schroff et al.,
"FaceNet", CVPR 2015.

Default: m = 0.45. The floor 1e-4 under the square root is the official code's (it keeps the gradient finite
for identical vectors).

Gradient paradigm (for the normalised anchor, positives constant), with k = argmin_{j != i} d_ij:
``GD = 1[d_ik - d_ii < m] / d_ik``, ``W`` one-hot on k, ``R = d_ik / d_ii``.
"""


import torch
import torch.nn.functional as F

from .base import GRADIENT_PARADIGM_CITATION, SimilarityObjective, check_views, cosine_matrix, upcast_half

DISTANCE_FLOOR = 1e-4


def distance_from_similarity(similarity: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of unit vectors from their cosine, ``sqrt(max(2 - 2 s, 1e-4))``."""
    return torch.clamp_min(2 - 2 * similarity, DISTANCE_FLOOR).sqrt()


def nearest_negative(distance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(min_{j != i} d_ij, argmin)`` of each row of a ``(B, B)`` distance matrix."""
    eye = torch.eye(distance.shape[0], dtype=torch.bool, device=distance.device)
    return distance.masked_fill(eye, float("inf")).min(dim=-1)


class MET(SimilarityObjective):
    """Hinge on the gap between the nearest negative and the positive distance. Returns ``{"met": loss}``.

    Args:
        margin: m >= 0 (default 0.45).
    """

    title = "MET (margin Euclidean triplet)"
    description = (
        "[d_ii - min_j d_ij + m]_+ on the distances d = sqrt(2 - 2s) (m = 0.45 by default): W one-hot on the "
        "closest negative, R = d_ik / d_ii."
    )
    citation = GRADIENT_PARADIGM_CITATION

    name = "met"

    def __init__(self, margin: float = 0.45):
        super().__init__()
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin

    def loss_from_similarity(self, similarity: torch.Tensor) -> torch.Tensor:
        """The loss (mean over anchors) as a function of the ``(B, B)`` cosine matrix."""
        distance = distance_from_similarity(upcast_half(similarity))
        negative, _ = nearest_negative(distance)
        return F.relu(torch.diagonal(distance) - negative + self.margin).mean()

    @torch.no_grad()
    def gradient_components(
        self, anchor: torch.Tensor, positive: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Closed-form ``(GD (B,), W (B, B) zero diagonal, R (B,))`` of each anchor's own term l_i.

        ``d l_i / d h_i = GD_i * sum_{j != i} W_ij (h'_j - R_i h'_i)`` (normalised h_i, positives constant).
        """
        check_views(anchor, positive)
        distance = distance_from_similarity(upcast_half(cosine_matrix(anchor, positive)))
        negative, k = nearest_negative(distance)
        positive_distance = torch.diagonal(distance)
        gd = (negative - positive_distance < self.margin).to(distance.dtype) / negative
        weight = F.one_hot(k, distance.shape[0]).to(distance.dtype)
        return gd, weight, negative / positive_distance
