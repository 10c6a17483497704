"""reCSE: reshaped features as the positive (Zhao, Gao & Yan, arXiv 2408.04975).

The token features x (n x d) of a sentence are reshaped up to the d x d second-order matrix M = x^T x / n,
densified by a square root, and compressed back to a d-vector r = Linear(sqrt(M) a); r is the positive
contrasted with the sentence embedding (METHODS.md section 2).
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import initialization as init

from .configuration_recse import ReCseConfig
from .modeling_simcse import SimCseModelOutput, SimCsePreTrainedModel


@dataclass
class ReCseModelOutput(SimCseModelOutput):
    r"""
    [`SimCseModelOutput`] plus:

    Args:
        reshaped (`torch.FloatTensor` of shape `(N, hidden_size)`): r, the reshaped view of each row; None
            unless requested (by default only in training mode).
    """

    reshaped: Optional[torch.FloatTensor] = None


def signed_sqrt(matrix: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.sign(matrix) * torch.sqrt(matrix.abs() + eps)


def newton_schulz_sqrt(matrix: torch.Tensor, iterations: int, eps: float) -> torch.Tensor:
    """Square root of a batch of PSD matrices (..., d, d) by coupled Newton-Schulz iterations."""
    size = matrix.shape[-1]
    identity = torch.eye(size, dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
    matrix = matrix + eps * identity
    norm = matrix.flatten(-2).norm(dim=-1)[..., None, None]
    y, z = matrix / norm, identity
    for _ in range(iterations):
        t = 0.5 * (3.0 * identity - z @ y)
        y, z = y @ t, t @ z
    return y * norm.sqrt()


class ReshapeHead(nn.Module):
    """(N, L, d) features + mask -> (N, d) reshaped view: up (x^T x / n), densify (sqrt), compress (M a, Linear)."""

    def __init__(self, config: ReCseConfig):
        super().__init__()
        hidden = config.hidden_size
        self.config = config
        self.compress_vector = nn.Parameter(torch.full((hidden,), 1.0 / hidden))
        self.compress = nn.Linear(hidden, hidden)

    def _reshape(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.unsqueeze(-1).to(features.dtype)
        features = features * mask
        second_order = features.transpose(1, 2) @ features / mask.sum(1, keepdim=True).clamp(min=1.0)
        if self.config.sqrt == "signed":
            dense = signed_sqrt(second_order, self.config.sqrt_eps)
        else:
            dense = newton_schulz_sqrt(second_order, self.config.newton_schulz_iterations, self.config.sqrt_eps)
        return dense @ self.compress_vector

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.config.time_for_space and torch.is_grad_enabled():
            # Recompute the (chunk, d, d) activations in backward instead of storing (N, d, d) of them.
            size = self.config.reshape_chunk_size
            parts = [
                checkpoint(self._reshape, features[i : i + size], mask[i : i + size], use_reentrant=False)
                for i in range(0, features.shape[0], size)
            ]
            compressed = torch.cat(parts)
        else:
            compressed = self._reshape(features, mask)
        return self.compress(compressed)


class ReCsePreTrainedModel(SimCsePreTrainedModel):
    config_class = ReCseConfig

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ReshapeHead):
            init.constant_(module.compress_vector, 1.0 / module.compress_vector.numel())


class ReCseModel(ReCsePreTrainedModel):
    """reCSE: SimCSE's encoder and pooler plus the reshaping head producing the positive view r."""

    def __init__(self, config: ReCseConfig):
        super().__init__(config)
        self.reshape_head = ReshapeHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.LongTensor] = None,
        return_reshaped: Optional[bool] = None,
        **kwargs,
    ) -> ReCseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if return_reshaped is None:
            return_reshaped = self.training
        from_embeddings = return_reshaped and self.config.reshape_source == "embeddings"
        out = self.encode_tokens(input_ids, attention_mask, token_type_ids, output_hidden_states=from_embeddings)
        projection, embedding = self.pool(out, attention_mask)
        reshaped = None
        if return_reshaped:
            features = out.hidden_states[0] if from_embeddings else out.last_hidden_state
            reshaped = self.reshape_head(features, attention_mask)
        return ReCseModelOutput(
            sentence_embedding=embedding, projection=projection, last_hidden_state=out.last_hidden_state, reshaped=reshaped
        )


__all__ = ["ReCseModelOutput", "ReCsePreTrainedModel", "ReCseModel", "ReshapeHead"]
