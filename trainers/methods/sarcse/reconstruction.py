"""SARCSE's self-adaptive reconstruction loss (Liu et al., arXiv 2402.15153; METHODS.md section 1).

    L_rec(view) = sum_i w(t_i) * ||X_hat_i - X_i||^2 / (number of real tokens in the local batch)    (reduction "token")
    w(t) = max(theta, 1 - log(1 + c(t)) / log(1 + c_max))          (c: corpus token counts)
    L = contrastive + beta * L_rec(view 1) + gamma * L_rec(view 2)

Defaults: theta = 0.1, beta = gamma = 2.5e-4, reduction "token". The paper does not state the scale at which its
beta = gamma = 2.5e-4 apply; reduction "element" divides L_rec by the hidden size (a mean over every element),
"sentence" divides the sum by the number of sentences instead of tokens. X are the backbone's content-token states
(detached by default), X_hat the decoder's reconstruction from the sentence embedding; tokens past the decoder length
are not rebuilt. The term is local to each process (token-level), so it is never gathered.
"""

import typing

import torch

from ....modeling.configuration_sarcse import ReconstructionReduction
from ...objectives.base import CseObjective, Gathered

REDUCTIONS = typing.get_args(ReconstructionReduction)  # the config's own list


def weighted_reconstruction_error(
    reconstruction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor,
    reduction: str = "token",
) -> torch.Tensor:
    """The sum over real tokens of w * squared error (summed over dims), divided by the number of real tokens
    ("token"), of real token elements ("element": tokens x hidden size) or of sentences ("sentence")."""
    length = min(reconstruction.shape[1], target.shape[1])
    real = mask[:, :length].to(reconstruction.dtype)
    squared = (reconstruction[:, :length] - target[:, :length]).float().square().sum(-1)
    total = (squared * weights[:, :length] * real).sum()
    if reduction == "sentence":
        return total / max(mask.shape[0], 1)
    tokens = real.sum().clamp(min=1.0)
    return total / (tokens * target.shape[-1] if reduction == "element" else tokens)


class SelfAdaptiveReconstruction(CseObjective):
    """Returns ``{"reconstruction": beta * L_rec(view 1) + gamma * L_rec(view 2)}`` from a SARCSE output.

    Args:
        token_weights: ``(vocab_size,)`` tensor of w(t) (``token_counts.token_weights``).
        beta, gamma: coefficients of the two views (default 2.5e-4 each).
        reduction: "token" (default), "element" or "sentence" (see ``weighted_reconstruction_error``).
    """

    name = "reconstruction"

    def __init__(self, token_weights: torch.Tensor, beta: float = 2.5e-4, gamma: float = 2.5e-4,
                 reduction: str = "token"):
        super().__init__()
        if beta < 0 or gamma < 0:
            raise ValueError(f"beta and gamma must be >= 0, got beta={beta}, gamma={gamma}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction
        self.register_buffer("token_weights", token_weights.float(), persistent=False)
        self.beta = beta
        self.gamma = gamma

    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        if output is None or getattr(output, "reconstruction", None) is None:
            raise ValueError("SelfAdaptiveReconstruction needs a SarcseModel output with its reconstruction "
                             "(train mode)")
        weights = self.token_weights.to(output.token_ids.device)[output.token_ids]
        views = zip(output.views("reconstruction"), output.views("token_states"), output.views("token_mask"),
                    weights.chunk(2))
        losses = [weighted_reconstruction_error(*view, reduction=self.reduction) for view in views]
        return {self.name: self.beta * losses[0] + self.gamma * losses[1]}
