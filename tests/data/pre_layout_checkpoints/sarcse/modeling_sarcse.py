"""SARCSE: self-adaptive reconstruction + contrastive learning (Liu et al., arXiv 2402.15153).

Encoder: the backbone's content-token states X -> multi-scale TextCNN (kernels 3/4/5) -> a 1x1 CNN integrating
the scales -> masked max-pool -> sentence embedding z. Decoder: z -> per-kernel transposed CNNs -> TextCNN
refinement -> X_hat, which the objective compares with X under self-adaptive token weights (METHODS.md 1).
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_sarcse import SarcseConfig
from .modeling_simcse import LengthGroups, SimCseModelOutput, SimCsePreTrainedModel, is_right_padded


@dataclass
class SarcseModelOutput(SimCseModelOutput):
    r"""
    [`SimCseModelOutput`] plus SARCSE's tensors (T = longest content length in the batch, Lr = decoder_length).

    Args:
        cnn_embedding (`torch.FloatTensor` of shape `(N, hidden_size)`): z, the CNN-integrated embedding.
        token_states (`torch.FloatTensor` of shape `(N, T, hidden_size)`): X, the reconstruction target
            (last-layer states without [CLS]/[SEP]; detached when `config.detach_target`), zero at padding.
        token_mask (`torch.BoolTensor` of shape `(N, T)`): True at real content tokens.
        token_ids (`torch.LongTensor` of shape `(N, T)`): their vocabulary ids (for the frequency weights).
        reconstruction (`torch.FloatTensor` of shape `(N, Lr, hidden_size)`): X_hat; None unless requested
            (by default only in training mode). With `config.length_buckets` > 1 a training forward rebuilds
            each row only up to the longest content length of its length group (zeros after: the loss masks
            every position past a row's content).
    """

    cnn_embedding: Optional[torch.FloatTensor] = None
    token_states: Optional[torch.FloatTensor] = None
    token_mask: Optional[torch.BoolTensor] = None
    token_ids: Optional[torch.LongTensor] = None
    reconstruction: Optional[torch.FloatTensor] = None


def content_tokens(
    last_hidden_state: torch.Tensor, attention_mask: torch.Tensor, input_ids: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions 1..len-2 of each right-padded row (drops the first and last special tokens).

    Returns ``(states (N, T, d) zero at padding, mask (N, T), ids (N, T), lengths (N,))``.
    """
    token_counts = attention_mask.sum(1)
    if not is_right_padded(attention_mask, token_counts):
        raise ValueError("SARCSE needs right-padded inputs (tokenizer padding_side='right')")
    lengths = (token_counts - 2).clamp(min=0)
    longest = int(lengths.max()) if lengths.numel() else 0
    mask = torch.arange(longest, device=lengths.device)[None, :] < lengths[:, None]
    states = last_hidden_state[:, 1 : 1 + longest] * mask.unsqueeze(-1).to(last_hidden_state.dtype)
    ids = input_ids[:, 1 : 1 + longest].masked_fill(~mask, 0)
    return states, mask, ids, lengths


class SarcseTextCnnEncoder(nn.Module):
    """Multi-scale TextCNN + 1x1 integration CNN + masked max-pool: (N, T, d) -> (N, d)."""

    def __init__(self, config: SarcseConfig):
        super().__init__()
        hidden, channels = config.hidden_size, config.cnn_channels
        self.kernel_sizes: List[int] = list(config.kernel_sizes)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, channels, k) for k in self.kernel_sizes)
        self.integrate = nn.Conv1d(channels * len(self.kernel_sizes), hidden, 1)

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # A sentence shorter than k is zero-padded to k; that single window counts as valid.
        padded_length = max(states.shape[1], max(self.kernel_sizes))
        x = F.pad(states, (0, 0, 0, padded_length - states.shape[1])).transpose(1, 2)
        widest = padded_length - min(self.kernel_sizes) + 1
        maps = []
        for k, conv in zip(self.kernel_sizes, self.convs):
            feature = torch.relu(conv(x))
            windows = (lengths - k + 1).clamp(min=1)
            valid = torch.arange(feature.shape[-1], device=x.device)[None, :] < windows[:, None]
            maps.append(F.pad(feature * valid.unsqueeze(1).to(feature.dtype), (0, widest - feature.shape[-1])))
        integrated = torch.tanh(self.integrate(torch.cat(maps, dim=1)))
        windows = (lengths - min(self.kernel_sizes) + 1).clamp(min=1)
        valid = torch.arange(widest, device=x.device)[None, :] < windows[:, None]
        return integrated.masked_fill(~valid.unsqueeze(1), torch.finfo(integrated.dtype).min).amax(dim=-1)


