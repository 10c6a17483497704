"""SimCSE (unsupervised) model: a pretrained encoder, a pooler and a training-only MLP head.

Also the base class every sentcse model shares: backbone construction, pooling, ``from_backbone`` and
``encode``. Self-contained (torch, transformers and sibling modules only) so that ``save_pretrained`` ships it
as remote code.
"""

import inspect
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.auto.modeling_auto import MODEL_MAPPING
from transformers.utils import ModelOutput

from .batching import GroupedStates, LengthGroups, is_right_padded, masked_mean  # noqa: F401  (re-exported)
from .configuration_simcse import SimCseConfig
from .inputs import (  # noqa: F401  (load_backbone_config, looks_local: re-exported)
    call_in_dtype,
    check_max_length,
    checked_device,
    checked_dtype,
    load_backbone_config,
    load_tokenizer,
    looks_local,
    sentence_list,
    special_token_count,
    weights_lock,
)


@dataclass
class CseModelOutput(ModelOutput):
    r"""
    Output of every sentcse model's forward over N rows (in training, N = 2B: the two dropout views of B
    sentences stacked, rows ``[:B]`` view 1 and ``[B:]`` view 2).

    Args:
        sentence_embedding (`torch.FloatTensor` of shape `(N, hidden_size)`): the inference embedding.
        projection (`torch.FloatTensor` of shape `(N, hidden_size)`): the training-time embedding the
            contrastive objective sees (e.g. through the MLP head).
        last_hidden_state (`torch.FloatTensor` of shape `(N, sequence_length, hidden_size)`): backbone output.
    """

    sentence_embedding: torch.FloatTensor | None = None
    projection: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None

    def views(self, name: str = "projection") -> tuple[torch.Tensor, torch.Tensor]:
        """The two dropout views of the field ``name`` of a training forward: rows ``[:B]`` and ``[B:]``."""
        values = self[name]
        if values is None or values.shape[0] % 2:
            raise ValueError(f"{name} holds no two stacked views "
                             f"(got {None if values is None else tuple(values.shape)})")
        first, second = values.chunk(2)
        return first, second


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


def _padding_offset(backbone: nn.Module) -> int:
    """RoBERTa-style embeddings start positions after ``padding_idx``; BERT-style start at 0."""
    embeddings = getattr(backbone, "embeddings", None)
    padding_idx = getattr(embeddings, "padding_idx", None)
    return padding_idx + 1 if isinstance(padding_idx, int) else 0


