"""The contract every training objective follows (METHODS.md section 5).

An objective is an ``nn.Module`` called as ``objective(anchor, positive, output=None, gathered=None)``:

- ``anchor``, ``positive``: ``(B, d)`` training-time embeddings of the two dropout views of the same B
  sentences (row i of each is sentence i), already gathered across processes by the trainer.
- ``output``: the model's local ``ModelOutput`` (never gathered, never written to), for token-level terms
  (SARCSE's reconstruction); ``output.views(name)`` splits a field into its two views.
- ``gathered``: for each name in the objective's ``gathered_outputs``, the two views of that output field,
  gathered across processes by the trainer like the embeddings (reCSE's reshaped view).

It returns a ``dict`` of named scalar loss terms; the trainer sums them into the loss and logs each one.
"""

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ...modeling.inputs import autocast_off, upcast_half  # noqa: F401  (one copy for the model and objectives)

# name of a model-output field -> its two views, gathered across processes
Gathered = Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None


# Cited by every objective of the unified gradient paradigm (all but InfoNCE).
GRADIENT_PARADIGM_CITATION = """@inproceedings{li2024unified,
  title     = {Towards Better Understanding of Contrastive Sentence Representation Learning: \
A Unified Paradigm for Gradient},
  author    = {Li, Mingxin and Zhang, Richong and Nie, Zhijie},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics \
(Volume 1: Long Papers)},
  year      = {2024},
  publisher = {Association for Computational Linguistics},
  url       = {https://aclanthology.org/2024.acl-long.780},
  eprint    = {2402.18281},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""


class CseObjective(nn.Module):
    """Base class: subclasses implement ``forward(anchor, positive, output=None, gathered=None) -> dict[str, Tensor]``
    and list in ``gathered_outputs`` the model-output fields they need gathered across processes.

    As sentence-transformers' losses, an objective describes itself: ``name`` (its loss term's key, and its
    ``--objective`` name), ``title`` and ``description`` (what a model card says of it), ``citation`` (BibTeX, None
    where the method's own citation covers it), ``hyperparameters()`` (its constructor's keyword arguments) and
    ``get_config_dict()`` (their values as constructed)."""

    name: str = ""
    gathered_outputs: tuple[str, ...] = ()
    title: str = ""
    description: str = ""
    citation: str | None = None

    @classmethod
    def hyperparameters(cls) -> dict[str, inspect.Parameter]:
        """The constructor's keyword arguments, name -> ``inspect.Parameter`` (its default), in their order."""
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # without self
        return {p.name: p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def get_config_dict(self) -> dict[str, object]:
        """The constructor's hyperparameters and their values (the attributes of the same names)."""
        return {name: getattr(self, name) for name in self.hyperparameters() if hasattr(self, name)}

    def card_description(self) -> str:
        """The card's text for this objective (``description``; subclasses add what their options change)."""
        return self.description

    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
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


Function = TypeVar("Function", bound=Callable)


def full_precision(function: Function) -> Function:
    """Run ``function`` as an fp32 region (METHODS.md section 6): autocast off on the device of its first tensor
    argument (positional or keyword), and its fp16/bf16 tensor arguments, positional and keyword, upcast with
    ``upcast_half``.

    Under bf16/fp16 autocast, a matmul would otherwise run in half precision and hand half-precision logits to
    the softmax, the hinge's argmax or the distance that follows. fp32 and fp64 arguments are passed as they are
    and autocast off is a no-op outside autocast, so an fp32 call computes exactly what it computed before.
    Tensors nested in other arguments (a model output, ``gathered``) are not touched: what reads them upcasts.
    """

    @functools.wraps(function)
    def region(*args, **kwargs):
        tensors = [arg for arg in (*args, *kwargs.values()) if isinstance(arg, torch.Tensor)]
        if not tensors:
            return function(*args, **kwargs)
        args = tuple(upcast_half(arg) if isinstance(arg, torch.Tensor) else arg for arg in args)
        kwargs = {key: upcast_half(arg) if isinstance(arg, torch.Tensor) else arg for key, arg in kwargs.items()}
        with autocast_off(tensors[0].device.type):
            return function(*args, **kwargs)

    return region  # type: ignore[return-value]


@full_precision
def cosine_matrix(anchor: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """``(B, B)`` matrix of cosine similarities ``s_ij = cos(anchor_i, positive_j)``, in fp32 under autocast."""
    return F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T


class SimilarityObjective(CseObjective):
    """An objective that is a function of the ``(B, B)`` cosine matrix of the two views: subclasses set ``name``
    and implement ``loss_from_similarity(similarity) -> scalar``."""

    def loss_from_similarity(self, similarity: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @full_precision
    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        check_views(anchor, positive)
        return {self.name: self.loss_from_similarity(cosine_matrix(anchor, positive))}
