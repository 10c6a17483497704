"""SimCSE (unsupervised) model: a pretrained encoder, a pooler and a training-only MLP head.

Also the base class every sentcse model shares: backbone construction, pooling, ``from_backbone`` and
``encode``. Self-contained (torch, transformers and sibling modules only) so that ``save_pretrained`` ships it
as remote code.
"""

import inspect
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.auto.modeling_auto import MODEL_MAPPING
from transformers.utils import ModelOutput

from .configuration_simcse import SimCseConfig


@dataclass
class SimCseModelOutput(ModelOutput):
    r"""
    Output of every sentcse model's forward over N rows (in training, N = 2B: the two dropout views of B
    sentences stacked, rows ``[:B]`` view 1 and ``[B:]`` view 2).

    Args:
        sentence_embedding (`torch.FloatTensor` of shape `(N, hidden_size)`): the inference embedding.
        projection (`torch.FloatTensor` of shape `(N, hidden_size)`): the training-time embedding the
            contrastive objective sees (e.g. through the MLP head).
        last_hidden_state (`torch.FloatTensor` of shape `(N, sequence_length, hidden_size)`): backbone output.
    """

    sentence_embedding: Optional[torch.FloatTensor] = None
    projection: Optional[torch.FloatTensor] = None
    last_hidden_state: Optional[torch.FloatTensor] = None


