"""reCSE's reshaped-positive objective (Zhao, Gao & Yan, arXiv 2408.04975; METHODS.md section 2).

    L = 1/2 [InfoNCE(h1, r1; tau') + InfoNCE(h2, r2; tau')] + lambda_dropout * contrastive(h1, h2)

h_v is view v's training embedding, r_v its reshaped view (``output.reshaped``, gathered across processes by the
trainer like the embeddings). Defaults tau' = 0.05, lambda_dropout = 1; the dropout term is whichever contrastive
objective was chosen (InfoNCE, tau = 0.05, by default); lambda_dropout = 0 gives the pure reshaping variant.
"""

from typing import Dict, Optional

import torch

from .base import CseObjective
from .infonce import info_nce


class ReshapedPositive(CseObjective):
    """Returns ``{"reshape": ...}``: InfoNCE of each view against its own reshaped view, averaged."""

    name = "reshape"

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"reshape_temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, output: Optional[object] = None) -> Dict[str, torch.Tensor]:
        if output is None or getattr(output, "reshaped", None) is None:
            raise ValueError("ReshapedPositive needs a ReCseModel output with its reshaped view (train mode)")
        reshaped_anchor, reshaped_positive = output.reshaped.chunk(2)
        loss = 0.5 * (info_nce(anchor, reshaped_anchor, self.temperature) + info_nce(positive, reshaped_positive, self.temperature))
        return {self.name: loss}
