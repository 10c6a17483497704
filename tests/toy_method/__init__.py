"""A toy method added the way a maintainer adds one: this package (a config with its own field and a model in
``modeling_toy``, an extra loss term in ``norm_penalty``, a ``Method`` here, with a file of its own saved beside
every checkpoint) and one ``register_method`` call; nothing else in sentcse is touched (used by
tests/modeling/test_layout.py)."""

import json

from sentcse.trainers.methods import Method, MethodResources

from .modeling_toy import ToyConfig, ToyModel
from .norm_penalty import NormPenalty

STATS_FILE = "toy_corpus_stats.json"


class ToyMethod(Method):
    model_class = ToyModel
    title = "ToyCSE"
    paper = "A toy method"
    arxiv = "0000.00000"
    citation = "@misc{toy}"
    summary = "SimCSE with a norm penalty."
    checkpoint_files = {STATS_FILE: "the number of corpus sentences the toy was prepared on"}

    def prepare(self, config, sentences, tokenizer, output_dir):
        return MethodResources(checkpoint_files={STATS_FILE: json.dumps({"sentences": len(sentences)})})

    def extra_terms(self, config, resources):
        return [NormPenalty(config.norm_weight)]


TOY = ToyMethod()

__all__ = ["STATS_FILE", "TOY", "NormPenalty", "ToyConfig", "ToyMethod", "ToyModel"]
