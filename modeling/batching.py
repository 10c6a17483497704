"""Rows of a batch: masked means, the right-padding check, and the length groups a training forward runs in.

Self-contained (torch only): ``save_pretrained`` ships it beside the model code.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class GroupedStates:
    """A bucketed backbone forward: the groups, and each group's last-layer states cut to its longest row
    (``states[g]`` is ``(len(groups.rows[g]), groups.lengths[g], d)``)."""

    groups: "LengthGroups"
    states: list[torch.Tensor]


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``states`` (N, L, d) over the positions where ``mask`` (N, L) is 1."""
    mask = mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def is_right_padded(attention_mask: torch.Tensor, lengths: torch.Tensor) -> bool:
    """Every row is its ``lengths`` real tokens followed by padding (what slicing rows to their length assumes)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return bool(((positions < lengths.unsqueeze(1)) == attention_mask.bool()).all())


class LengthGroups:
    """Rows split into ``buckets`` groups of similar length, so that each group can run cut to its own longest
    row (``lengths[i]`` real positions of row i, at the start of the row). Built once per training forward and
    shared by the backbone and any head that reads the token states (SARCSE's)."""

    def __init__(self, lengths: torch.Tensor, buckets: int, attention_mask: torch.Tensor | None = None):
        order = torch.argsort(lengths)
        self.order = order  # row indices, shortest first; ``rows`` are its consecutive pieces
        self.rows: list[torch.Tensor] = list(order.tensor_split(buckets))
        # rows are sorted, so a group's longest row is its last; one host transfer for all groups, and for the
        # padding check when ``attention_mask`` is given (``right_padded``: slicing rows to their length is exact)
        longest = lengths[torch.stack([rows[-1] for rows in self.rows])]
        if attention_mask is not None:
            positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
            padded = ((positions < lengths.unsqueeze(1)) == attention_mask.bool()).all()
            longest = torch.cat([padded.to(longest.dtype).reshape(1), longest])
        values = longest.tolist()
        self.right_padded: bool = bool(values.pop(0)) if attention_mask is not None else True
        self.lengths: list[int] = values
        self.inverse = torch.empty_like(order)
        self.inverse[order] = torch.arange(order.numel(), device=order.device)

    def merge(self, pieces: Sequence[torch.Tensor], length: int | None = None) -> torch.Tensor:
        """Per-group results back in input order; with ``length``, (rows, L_g, d) pieces are zero-padded to it."""
        if length is not None:
            pieces = [nn.functional.pad(piece, (0, 0, 0, length - piece.shape[1])) for piece in pieces]
        return torch.cat(list(pieces))[self.inverse]
