"""SARCSE: self-adaptive reconstruction + contrastive learning (Liu et al., arXiv 2402.15153).

Encoder: the backbone's content-token states X -> multi-scale TextCNN (kernels 3/4/5) -> a 1x1 CNN integrating
the scales -> masked max-pool -> sentence embedding z. Decoder: z -> per-kernel transposed CNNs -> TextCNN
refinement -> X_hat, which the objective compares with X under self-adaptive token weights (METHODS.md 1).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .batching import GroupedStates, is_right_padded
from .configuration_sarcse import SarcseConfig
from .modeling_simcse import CseModelOutput, CsePreTrainedModel


@dataclass
class SarcseModelOutput(CseModelOutput):
    r"""
    [`CseModelOutput`] plus SARCSE's tensors (T = longest content length in the batch, Lr = decoder_length).

    Args:
        cnn_embedding (`torch.FloatTensor` of shape `(N, hidden_size)`): z, the CNN-integrated embedding (None where
            nothing reads it: `embedding_source` cls with a `decoder_input` other than z).
        token_states (`torch.FloatTensor` of shape `(N, T, hidden_size)`): X, the reconstruction target
            (last-layer states without [CLS]/[SEP]; detached when `config.detach_target`), zero at padding.
        token_mask (`torch.BoolTensor` of shape `(N, T)`): True at real content tokens.
        token_ids (`torch.LongTensor` of shape `(N, T)`): their vocabulary ids (for the frequency weights).
        reconstruction (`torch.FloatTensor` of shape `(N, Lr, hidden_size)`): X_hat; None unless requested
            (by default only in training mode). With `config.length_buckets` > 1 a training forward rebuilds
            each row only up to the longest content length of its length group (zeros after: the loss masks
            every position past a row's content).
    """

    cnn_embedding: torch.FloatTensor | None = None
    token_states: torch.FloatTensor | None = None
    token_mask: torch.BoolTensor | None = None
    token_ids: torch.LongTensor | None = None
    reconstruction: torch.FloatTensor | None = None


def content_tokens(
    last_hidden_state: torch.Tensor, attention_mask: torch.Tensor, input_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions 1..len-2 of each right-padded row (drops the first and last special tokens).

    Returns ``(states (N, T, d) zero at padding, mask (N, T), ids (N, T), lengths (N,))``.
    """
    token_counts = attention_mask.sum(1)
    tracing = torch.compiler.is_compiling()  # torch.export / compile: no Python branch on tensor values
    if not tracing and not is_right_padded(attention_mask, token_counts):
        raise ValueError("SARCSE needs right-padded inputs (tokenizer padding_side='right')")
    lengths = (token_counts - 2).clamp(min=0)
    if tracing:
        # every position but the first, and two zero positions more (masked: the same z), so that the traced
        # content length L + 1 is >= 2 for every input length L >= 1 without a max() (a max() or a shorter content
        # length makes the tracer guard the exported length)
        last_hidden_state = F.pad(last_hidden_state, (0, 0, 0, 2))
        input_ids = F.pad(input_ids, (0, 2))
        longest = last_hidden_state.shape[1] - 1
    else:
        longest = int(lengths.max()) if lengths.numel() else 0
    mask = torch.arange(longest, device=lengths.device)[None, :] < lengths[:, None]
    states = last_hidden_state[:, 1 : 1 + longest] * mask.unsqueeze(-1).to(last_hidden_state.dtype)
    ids = input_ids[:, 1 : 1 + longest].masked_fill(~mask, 0)
    return states, mask, ids, lengths


class SarcseTextCnnEncoder(nn.Module):
    """Multi-scale TextCNN + 1x1 integration CNN + masked pooling over time (`cnn_pooling`): (N, T, d) -> (N, d)."""

    def __init__(self, config: SarcseConfig):
        super().__init__()
        hidden, channels = config.hidden_size, config.cnn_channels
        self.kernel_sizes: list[int] = list(config.kernel_sizes)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, channels, k) for k in self.kernel_sizes)
        # z is read by the contrastive term (embedding_source cnn) or by the decoder (decoder_input z); with [CLS]
        # and a feature-map decoder nothing reads it, and an unused parameter would break DDP
        uses_z = config.embedding_source == "cnn" or config.decoder_input == "z"
        self.integrate = nn.Conv1d(channels * len(self.kernel_sizes), hidden, 1) if uses_z else None
        self.pooling = config.cnn_pooling

    def feature_maps(self, states: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each branch's ReLU feature map ``(N, c, max(T, max k + 1) - k + 1)``, zero at windows past a row's
        content."""
        # A sentence shorter than k is zero-padded to k; that single window counts as valid. One position more keeps
        # every map at least 2 long (a traced length-1 map would specialise the shapes); masked like the rest.
        padded_length = max(states.shape[1], max(self.kernel_sizes) + 1)
        x = F.pad(states, (0, 0, 0, padded_length - states.shape[1])).transpose(1, 2)
        maps = []
        for k, conv in zip(self.kernel_sizes, self.convs):
            feature = torch.relu(conv(x))
            windows = (lengths - k + 1).clamp(min=1)
            valid = torch.arange(feature.shape[-1], device=x.device)[None, :] < windows[:, None]
            maps.append(feature * valid.unsqueeze(1).to(feature.dtype))
        return maps

    def forward(self, states: torch.Tensor, lengths: torch.Tensor,
                maps: list[torch.Tensor] | None = None) -> torch.Tensor:
        """z; ``maps``: this input's ``feature_maps`` when the caller already has them."""
        maps = self.feature_maps(states, lengths) if maps is None else maps
        widest = maps[0].shape[-1]  # the smallest kernel's map
        padded = [F.pad(m, (0, widest - m.shape[-1])) for m in maps]
        integrated = torch.tanh(self.integrate(torch.cat(padded, dim=1)))
        windows = (lengths - min(self.kernel_sizes) + 1).clamp(min=1)
        valid = torch.arange(widest, device=integrated.device)[None, :] < windows[:, None]
        if self.pooling == "mean":
            return ((integrated * valid.unsqueeze(1).to(integrated.dtype)).sum(-1)
                    / windows[:, None].to(integrated.dtype))
        return integrated.masked_fill(~valid.unsqueeze(1), torch.finfo(integrated.dtype).min).amax(dim=-1)


class SarcseDecoder(nn.Module):
    """z (N, d) -> X_hat (N, Lr, d): per kernel k, ConvTranspose1d(c, c, Lr-k+1) expands a c-vector to length
    Lr-k+1 (then `decoder_activation`) and ConvTranspose1d(c, d, k) maps it to (Lr, d); branches averaged, refined
    by Conv1d(d, d, 3). With `decoder_input` "feature_maps" the encoder's feature map of branch k (length T-k+1)
    goes straight to that branch's ConvTranspose1d(c, d, k) (length T; no split, no expansion)."""

    def __init__(self, config: SarcseConfig):
        super().__init__()
        hidden, channels, length = config.hidden_size, config.cnn_channels, config.decoder_length
        self.kernel_sizes: list[int] = list(config.kernel_sizes)
        self.channels = channels
        self.length = length
        if config.decoder_input != "feature_maps":  # unused parameters would break DDP
            self.split = nn.Linear(hidden, channels * len(self.kernel_sizes))
            self.expand = nn.ModuleList(
                nn.ConvTranspose1d(channels, channels, length - k + 1) for k in self.kernel_sizes)
        self.project = nn.ModuleList(nn.ConvTranspose1d(channels, hidden, k) for k in self.kernel_sizes)
        self.refine = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.activation = config.decoder_activation

    def forward(self, sentence_embedding: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """X_hat, or exactly its first ``length`` positions (``X_hat[:, :length]``) at the cost of those alone."""
        rows, channels = sentence_embedding.shape[0], self.channels
        length = self.length if length is None else min(length, self.length)
        built = min(length + 1, self.length)  # refine's window reads one position to the right
        parts = self.split(sentence_embedding).view(rows, len(self.kernel_sizes), channels)
        merged = 0
        for i, (expand, project) in enumerate(zip(self.expand, self.project)):
            # output position t < built reads expanded positions <= t only
            inputs = min(expand.weight.shape[-1], built)
            # a transposed convolution of a length-1 input is one matmul with its weight (one kernel call)
            weight = expand.weight[:, :, :inputs].reshape(channels, channels * inputs)
            expanded = (parts[:, i] @ weight).view(rows, channels, inputs) + expand.bias[:, None]
            if self.activation == "relu":
                expanded = torch.relu(expanded)
            merged = merged + project(expanded)[..., :built]
        return self.refine(merged / len(self.kernel_sizes))[..., :length].transpose(1, 2)

    def from_feature_maps(self, maps: list[torch.Tensor], length: int | None = None) -> torch.Tensor:
        """X_hat ``(N, min(T', length, Lr), d)`` from the encoder's feature maps (T' = their padded input length)."""
        length = self.length if length is None else min(length, self.length)
        # one zero window more: refine's window reads one position past the input (there: the bias alone, as a row
        # shorter than the batch reads it)
        merged = sum(project(F.pad(m, (0, 1))) for m, project in zip(maps, self.project))
        rebuilt = self.refine(merged / len(self.kernel_sizes))[..., :length]
        return F.pad(rebuilt, (0, length - rebuilt.shape[-1])).transpose(1, 2)


class SarcsePreTrainedModel(CsePreTrainedModel):
    config_class = SarcseConfig

    @staticmethod
    def _uses_mlp(config) -> bool:
        # With embedding_source="cnn" the pooler is unused: no MLP (unused parameters break DDP).
        return config.embedding_source == "cls" and config.pooler == "cls"


class SarcseModel(SarcsePreTrainedModel):
    """SARCSE: backbone + TextCNN sentence encoder + token-reconstructing decoder."""

    def __init__(self, config: SarcseConfig, backbone=None):
        super().__init__(config, backbone=backbone)
        # decoder_input sentence_embedding rebuilds the tokens from [CLS]: nothing would read a TextCNN encoder
        self.cnn_encoder = None if config.decoder_input == "sentence_embedding" else SarcseTextCnnEncoder(config)
        self.decoder = SarcseDecoder(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        return_reconstruction: bool | None = None,
        **kwargs,
    ) -> SarcseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if return_reconstruction is None:
            return_reconstruction = self.training
        out, grouped = self.encode_tokens(input_ids, attention_mask, token_type_ids)
        states, mask, ids, lengths = content_tokens(out.last_hidden_state, attention_mask, input_ids)
        if self.cnn_encoder is None:
            z = None
        elif grouped is not None:
            z, reconstruction = self._grouped_head(grouped, lengths, return_reconstruction)
        else:
            z, reconstruction = self._head(states, lengths, return_reconstruction)
        if self.config.embedding_source == "cnn":
            projection = embedding = z
        else:
            projection, embedding = self.pool(out, attention_mask)
        if self.cnn_encoder is None:
            reconstruction = self.decoder(embedding) if return_reconstruction else None
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

    def _head(self, states: torch.Tensor, lengths: torch.Tensor, return_reconstruction: bool,
              length: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z and (when asked) X_hat's first ``length`` positions, from content-token states ``(N, T, d)``."""
        maps = self.cnn_encoder.feature_maps(states, lengths)
        z = self.cnn_encoder(states, lengths, maps=maps) if self.cnn_encoder.integrate is not None else None
        if not return_reconstruction:
            return z, None
        if self.config.decoder_input == "feature_maps":
            return z, self.decoder.from_feature_maps(maps, length)
        return z, self.decoder(z, length=length)

    def _grouped_head(
        self, grouped: GroupedStates, lengths: torch.Tensor, return_reconstruction: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder and decoder over the backbone's length groups, each group's content tokens read from its own
        states (no re-sort, no padding to the batch's longest row): the same z, and the same X_hat wherever the
        loss reads it (a group's positions past its longest row are zeros), for fewer FLOPs."""
        groups = grouped.groups
        embeddings, reconstructions = [], []
        for rows, group_states in zip(groups.rows, grouped.states):
            content = max(group_states.shape[1] - 2, 0)
            row_lengths = lengths[rows]
            keep = torch.arange(content, device=row_lengths.device)[None, :] < row_lengths[:, None]
            states = group_states[:, 1 : 1 + content] * keep.unsqueeze(-1).to(group_states.dtype)
            z, rebuilt = self._head(states, row_lengths, return_reconstruction, length=content)
            embeddings.append(z)
            reconstructions.append(rebuilt)
        reconstruction = groups.merge(reconstructions, self.config.decoder_length) if return_reconstruction else None
        return (groups.merge(embeddings) if embeddings[0] is not None else None), reconstruction


__all__ = ["SarcseModelOutput", "SarcsePreTrainedModel", "SarcseModel", "content_tokens"]
