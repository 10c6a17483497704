"""SARCSE (Liu et al., arXiv 2402.15153): SimCSE plus a TextCNN sentence encoder whose embedding must rebuild every
token, under self-adaptive (frequency) weights: the method, its corpus token counts (``token_counts``) and its
reconstruction term (``reconstruction``)."""

from collections.abc import Sequence
from pathlib import Path

from ....modeling import SarcseModel
from ..base import Method, MethodResources
from .reconstruction import SelfAdaptiveReconstruction, weighted_reconstruction_error
from .token_counts import (
    TOKEN_COUNTS_FILE,
    corpus_fingerprint,
    count_tokens,
    load_token_counts,
    token_counts_text,
    token_weights,
)

POOLER_FIELDS = frozenset({"pooler", "mlp_only_train", "mlp_activation"})


class SarcseMethod(Method):
    model_class = SarcseModel
    title = "SARCSE"
    paper = "Self-Adaptive Reconstruction with Contrastive Learning for Unsupervised Sentence Embeddings"
    arxiv = "2402.15153"
    summary = ("SimCSE plus a multi-scale TextCNN auto-encoder: the TextCNN integrates the token states into z and a "
               "decoder rebuilds every token of the sentence from it; the reconstruction error is weighted by token "
               "frequency, so frequent tokens count less. The sentence embedding is [CLS] (embedding_source cls) or z "
               "(cnn).")
    citation = """@misc{liu2024sarcse,
  title     = {Self-Adaptive Reconstruction with Contrastive Learning for Unsupervised Sentence Embeddings},
  author    = {Liu, Junlong and Shang, Xichen and Feng, Huawen and Zheng, Junhao and Ma, Qianli},
  year      = {2024},
  eprint    = {2402.15153},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL},
  url       = {https://arxiv.org/abs/2402.15153}
}"""
    card_template = "sarcse.md.j2"
    checkpoint_files = {TOKEN_COUNTS_FILE: "the corpus token counts the self-adaptive weights were computed from"}

    def prepare(self, config, sentences: Sequence[str], tokenizer, output_dir: Path) -> MethodResources:
        """The corpus token counts (reused from ``output_dir`` when they were counted for this corpus) and weights."""
        fingerprint = corpus_fingerprint(sentences, tokenizer, config.max_length)
        counts = load_token_counts(output_dir, fingerprint)
        if counts is None:
            counts = count_tokens(sentences, tokenizer, config.max_length)
        return MethodResources(
            term_inputs={"token_weights": token_weights(counts, len(tokenizer), config.theta)},
            checkpoint_files={TOKEN_COUNTS_FILE: token_counts_text(counts, fingerprint)},
        )

    def extra_terms(self, config, resources: MethodResources):
        weights = resources.term_inputs.get("token_weights")
        if weights is None:
            raise ValueError("SARCSE needs token weights from the training corpus (Method.prepare)")
        return [SelfAdaptiveReconstruction(weights, beta=config.beta, gamma=config.gamma,
                                           reduction=config.reconstruction_reduction)]

    def inference_embedding(self, config):
        if config.embedding_source == "cnn":
            return "the TextCNN-integrated z (max-pooled CNN features of the content tokens)"
        return None

    def card_hidden_fields(self, config) -> frozenset:
        return POOLER_FIELDS if config.embedding_source == "cnn" else frozenset()


__all__ = ["SarcseMethod", "SelfAdaptiveReconstruction", "TOKEN_COUNTS_FILE", "count_tokens", "load_token_counts",
           "token_counts_text", "token_weights", "weighted_reconstruction_error"]
