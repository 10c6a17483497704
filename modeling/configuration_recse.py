"""Configuration of reCSE: reshaped features as the positive (arXiv 2408.04975)."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_simcse import SimCseConfig, at_least_one, config_field, non_negative, positive


@strict(accept_kwargs=True)
class ReCseConfig(SimCseConfig):
    r"""
    Configuration of [`ReCseModel`] (METHODS.md section 2). Takes every [`SimCseConfig`] field, plus its own
    (`temperature` is tau of the dropout term InfoNCE(h1, h2)).

    Args:
{fields}
    """

    model_type = "recse"

    reshape_source: Literal["embeddings", "last_hidden"] = config_field(
        "last_hidden", "features reshaped: last_hidden (the last layer's token states) or embeddings (the "
        "embedding-layer output)", kind="[decision]")
    sqrt: Literal["signed", "matrix"] = config_field(
        "signed", "densification of M = x^T x / n: signed (element-wise sign(M) sqrt(|M| + eps)) or matrix (matrix "
        "square root by Newton-Schulz)", kind="[decision]")
    sqrt_eps: float | int = config_field(1e-6, "eps of the signed square root / ridge of the matrix square root",
                                         positive, "[decision]")
    newton_schulz_iterations: int = config_field(5, "iterations of the matrix square root", at_least_one, "[decision]")
    time_for_space: bool = config_field(
        True, "reshape in chunks under activation checkpointing (the d x d activations are recomputed in backward "
        "instead of stored; same numbers, less memory)", kind="[decision]")
    reshape_chunk_size: int = config_field(16, "sentences reshaped per chunk", at_least_one, "[decision]")
    reshape_temperature: float | int = config_field(0.05, "tau' of InfoNCE(h, r)", positive, "[decision]")
    reshape_weight: float | int = config_field(
        1.0, "weight of the reshape term InfoNCE(h, r) (the official repository weighs its extra term 0.01)",
        non_negative, "[decision]")
    detach_reshape_source: bool = config_field(
        False, "reshape detached features: the reshape term reaches the encoder through h only, while the reshaping "
        "head (its own projection) still trains", kind="[decision]")
    lambda_dropout: float | int = config_field(
        1.0, "weight of the dropout term InfoNCE(h1, h2); 0 gives the pure reshaping variant", non_negative,
        "[decision]")

    def validate_loss_terms(self) -> None:
        if self.reshape_weight == 0 and self.lambda_dropout == 0:
            raise ValueError("reshape_weight and lambda_dropout are both 0, so no loss term trains the encoder: set "
                             "one of them > 0")


__all__ = ["ReCseConfig"]
