"""What a method is, in one place: ``Method``, the registry entry the trainer, the CLI and the model card ask.

A method is a model class (with its config class) plus what training adds on top of the contrastive objective:
extra loss terms, the weight of the contrastive term, and anything computed from the corpus before training
(``prepare``, e.g. SARCSE's token counts, saved beside every checkpoint as its ``checkpoint_files``). How the card
names, cites and describes it is here too. The method's own config fields (those beyond ``SimCseConfig``'s)
become its CLI flags; each field's meaning lives in its config.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...modeling.configuration_simcse import declared_fields, own_fields
from ..objectives import OBJECTIVES, VARIANT_OBJECTIVES, VARIANTS
from ..objectives.base import CseObjective
from .objective import MethodObjective, contrastive_from_config

# The config (shipped as remote code without the trainers) cannot name the objectives; the CLI and card can.
OBJECTIVE_FIELD_HELP = {
    "objective": f"the contrastive objective trained with: {', '.join(OBJECTIVES)}",
    "objective_variant": f"{' or '.join(VARIANTS)} (the gradient-paradigm modification) for "
                         f"{', '.join(VARIANT_OBJECTIVES)}",
}


@dataclass
class MethodResources:
    """What a method computed from the corpus before training.

    Args:
        term_inputs: inputs of its extra loss terms (SARCSE: ``token_weights``).
        checkpoint_files: file name -> text written beside the weights of every checkpoint and the final folder
            (SARCSE: ``token_counts.json``), so a checkpoint carries what it was trained with; the names are the
            method's ``checkpoint_files``.
    """

    term_inputs: dict[str, Any] = field(default_factory=dict)
    checkpoint_files: dict[str, str] = field(default_factory=dict)


class Method:
    """One method's registry entry (``trainers.methods.register_method`` takes an instance).

    A subclass sets the class attributes and overrides what its training adds:

    Attributes:
        model_class: its ``PreTrainedModel`` (``model_class.config_class`` is its config; ``model_type`` its name).
        title, paper, arxiv, citation: how the model card names and cites it (``citation`` is BibTeX).
        summary: the card's one-paragraph description of the method.
        card_template: its template among the model-card templates (``base.md.j2``: the common layout, which
            describes the method by ``title``, ``paper`` and ``summary``).
        checkpoint_files: file name -> what it holds, for each file ``prepare`` writes beside every checkpoint;
            the card names the ones a folder has.
        builds_on: the registered method this one extends, cited after it in the card (None for none).
        field_notes: field -> what the field means for this method where that differs from its config help.
    """

    model_class: type
    title: str
    paper: str
    arxiv: str
    citation: str
    summary: str = ""
    card_template: str = "base.md.j2"
    checkpoint_files: Mapping[str, str] = {}
    builds_on: str | None = "simcse"  # every sentcse method trains SimCSE's two dropout views
    field_notes: Mapping[str, str] = {}

    # ------------------------------------------------------------------------------------------ training
    def prepare(self, config, sentences: Sequence[str], tokenizer, output_dir: Path) -> MethodResources:
        """What is computed from the corpus once before training (and reused from ``output_dir`` where it was)."""
        return MethodResources()

    def extra_terms(self, config, resources: MethodResources) -> Sequence[CseObjective]:
        """The loss terms added to the contrastive objective."""
        return ()

    def contrastive_weight(self, config) -> float:
        """The weight of the contrastive term (0 drops it)."""
        return 1.0

    def build_objective(self, config, resources: MethodResources | None = None) -> MethodObjective:
        """The full training objective of ``config``: the contrastive term plus this method's own terms."""
        extra = self.extra_terms(config, resources or MethodResources())
        weight = self.contrastive_weight(config)
        return MethodObjective(contrastive_from_config(config), extra, contrastive_weight=weight)

    # ------------------------------------------------------------------------------------------ the card
    def inference_embedding(self, config) -> str | None:
        """Which vector ``encode`` returns, in words, where the method decides it; None for the pooler's."""
        return None

    def card_hidden_fields(self, config) -> frozenset[str]:
        """The config fields the card's options table leaves out for ``config``."""
        return frozenset()

    def card_template_name(self, config) -> str:
        """The card template of ``config`` (``card_template``; a method may choose by the config)."""
        return self.card_template

    # ------------------------------------------------------------------------------------------ the config
    @property
    def name(self) -> str:
        return self.config_class.model_type

    @property
    def config_class(self) -> type:
        return self.model_class.config_class

    @property
    def own_fields(self) -> tuple[str, ...]:
        """The config fields only this method has (its own CLI flags)."""
        return own_fields(self.config_class)

    def field_help(self, name: str) -> str:
        """What config field ``name`` means (the CLI's help and the card's options table)."""
        notes = {**OBJECTIVE_FIELD_HELP, **self.field_notes}
        return notes.get(name) or declared_fields(self.config_class)[name].metadata["help"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


__all__ = ["Method", "MethodResources"]
