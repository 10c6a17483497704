"""reCSE's reshaped-positive objective (Zhao, Gao & Yan, arXiv 2408.04975; METHODS.md section 2).

    L = reshape_weight * 1/2 [InfoNCE(h1, r1; tau') + InfoNCE(h2, r2; tau')] + lambda_dropout * contrastive(h1, h2)

h_v is view v's training embedding, r_v its reshaped view (the model output's ``reshaped``, which this term
declares in ``gathered_outputs``: the trainer gathers it across processes like the embeddings). Defaults tau' = 0.05,
reshape_weight = 1 (the official repository, built on MCSE, weighs its extra term 0.01), lambda_dropout = 1; the
dropout term is whichever contrastive objective was chosen (InfoNCE, tau = 0.05, by default); lambda_dropout = 0
gives the pure reshaping variant.
"""


import torch

from ...objectives.base import CseObjective, Gathered, full_precision
from ...objectives.infonce import info_nce


class ReshapedPositive(CseObjective):
    """Returns ``{"reshape": ...}``: InfoNCE of each view against its own reshaped view, averaged."""

    name = "reshape"
    gathered_outputs = ("reshaped",)

    def __init__(self, temperature: float = 0.05, weight: float = 1.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"reshape_temperature must be > 0, got {temperature}")
        if not weight >= 0:
            raise ValueError(f"reshape_weight must be >= 0, got {weight}")
        self.temperature = temperature
        self.weight = weight

    @full_precision
    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        if not gathered or "reshaped" not in gathered:
            raise ValueError("ReshapedPositive needs the reshaped views of a ReCseModel training forward "
                             "(gathered['reshaped'])")
        reshaped_anchor, reshaped_positive = gathered["reshaped"]
        loss = self.weight * 0.5 * (info_nce(anchor, reshaped_anchor, self.temperature)
                                    + info_nce(positive, reshaped_positive, self.temperature))
        return {self.name: loss}
