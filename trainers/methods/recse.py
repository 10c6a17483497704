"""reCSE (Zhao, Gao & Yan, arXiv 2408.04975): the positive is a reshaped view of the sentence's own features."""

from ...modeling import ReCseModel
from ..objectives.reshaping import ReshapedPositive
from .spec import MethodSpec


def hidden_fields(config) -> frozenset:
    hidden = set()
    if config.sqrt != "matrix":
        hidden.add("newton_schulz_iterations")
    if not config.time_for_space:
        hidden.add("reshape_chunk_size")
    return frozenset(hidden)


RECSE = MethodSpec(
    model_class=ReCseModel,
    title="reCSE",
    paper="reCSE: Portable Reshaping Features for Sentence Embedding in Self-supervised Contrastive Learning",
    arxiv="2408.04975",
    summary="The positive of each sentence is a reshaped view of its own token features: their second-order d x d "
    "matrix, densified by a square root and compressed back to a vector, contrasted with the sentence embedding; "
    "the dropout views are contrasted too (weight lambda_dropout).",
    citation="""@misc{zhao2024recse,
  title     = {{reCSE}: Portable Reshaping Features for Sentence Embedding in Self-supervised Contrastive Learning},
  author    = {Zhao, Fufangchen and Gao, Jian and Yan, Danfeng},
  year      = {2024},
  eprint    = {2408.04975},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL},
  url       = {https://arxiv.org/abs/2408.04975}
}""",
    extra_terms=lambda config, resources: [ReshapedPositive(config.reshape_temperature, config.reshape_weight)],
    contrastive_weight=lambda config: config.lambda_dropout,
    card_hidden_fields=hidden_fields,
    field_notes={"temperature": "tau of the dropout term InfoNCE(h1, h2)"},
    card_template=lambda config: "recse.md.j2",
)