class MlpHead(nn.Module):
    """SimCSE's training head: Linear(d, d) with tanh after (`"tanh"`), before (`"tanh_first"`) or none."""

    def __init__(self, hidden_size: int, activation: str):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.activation = activation

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.activation == "tanh_first":
            return self.dense(torch.tanh(pooled))
        out = self.dense(pooled)
        return torch.tanh(out) if self.activation == "tanh" else out


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
    row (``lengths[i]`` real positions of row i, at the start of the row)."""

    def __init__(self, lengths: torch.Tensor, buckets: int):
        order = torch.argsort(lengths)
        self.rows: List[torch.Tensor] = list(order.tensor_split(buckets))
        # rows are sorted, so a group's longest row is its last; one host transfer for all groups
        self.lengths: List[int] = lengths[torch.stack([rows[-1] for rows in self.rows])].tolist()
        self.inverse = torch.empty_like(order)
        self.inverse[order] = torch.arange(order.numel(), device=order.device)

    def merge(self, pieces: Sequence[torch.Tensor], length: Optional[int] = None) -> torch.Tensor:
        """Per-group results back in input order; with ``length``, (rows, L_g, d) pieces are zero-padded to it."""
        if length is not None:
            pieces = [nn.functional.pad(piece, (0, 0, 0, length - piece.shape[1])) for piece in pieces]
        return torch.cat(list(pieces))[self.inverse]


def _padding_offset(backbone: nn.Module) -> int:
    """RoBERTa-style embeddings start positions after ``padding_idx``; BERT-style start at 0."""
    embeddings = getattr(backbone, "embeddings", None)
    padding_idx = getattr(embeddings, "padding_idx", None)
    return padding_idx + 1 if isinstance(padding_idx, int) else 0


class SimCsePreTrainedModel(PreTrainedModel):
    """Base of the sentcse models: owns the backbone, the pooler and the encode API."""

    config_class = SimCseConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: SimCseConfig):
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.backbone_config, **self._backbone_kwargs(config.backbone_config))
        self.mlp = MlpHead(config.hidden_size, config.mlp_activation) if self._uses_mlp(config) else None
        self.tokenizer = None
        self._apply_freeze()

    # ----------------------------------------------------------------- construction
    @staticmethod
    def _uses_mlp(config) -> bool:
        return config.pooler == "cls"

    @staticmethod
    def _backbone_kwargs(backbone_config) -> dict:
        """Drop the backbone's own pooler (unused parameters break DDP) where its class allows it."""
        backbone_class = MODEL_MAPPING.get(type(backbone_config), None)
        if backbone_class is not None and "add_pooling_layer" in inspect.signature(backbone_class.__init__).parameters:
            return {"add_pooling_layer": False}
        return {}

    def _apply_freeze(self) -> None:
        embeddings = getattr(self.backbone, "embeddings", None) or self.backbone.get_input_embeddings()
        for parameter in embeddings.parameters():
            parameter.requires_grad_(not self.config.freeze_embeddings)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # The backbone (a PreTrainedModel) is initialised by its own _init_weights; these are the heads.
        std = getattr(self.config.backbone_config, "initializer_range", 0.02)
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """``PreTrainedModel.from_pretrained``, with a clear error for corrupted or truncated weight files."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except Exception as error:
            if type(error).__name__ != "SafetensorError":
                raise
            raise OSError(
                f"the weights of {str(pretrained_model_name_or_path)!r} are corrupted or truncated ({error}); copy or "
                "download the checkpoint again, or load an earlier checkpoint-N folder"
            ) from error

    @classmethod
    def from_backbone(
        cls,
        backbone_name_or_path: str,
        tokenizer=None,
        dtype: torch.dtype = torch.float32,
        backbone_kwargs: Optional[dict] = None,
        **config_kwargs,
    ):
        """Wrap a pretrained encoder (Hub name or local folder) in a fresh sentcse model.

        ``config_kwargs`` are this model's config fields (e.g. ``pooler="avg"``). The heads are newly
        initialised; the tokenizer is loaded from the same place unless one is passed.
        """
        backbone_config = AutoConfig.from_pretrained(backbone_name_or_path)
        kwargs = {**cls._backbone_kwargs(backbone_config), **(backbone_kwargs or {})}
        backbone = AutoModel.from_pretrained(backbone_name_or_path, config=backbone_config, dtype=dtype, **kwargs)
        config = cls.config_class(backbone_config=backbone_config, **config_kwargs)
        model = cls(config)
        missing, unexpected = model.backbone.load_state_dict(backbone.state_dict(), strict=False)
        if missing:
            raise ValueError(f"backbone weights missing from {backbone_name_or_path!r}: {missing[:5]}")
        model.config._name_or_path = str(backbone_name_or_path)
        model.to(dtype)
        model.tokenizer = tokenizer
        if model.tokenizer is None:
            try:
                model.tokenizer = AutoTokenizer.from_pretrained(backbone_name_or_path)
            except (OSError, ValueError):
                model.tokenizer = None  # encode() will say where it looked
        return model

    # ----------------------------------------------------------------- forward pieces
    def _needs_hidden_states(self) -> bool:
        return self.config.pooler in ("avg_first_last", "avg_top2")

    def encode_tokens(self, input_ids, attention_mask, token_type_ids=None, output_hidden_states=False):
        """The backbone's output; ``attention_mask`` is required (each ``forward`` fills a missing one).

        In training, right-padded rows run in ``config.length_buckets`` groups of similar length (see
        `_bucketed_backbone`); encode() already batches by token count, so inference runs as given.
        """
        row_kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            row_kwargs["token_type_ids"] = token_type_ids
        output_hidden_states = output_hidden_states or self._needs_hidden_states()
        buckets = self._length_buckets(input_ids.shape[0])
        if buckets > 1:
            lengths = attention_mask.sum(1)
            if is_right_padded(attention_mask, lengths):
                return self._bucketed_backbone(row_kwargs, lengths, buckets, output_hidden_states)
        return self.backbone(**row_kwargs, output_hidden_states=output_hidden_states, return_dict=True)

    def _length_buckets(self, rows: int) -> int:
        """How many length groups a forward over ``rows`` rows runs in: ``config.length_buckets`` in training when
        there are more rows than groups, else 1 (one padded batch)."""
        buckets = self.config.length_buckets if self.training else 1
        return buckets if rows > buckets else 1

    def _takes_inputs_embeds(self) -> bool:
        return "inputs_embeds" in inspect.signature(self.backbone.forward).parameters

    def _bucketed_backbone(
        self, row_kwargs: dict, lengths: torch.Tensor, buckets: int, output_hidden_states: bool
    ) -> BaseModelOutput:
        """The backbone over groups of rows of similar length, each cut to its own longest row, then padded back
        and put in input order: the same states on real tokens (padding positions hold zeros), for fewer FLOPs."""
        groups = LengthGroups(lengths, buckets)
        if self._takes_inputs_embeds():
            # one word-embedding lookup for all groups: its backward then fills one dense (vocab, d) gradient
            # instead of one per group (at 30k x 384 each such fill costs as much as a small layer)
            row_kwargs = dict(row_kwargs)
            row_kwargs["inputs_embeds"] = self.backbone.get_input_embeddings()(row_kwargs.pop("input_ids"))
        outputs = [
            self.backbone(
                **{name: values[rows, :length] for name, values in row_kwargs.items()},
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            for rows, length in zip(groups.rows, groups.lengths)
        ]
        full_length = row_kwargs["attention_mask"].shape[1]
        hidden_states = None
        if output_hidden_states:
            layers = zip(*(out.hidden_states for out in outputs))
            hidden_states = tuple(groups.merge(layer, full_length) for layer in layers)
        last_hidden_state = groups.merge([out.last_hidden_state for out in outputs], full_length)
        return BaseModelOutput(last_hidden_state=last_hidden_state, hidden_states=hidden_states)

    def pool(self, backbone_output, attention_mask: torch.Tensor):
        """Return ``(projection, sentence_embedding)`` of the configured pooler (SimCSE's semantics)."""
        pooler = self.config.pooler
        last = backbone_output.last_hidden_state
        if pooler in ("cls", "cls_before_pooler"):
            pooled = last[:, 0]
        elif pooler == "avg":
            pooled = masked_mean(last, attention_mask)
        elif pooler == "avg_first_last":
            hidden = backbone_output.hidden_states
            pooled = masked_mean((hidden[1] + hidden[-1]) / 2.0, attention_mask)
        else:  # avg_top2
            hidden = backbone_output.hidden_states
            pooled = masked_mean((hidden[-2] + hidden[-1]) / 2.0, attention_mask)
        if self.mlp is None:
            return pooled, pooled
        projected = self.mlp(pooled)
        return projected, (pooled if self.config.mlp_only_train else projected)

    # ----------------------------------------------------------------- inference API
    def get_tokenizer(self):
        """The tokenizer passed or attached, else the one saved beside the weights (``name_or_path``)."""
        if self.tokenizer is None:
            source = self.name_or_path
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(source)
            except (OSError, ValueError) as error:
                raise OSError(
                    f"no tokenizer found at {source!r}: save one beside the weights (tokenizer.save_pretrained) "
                    "or pass tokenizer=... to encode()"
                ) from error
        return self.tokenizer

    def max_input_length(self, tokenizer) -> int:
        """Longest input the backbone's position embeddings allow (and the tokenizer's own limit)."""
        positions = getattr(self.config.backbone_config, "max_position_embeddings", 512)
        return int(min(tokenizer.model_max_length, positions - _padding_offset(self.backbone)))

    @torch.no_grad()
    def encode(
        self,
        sentences: Union[str, Sequence[str]],
        batch_size: int = 64,
        normalize: bool = False,
        device: Optional[Union[str, torch.device]] = None,
        show_progress_bar: bool = False,
        convert_to_numpy: bool = True,
        tokenizer=None,
        max_length: Optional[int] = None,
    ) -> Union[np.ndarray, torch.Tensor]:
        """Embed sentences for inference (the model's ``sentence_embedding``), in input order.

        All sentences are tokenised once and batched by token count (longest first), so a batch carries almost
        no padding; no autograd. Inputs longer than
        ``max_length`` (default: the backbone's position limit) are truncated. An empty string is a valid input:
        it encodes as ``[CLS] [SEP]`` and gets that embedding. Returns ``(n, d)`` (``(d,)`` for one string), as
        float32 numpy or a tensor on the model's device.
        """
        single = isinstance(sentences, str)
        sentences = [sentences] if single else list(sentences)
        for index, sentence in enumerate(sentences):
            if not isinstance(sentence, str):
                raise TypeError(f"encode() takes strings; item {index} is {type(sentence).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        tokenizer = tokenizer if tokenizer is not None else self.get_tokenizer()
        limit = max_length or self.max_input_length(tokenizer)
        if device is not None:
            self.to(device)
        device = self.device
        features = tokenizer(sentences, truncation=True, max_length=limit) if sentences else {"input_ids": []}
        features = {key: features[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in features}
        order = sorted(range(len(sentences)), key=lambda i: -len(features["input_ids"][i]))
        pad_ids = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0, "token_type_ids": 0}
        batches = range(0, len(sentences), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="Encoding", unit="batch")
        was_training = self.training
        self.eval()
        chunks: List[torch.Tensor] = []
        try:
            for start in batches:
                rows = order[start : start + batch_size]
                longest = len(features["input_ids"][rows[0]])  # rows are sorted longest first
                batch = {  # right padding (SARCSE's CNN and the poolers expect it)
                    key: torch.tensor([values[i] + [pad_ids[key]] * (longest - len(values[i])) for i in rows], device=device)
                    for key, values in features.items()
                }
                embedding = self(**batch).sentence_embedding
                if normalize:
                    embedding = nn.functional.normalize(embedding, dim=-1)
                chunks.append(embedding.float())
        finally:
            self.train(was_training)
        width = self.config.hidden_size
        stacked = torch.cat(chunks) if chunks else torch.empty(0, width, device=device)
        result = torch.empty_like(stacked)
        result[torch.tensor(order, device=device, dtype=torch.long)] = stacked
        if single:
            result = result[0]
        return result.cpu().numpy() if convert_to_numpy else result


class SimCseModel(SimCsePreTrainedModel):
    """Unsupervised SimCSE: ``forward`` encodes N rows; the objective contrasts the two dropout views."""

    def __init__(self, config: SimCseConfig):
        super().__init__(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.LongTensor] = None,
        **kwargs,
    ) -> SimCseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out = self.encode_tokens(input_ids, attention_mask, token_type_ids)
        projection, embedding = self.pool(out, attention_mask)
        return SimCseModelOutput(sentence_embedding=embedding, projection=projection, last_hidden_state=out.last_hidden_state)


__all__ = [
    "SimCseModelOutput", "SimCsePreTrainedModel", "SimCseModel", "MlpHead", "LengthGroups", "is_right_padded", "masked_mean",
]
