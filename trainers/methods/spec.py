"""What a method is, in one place: ``MethodSpec``, the registry entry the trainer, the CLI and the model card ask.

A method is a model class (with its config class) plus what training adds on top of the contrastive objective:
extra loss terms, the weight of the contrastive term, and anything computed from the corpus before training
(``prepare``, e.g. SARCSE's token counts). The card text, citation and template are here too. The method's own
config fields (those beyond ``SimCseConfig``'s) become its CLI flags; each field's meaning lives in its config.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Optional, Sequence, Tuple

from ...modeling.configuration_simcse import declared_fields, own_fields
from ..objectives.base import CseObjective
from .objective import MethodObjective, contrastive_from_config


@dataclass
class MethodResources:
    """What a method computed from the corpus before training.

    Args:
        term_inputs: inputs of its extra loss terms (SARCSE: ``token_weights``).
        checkpoint_files: file name -> text written beside the weights of every checkpoint and the final folder
            (SARCSE: ``token_counts.json``), so a checkpoint carries what it was trained with.
    """

    term_inputs: Dict[str, Any] = field(default_factory=dict)
    checkpoint_files: Dict[str, str] = field(default_factory=dict)


def _no_terms(config, resources: MethodResources) -> Sequence[CseObjective]:
    return ()


def _full_weight(config) -> float:
    return 1.0


def _nothing_to_prepare(config, sentences: Sequence[str], tokenizer, output_dir: Path) -> MethodResources:
    return MethodResources()


def _hides_nothing(config) -> FrozenSet[str]:
    return frozenset()


def _no_text(config) -> Optional[str]:
    return None


def _base_template(config) -> str:
    return "base.md.j2"


@dataclass(frozen=True)
class MethodSpec:
    """One method's registry entry (see ``trainers.methods.register_method``).

    Args:
        model_class: its ``PreTrainedModel`` (``model_class.config_class`` is its config; ``model_type`` its name).
        title, paper, arxiv, citation: how the model card names and cites it (``citation`` is BibTeX).
        summary: the card's one-paragraph description of the method.
        extra_terms: ``(config, resources) -> loss terms`` added to the contrastive objective.
        contrastive_weight: ``config -> weight`` of the contrastive term (0 drops it).
        prepare: ``(config, sentences, tokenizer, output_dir) -> MethodResources``, run once before training.
        card_hidden_fields: ``config -> names`` of config fields the card leaves out for this config.
        field_notes: field -> what the field means for this method where that differs from its config help.
        inference_embedding: ``config -> text`` naming the inference embedding, or None for the pooler's.
        card_template: ``config -> template file name`` in the model-card templates.
    """

    model_class: type
    title: str
    paper: str
    arxiv: str
    citation: str
    summary: str = ""
    extra_terms: Callable[[Any, MethodResources], Sequence[CseObjective]] = _no_terms
    contrastive_weight: Callable[[Any], float] = _full_weight
    prepare: Callable[[Any, Sequence[str], Any, Path], MethodResources] = _nothing_to_prepare
    card_hidden_fields: Callable[[Any], FrozenSet[str]] = _hides_nothing
    field_notes: Dict[str, str] = field(default_factory=dict)
    inference_embedding: Callable[[Any], Optional[str]] = _no_text
    card_template: Callable[[Any], str] = _base_template

    @property
    def name(self) -> str:
        return self.config_class.model_type

    @property
    def config_class(self) -> type:
        return self.model_class.config_class

    @property
    def own_fields(self) -> Tuple[str, ...]:
        """The config fields only this method has (its own CLI flags)."""
        return own_fields(self.config_class)

    def field_help(self, name: str) -> str:
        return self.field_notes.get(name) or declared_fields(self.config_class)[name].metadata["help"]

    def build_objective(self, config, resources: Optional[MethodResources] = None) -> MethodObjective:
        """The full training objective of ``config``: the contrastive term plus this method's own terms."""
        extra = self.extra_terms(config, resources or MethodResources())
        return MethodObjective(contrastive_from_config(config), extra, contrastive_weight=self.contrastive_weight(config))


__all__ = ["MethodResources", "MethodSpec"]
