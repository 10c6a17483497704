"""Unsupervised SimCSE (Gao, Yao & Chen, EMNLP 2021): the baseline; the contrastive objective alone."""

from ....modeling import SimCseModel
from ...objectives import InfoNCE
from ..base import Method


class SimCseMethod(Method):
    model_class = SimCseModel
    title = "SimCSE"
    paper = "SimCSE: Simple Contrastive Learning of Sentence Embeddings"
    arxiv = "2104.08821"
    summary = ("Unsupervised SimCSE: each sentence is encoded twice with different dropout masks, and the two views "
               "are contrasted against the other sentences of the batch.")
    citation = """@inproceedings{gao2021simcse,
  title     = {{SimCSE}: Simple Contrastive Learning of Sentence Embeddings},
  author    = {Gao, Tianyu and Yao, Xingcheng and Chen, Danqi},
  booktitle = {Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing},
  year      = {2021},
  publisher = {Association for Computational Linguistics},
  url       = {https://aclanthology.org/2021.emnlp-main.552},
  doi       = {10.18653/v1/2021.emnlp-main.552},
  eprint    = {2104.08821},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""
    card_template = "simcse.md.j2"
    builds_on = None

    def card_template_name(self, config) -> str:
        """SimCSE's own card with its InfoNCE; the gradient paradigm's setting with any other objective."""
        return self.card_template if config.objective == InfoNCE.name else "gradient_paradigm.md.j2"


__all__ = ["SimCseMethod"]
