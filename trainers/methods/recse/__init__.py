"""reCSE (Zhao, Gao & Yan, arXiv 2408.04975): the positive is a reshaped view of the sentence's own features."""

from ....modeling import ReCseModel
from ..base import Method
from .reshaping import ReshapedPositive


class ReCseMethod(Method):
    model_class = ReCseModel
    title = "reCSE"
    paper = "reCSE: Portable Reshaping Features for Sentence Embedding in Self-supervised Contrastive Learning"
    arxiv = "2408.04975"
    summary = ("The positive of each sentence is a reshaped view of its own token features: their second-order d x d "
               "matrix, densified by a square root and compressed back to a vector, contrasted with the sentence "
               "embedding; the dropout views are contrasted too (weight lambda_dropout).")
    citation = """@misc{zhao2024recse,
  title     = {{reCSE}: Portable Reshaping Features for Sentence Embedding in Self-supervised Contrastive Learning},
  author    = {Zhao, Fufangchen and Gao, Jian and Yan, Danfeng},
  year      = {2024},
  eprint    = {2408.04975},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL},
  url       = {https://arxiv.org/abs/2408.04975}
}"""
    card_template = "recse.md.j2"
    field_notes = {"temperature": "tau of the dropout term InfoNCE(h1, h2)"}

    def extra_terms(self, config, resources):
        return [ReshapedPositive(config.reshape_temperature, config.reshape_weight)]

    def contrastive_weight(self, config) -> float:
        return config.lambda_dropout

    def card_hidden_fields(self, config) -> frozenset:
        hidden = set()
        if config.sqrt != "matrix":
            hidden.add("newton_schulz_iterations")
        if not config.time_for_space:
            hidden.add("reshape_chunk_size")
        return frozenset(hidden)


__all__ = ["ReCseMethod", "ReshapedPositive"]
