"""The contract every training objective follows (METHODS.md section 5).

An objective is an ``nn.Module`` called as ``objective(anchor, positive, output=None)``:

- ``anchor``, ``positive``: ``(B, d)`` training-time embeddings of the two dropout views of the same B
  sentences (row i of each is sentence i), already gathered across processes by the trainer.
- ``output``: the model's local ``ModelOutput`` (not gathered), for objectives that need more than the two
  embeddings (SARCSE's token reconstruction, reCSE's reshaped view).

It returns a ``dict`` of named scalar loss terms; the trainer sums them into the loss and logs each one.
"""

from typing import Dict, Optional

import torch
from torch import nn


class CseObjective(nn.Module):
    """Base class: subclasses implement ``forward(anchor, positive, output=None) -> dict[str, Tensor]``."""

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, output: Optional[object] = None) -> Dict[str, torch.Tensor]:
        raise NotImplementedError


def check_views(anchor: torch.Tensor, positive: torch.Tensor) -> None:
    """Raise a clear error when the two views cannot be paired row by row."""
    if anchor.dim() != 2 or anchor.shape != positive.shape:
        raise ValueError(
            f"anchor and positive must both be (batch, dim) with equal shapes, got {tuple(anchor.shape)} and "
            f"{tuple(positive.shape)}"
        )
    if anchor.shape[0] < 2:
        raise ValueError("a contrastive objective needs at least 2 sentences in the (gathered) batch")