class CsePreTrainedModel(PreTrainedModel):
    """Base of the sentcse models: owns the backbone, the pooler and the encode API."""

    config_class = SimCseConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: SimCseConfig, backbone: PreTrainedModel | None = None):
        config.validate()  # the cross-field rules, for a config changed after it was built
        super().__init__(config)
        if backbone is None:
            backbone = AutoModel.from_config(config.backbone_config, **self._backbone_kwargs(config.backbone_config))
        self.backbone = backbone
        self.mlp = MlpHead(config.hidden_size, config.mlp_activation) if self._uses_mlp(config) else None
        self.tokenizer = None
        # the trust_remote_code this model was loaded with (from_pretrained / from_backbone), reused for the tokenizer
        self._trust_remote_code: bool | None = None
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
        """``PreTrainedModel.from_pretrained``, with a clear error for corrupted or truncated weight files.

        The ``trust_remote_code`` given (``AutoModel.from_pretrained`` passes it on) is kept on the model, so that
        ``get_tokenizer``/``encode`` load the tokenizer from the same folder without asking again.
        """
        trust_remote_code = kwargs.get("trust_remote_code")
        try:
            model = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except Exception as error:
            if type(error).__name__ != "SafetensorError":
                raise
            raise OSError(
                f"the weights of {str(pretrained_model_name_or_path)!r} are corrupted or truncated ({error}); copy or "
                "download the checkpoint again, or load an earlier checkpoint-N folder"
            ) from error
        (model[0] if isinstance(model, tuple) else model)._trust_remote_code = trust_remote_code  # tuple: loading info
        return model

    @classmethod
    def from_backbone(
        cls,
        backbone_name_or_path: str,
        tokenizer=None,
        dtype: torch.dtype = torch.float32,
        backbone_kwargs: dict | None = None,
        trust_remote_code: bool | None = None,
        config: SimCseConfig | None = None,
        **config_kwargs,
    ):
        """Wrap a pretrained encoder (Hub name or local folder) in a fresh sentcse model.

        ``config_kwargs`` are this model's config fields (e.g. ``pooler="avg"``), checked before any weight is
        read; or ``config``, this model's config already built (on the backbone's config), which the model takes
        as it is. The backbone is loaded once and becomes the model's; the heads are newly initialised. The tokenizer
        is loaded from the same place unless one is passed. ``trust_remote_code`` (or the one in ``backbone_kwargs``)
        is used for the backbone's config, weights and tokenizer alike, and kept for ``get_tokenizer``.
        """
        name = str(backbone_name_or_path)
        backbone_kwargs = dict(backbone_kwargs or {})
        if trust_remote_code is None:
            trust_remote_code = backbone_kwargs.get("trust_remote_code")
        else:
            backbone_kwargs.setdefault("trust_remote_code", trust_remote_code)
        if config is None:
            backbone_config = load_backbone_config(name, trust_remote_code=trust_remote_code)
            config = cls.config_class(backbone_config=backbone_config, **config_kwargs)
        elif config_kwargs or not isinstance(config, cls.config_class):
            raise TypeError(f"{cls.__name__}.from_backbone takes a {cls.config_class.__name__} as config= or its "
                            f"fields as keywords, not both; got {type(config).__name__} and {sorted(config_kwargs)}")
        backbone_config = config.backbone_config
        kwargs = {**cls._backbone_kwargs(backbone_config), **backbone_kwargs}
        backbone = AutoModel.from_pretrained(name, config=backbone_config, dtype=dtype, **kwargs)
        model = cls(config, backbone=backbone)
        model.config._name_or_path = name
        model._trust_remote_code = trust_remote_code
        model.to(dtype)
        model.tokenizer = tokenizer
        if model.tokenizer is None:
            try:
                model.tokenizer = load_tokenizer(name, trust_remote_code, config=backbone_config)
            except (OSError, ValueError):
                model.tokenizer = None  # encode() will say where it looked
        return model

    # ----------------------------------------------------------------- forward pieces
    def _needs_hidden_states(self) -> bool:
        return self.config.pooler in ("avg_first_last", "avg_top2")

    def encode_tokens(
        self, input_ids, attention_mask, token_type_ids=None, output_hidden_states=False
    ) -> tuple[BaseModelOutput, GroupedStates | None]:
        """The backbone's output, and its per-group states when the forward ran in length groups (else None).

        ``attention_mask`` is required (each ``forward`` fills a missing one). In training, right-padded rows run in
        ``config.length_buckets`` groups of similar length (see `_bucketed_backbone`); encode() already batches by
        token count, so inference runs as given.
        """
        row_kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            row_kwargs["token_type_ids"] = token_type_ids
        output_hidden_states = output_hidden_states or self._needs_hidden_states()
        buckets = self._length_buckets(input_ids.shape[0])
        if buckets > 1:
            groups = LengthGroups(attention_mask.sum(1), buckets, attention_mask)  # one host transfer
            if groups.right_padded:
                return self._bucketed_backbone(row_kwargs, groups, output_hidden_states)
        return self.backbone(**row_kwargs, output_hidden_states=output_hidden_states, return_dict=True), None

    def _length_buckets(self, rows: int) -> int:
        """How many length groups a forward over ``rows`` rows runs in: ``config.length_buckets`` in training when
        there are more rows than groups, else 1 (one padded batch)."""
        buckets = self.config.length_buckets if self.training else 1
        return buckets if rows > buckets else 1

    def _takes_inputs_embeds(self) -> bool:
        return "inputs_embeds" in inspect.signature(self.backbone.forward).parameters

    def _bucketed_backbone(
        self, row_kwargs: dict, groups: LengthGroups, output_hidden_states: bool
    ) -> tuple[BaseModelOutput, GroupedStates]:
        """The backbone over groups of rows of similar length, each cut to its own longest row, then padded back
        and put in input order: the same states on real tokens (padding positions hold zeros), for fewer FLOPs."""
        if self._takes_inputs_embeds():
            # one word-embedding lookup for all groups (in input order, so its gradient sums rows as an unbucketed
            # forward does): its backward then fills one dense (vocab, d) gradient instead of one per group
            row_kwargs = dict(row_kwargs)
            row_kwargs["inputs_embeds"] = self.backbone.get_input_embeddings()(row_kwargs.pop("input_ids"))
        # rows sorted by length once, so that each group is a view of the sorted batch (one gather and its one
        # scatter back, not a zero-filled batch-sized gradient per group)
        row_kwargs = {name: values[groups.order] for name, values in row_kwargs.items()}
        sizes = [len(rows) for rows in groups.rows]
        parts = {name: values.split(sizes) for name, values in row_kwargs.items()}
        outputs = [
            self.backbone(
                **{name: parts[name][group][:, :length] for name in parts},
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            for group, length in enumerate(groups.lengths)
        ]
        full_length = row_kwargs["attention_mask"].shape[1]
        hidden_states = None
        if output_hidden_states:
            layers = zip(*(out.hidden_states for out in outputs))
            hidden_states = tuple(groups.merge(layer, full_length) for layer in layers)
        pieces = [out.last_hidden_state for out in outputs]
        last_hidden_state = groups.merge(pieces, full_length)
        return (BaseModelOutput(last_hidden_state=last_hidden_state, hidden_states=hidden_states),
                GroupedStates(groups, pieces))

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
                trust = getattr(self, "_trust_remote_code", None)
                self.tokenizer = load_tokenizer(source, trust, config=self.config.backbone_config)
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
        sentences: str | Sequence[str],
        batch_size: int = 64,
        normalize: bool = False,
        device: str | torch.device | None = None,
        show_progress_bar: bool = False,
        convert_to_numpy: bool = True,
        tokenizer=None,
        max_length: int | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Embed sentences for inference (the model's ``sentence_embedding``), in input order.

        All sentences are tokenised once and batched by token count (longest first), so a batch carries almost
        no padding; no autograd. Inputs longer than
        ``max_length`` (default: the backbone's position limit) are truncated. An empty string is a valid input:
        it encodes as ``[CLS] [SEP]`` and gets that embedding. Returns ``(n, d)`` (``(d,)`` for one string), as
        float32 numpy or a tensor on the model's device. Wrong arguments (bytes, items that are not str, an unavailable
        device, batch_size < 1, a max_length with no room for a content token, an unknown dtype) raise at once,
        saying what to pass.

        ``dtype`` is the compute precision: None (default) runs as the weights are (an enclosing autocast applies);
        ``torch.bfloat16`` / ``"bf16"``, ``torch.float16`` / ``"fp16"`` or ``torch.float32`` / ``"fp32"`` runs the
        forward on the weights cast to that dtype for this call (``torch.func.functional_call`` on a cast copy of the
        floating parameters and buffers, dropped when encode() returns), with autocast off. The model itself is left
        as it is: fp32 weights stay fp32, so encode() can run in the middle of training. bf16 then runs every op in
        bf16, as a model loaded with ``dtype=torch.bfloat16`` does, without a second model held; the cast costs about
        a millisecond per 3M parameters a call. The embeddings returned are float32 either way.
        """
        dtype = checked_dtype(dtype)
        single = isinstance(sentences, str)
        sentences = [sentences] if single else sentence_list(sentences)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"batch_size must be an int >= 1, got {type(batch_size).__name__} {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if device is not None:
            device = checked_device(device)
        tokenizer = tokenizer if tokenizer is not None else self.get_tokenizer()
        if max_length is not None:
            check_max_length(max_length, tokenizer, "encode(max_length=...)")
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

        def embed_batches() -> list[torch.Tensor]:
            chunks = []
            for start in batches:
                rows = order[start : start + batch_size]
                longest = len(features["input_ids"][rows[0]])  # rows are sorted longest first
                batch = {  # right padding (SARCSE's CNN and the poolers expect it)
                    key: torch.tensor([values[i] + [pad_ids[key]] * (longest - len(values[i])) for i in rows],
                                      device=device)
                    for key, values in features.items()
                }
                embedding = self(**batch).sentence_embedding.float()  # normalised in fp32 whatever the precision
                if normalize:
                    embedding = nn.functional.normalize(embedding, dim=-1)
                chunks.append(embedding)
            return chunks

        was_training = self.training
        self.eval()
        try:
            with weights_lock(self):  # not while another thread's encode(dtype=...) has swapped the weights
                chunks = embed_batches() if dtype is None else call_in_dtype(self, dtype, embed_batches)
        finally:
            self.train(was_training)
        width = self.config.hidden_size
        stacked = torch.cat(chunks) if chunks else torch.empty(0, width, device=device)
        result = torch.empty_like(stacked)
        result[torch.tensor(order, device=device, dtype=torch.long)] = stacked
        if single:
            result = result[0]
        return result.cpu().numpy() if convert_to_numpy else result


class SimCseModel(CsePreTrainedModel):
    """Unsupervised SimCSE: ``forward`` encodes N rows; the objective contrasts the two dropout views."""

    def __init__(self, config: SimCseConfig, backbone=None):
        super().__init__(config, backbone=backbone)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> CseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out, _ = self.encode_tokens(input_ids, attention_mask, token_type_ids)
        projection, embedding = self.pool(out, attention_mask)
        return CseModelOutput(sentence_embedding=embedding, projection=projection,
                              last_hidden_state=out.last_hidden_state)


__all__ = [
    "GroupedStates", "load_backbone_config", "looks_local", "special_token_count", "CseModelOutput",
    "CsePreTrainedModel", "SimCseModel", "MlpHead", "LengthGroups", "is_right_padded",
    "masked_mean",
]
