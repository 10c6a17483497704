"""InfoNCE with in-batch negatives: the unsupervised SimCSE objective.

    L = 1/B sum_i -log( exp(s_ii / tau) / sum_j exp(s_ij / tau) ),   s_ij = cos(h_i, h'_j)

Gao, Yao & Chen, "SimCSE: Simple Contrastive Learning of Sentence Embeddings", EMNLP 2021 (arXiv 2104.08821).
Default tau = 0.05. Its gradient (arXiv 2402.18281) is GD * sum_{j!=i} W_ij (h'_j - R h'_i) with
GD = (1 - p_ii) / tau, W_ij = softmax over negatives of s_ij / tau, R = 1.
"""

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from .base import CseObjective, check_views


def cosine_matrix(anchor: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """``(B, B)`` matrix of cosine similarities ``s_ij = cos(anchor_i, positive_j)``."""
    return F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE of ``anchor`` against ``positive`` (row i pairs with row i; the other rows are negatives)."""
    logits = cosine_matrix(anchor, positive) / temperature
    labels = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits.float(), labels)


class InfoNCE(CseObjective):
    """SimCSE's contrastive loss. Returns ``{"infonce": loss}``.

    Args:
        temperature: tau > 0 (default 0.05, SimCSE).
    """

    name = "infonce"

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, output: Optional[object] = None) -> Dict[str, torch.Tensor]:
        check_views(anchor, positive)
        return {self.name: info_nce(anchor, positive, self.temperature)}