class SarcseDecoder(nn.Module):
    """z (N, d) -> X_hat (N, Lr, d): per kernel k, ConvTranspose1d(c, c, Lr-k+1) expands a c-vector to length
    Lr-k+1 and ConvTranspose1d(c, d, k) maps it to (Lr, d); branches averaged, refined by Conv1d(d, d, 3)."""

    def __init__(self, config: SarcseConfig):
        super().__init__()
        hidden, channels, length = config.hidden_size, config.cnn_channels, config.decoder_length
        self.kernel_sizes: List[int] = list(config.kernel_sizes)
        self.channels = channels
        self.length = length
        self.split = nn.Linear(hidden, channels * len(self.kernel_sizes))
        self.expand = nn.ModuleList(nn.ConvTranspose1d(channels, channels, length - k + 1) for k in self.kernel_sizes)
        self.project = nn.ModuleList(nn.ConvTranspose1d(channels, hidden, k) for k in self.kernel_sizes)
        self.refine = nn.Conv1d(hidden, hidden, 3, padding=1)

    def forward(self, sentence_embedding: torch.Tensor, length: Optional[int] = None) -> torch.Tensor:
        """X_hat, or exactly its first ``length`` positions (``X_hat[:, :length]``) at the cost of those alone."""
        rows, channels = sentence_embedding.shape[0], self.channels
        length = self.length if length is None else min(length, self.length)
        built = min(length + 1, self.length)  # refine's window reads one position to the right
        parts = self.split(sentence_embedding).view(rows, len(self.kernel_sizes), channels)
        merged = 0
        for i, (expand, project) in enumerate(zip(self.expand, self.project)):
            # output position t < built reads expanded positions <= t only
            inputs = min(expand.weight.shape[-1], built)
            # a transposed convolution of a length-1 input is one matmul with its weight (faster as one)
            weight = expand.weight[:, :, :inputs].reshape(channels, channels * inputs)
            expanded = torch.relu((parts[:, i] @ weight).view(rows, channels, inputs) + expand.bias[:, None])
            merged = merged + project(expanded)[..., :built]
        return self.refine(merged / len(self.kernel_sizes))[..., :length].transpose(1, 2)


class SarcsePreTrainedModel(SimCsePreTrainedModel):
    config_class = SarcseConfig

    @staticmethod
    def _uses_mlp(config) -> bool:
        # With embedding_source="cnn" the pooler is unused: no MLP (unused parameters break DDP).
        return config.embedding_source == "cls" and config.pooler == "cls"


class SarcseModel(SarcsePreTrainedModel):
    """SARCSE: backbone + TextCNN sentence encoder + token-reconstructing decoder."""

    def __init__(self, config: SarcseConfig):
        super().__init__(config)
        self.cnn_encoder = SarcseTextCnnEncoder(config)
        self.decoder = SarcseDecoder(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.LongTensor] = None,
        return_reconstruction: Optional[bool] = None,
        **kwargs,
    ) -> SarcseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if return_reconstruction is None:
            return_reconstruction = self.training
        out = self.encode_tokens(input_ids, attention_mask, token_type_ids)
        states, mask, ids, lengths = content_tokens(out.last_hidden_state, attention_mask, input_ids)
        buckets = self._length_buckets(states.shape[0])
        if buckets > 1:
            z, reconstruction = self._bucketed_head(states, lengths, buckets, return_reconstruction)
        else:
            z = self.cnn_encoder(states, lengths)
            reconstruction = self.decoder(z) if return_reconstruction else None
        if self.config.embedding_source == "cnn":
            projection = embedding = z
        else:
            projection, embedding = self.pool(out, attention_mask)
        return SarcseModelOutput(
            sentence_embedding=embedding,
            projection=projection,
            last_hidden_state=out.last_hidden_state,
            cnn_embedding=z,
            token_states=states.detach() if self.config.detach_target else states,
            token_mask=mask,
            token_ids=ids,
            reconstruction=reconstruction,
        )

    def _bucketed_head(
        self, states: torch.Tensor, lengths: torch.Tensor, buckets: int, return_reconstruction: bool
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Encoder and decoder over groups of rows of similar content length, each cut to its own longest row:
        the same z, and the same X_hat wherever the loss reads it (a group's positions past its longest row are
        zeros), for fewer FLOPs."""
        groups = LengthGroups(lengths, buckets)
        embeddings, reconstructions = [], []
        for rows, length in zip(groups.rows, groups.lengths):
            embeddings.append(self.cnn_encoder(states[rows, :length], lengths[rows]))
            if return_reconstruction:
                reconstructions.append(self.decoder(embeddings[-1], length=length))
        reconstruction = groups.merge(reconstructions, self.config.decoder_length) if return_reconstruction else None
        return groups.merge(embeddings), reconstruction


__all__ = ["SarcseModelOutput", "SarcsePreTrainedModel", "SarcseModel", "content_tokens"]
