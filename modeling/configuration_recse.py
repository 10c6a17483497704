"""Configuration of reCSE: reshaped features as the positive (arXiv 2408.04975)."""

from .configuration_simcse import SimCseConfig, config_field, is_bool, non_negative, one_of, positive, positive_int

RESHAPE_SOURCES = ("embeddings", "last_hidden")
SQRT_MODES = ("signed", "matrix")


class ReCseConfig(SimCseConfig):
    r"""
    Configuration of [`ReCseModel`] (METHODS.md section 2). Takes every [`SimCseConfig`] field, plus its own
    (`temperature` is tau of the dropout term InfoNCE(h1, h2)).

    Args:
{fields}
    """

    model_type = "recse"

    reshape_source: str = config_field(
        "last_hidden", "features reshaped: last_hidden (the last layer's token states) or embeddings (the "
        "embedding-layer output)", one_of(*RESHAPE_SOURCES), "[decision]")
    sqrt: str = config_field(
        "signed", "densification of M = x^T x / n: signed (element-wise sign(M) sqrt(|M| + eps)) or matrix (matrix "
        "square root by Newton-Schulz)", one_of(*SQRT_MODES), "[decision]")
    sqrt_eps: float = config_field(1e-6, "eps of the signed square root / ridge of the matrix square root", positive,
                                   "[decision]")
    newton_schulz_iterations: int = config_field(5, "iterations of the matrix square root", positive_int, "[decision]")
    time_for_space: bool = config_field(
        True, "reshape in chunks under activation checkpointing (the d x d activations are recomputed in backward "
        "instead of stored; same numbers, less memory)", is_bool, "[decision]")
    reshape_chunk_size: int = config_field(16, "sentences reshaped per chunk", positive_int, "[decision]")
    reshape_temperature: float = config_field(0.05, "tau' of InfoNCE(h, r)", positive, "[decision]")
    reshape_weight: float = config_field(
        1.0, "weight of the reshape term InfoNCE(h, r) (the official repository weighs its extra term 0.01)",
        non_negative, "[decision]")
    lambda_dropout: float = config_field(
        1.0, "weight of the dropout term InfoNCE(h1, h2); 0 gives the pure reshaping variant", non_negative,
        "[decision]")


__all__ = ["ReCseConfig"]
