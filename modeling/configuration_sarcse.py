"""Configuration of SARCSE: self-adaptive reconstruction + contrastive learning (arXiv 2402.15153)."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_simcse import SimCseConfig, at_least_one, config_field, non_negative

ReconstructionReduction = Literal["token", "element", "sentence"]


def kernel_list(value) -> None:
    if not value or not all(k >= 1 for k in value):
        raise ValueError(f"must be a non-empty list of integers >= 1, got {value!r}")


def unit_interval(value) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"must be in (0, 1], got {value!r}")


@strict(accept_kwargs=True)
class SarcseConfig(SimCseConfig):
    r"""
    Configuration of [`SarcseModel`] (METHODS.md section 1). Takes every [`SimCseConfig`] field, plus its own.

    Args:
{fields}
    """

    model_type = "sarcse"

    kernel_sizes: list[int] | tuple[int, ...] = config_field([3, 4, 5], "TextCNN kernel sizes", kernel_list, "[paper]")
    cnn_channels: int = config_field(128, "channels c of each TextCNN branch", at_least_one, "[decision]")
    embedding_source: Literal["cnn", "cls"] = config_field(
        "cls", "sentence embedding: cnn (the CNN-integrated z is the embedding and the contrastive view) or cls (the "
        "SimCSE pooler gives both, and z only feeds the reconstruction)", kind="[decision]")
    cnn_pooling: Literal["max", "mean"] = config_field(
        "max", "pooling of the integrated feature map over time into z: max or mean (over the valid windows)",
        kind="[decision]")
    decoder_input: Literal["z", "feature_maps", "sentence_embedding"] = config_field(
        "z", "what the decoder rebuilds the tokens from: z (the CNN-integrated embedding alone, the bottleneck), "
        "feature_maps (each TextCNN branch's feature map, transposed back by its own kernel) or sentence_embedding "
        "(with embedding_source cls: the raw [CLS] embedding itself, so the reconstruction trains the embedding used "
        "at inference; no TextCNN encoder then)", kind="[decision]")
    decoder_length: int | None = config_field(
        None, "token positions the decoder rebuilds per sentence, Lr; at least the largest kernel size",
        at_least_one, "[decision]", default_text="max_length - 2")
    decoder_activation: Literal["relu", "none"] = config_field(
        "relu", "activation between the decoder's two transposed convolutions: relu or none (linear)",
        kind="[decision]")
    detach_target: bool = config_field(True, "reconstruct detached token states (X is not pulled towards X_hat)",
                                       kind="[decision]")
    theta: float | int = config_field(0.1, "minimum self-adaptive token weight, in (0, 1]", unit_interval, "[paper]")
    reconstruction_reduction: ReconstructionReduction = config_field(
        "token", "scale of L_rec: token (squared error summed over dimensions, averaged over real tokens), element "
        "(averaged over tokens and dimensions: token / hidden_size) or sentence (summed over a sentence's tokens and "
        "dimensions, averaged over sentences)", kind="[decision]")
    beta: float | int = config_field(2.5e-4, "reconstruction coefficient of the first view", non_negative, "[paper]")
    gamma: float | int = config_field(2.5e-4, "reconstruction coefficient of the second view", non_negative, "[paper]")

    def __post_init__(self, **kwargs):
        self.kernel_sizes = list(self.kernel_sizes)
        if self.decoder_length is None:
            if self.max_length - 2 < max(self.kernel_sizes):  # named by the flag given, not the derived field
                raise ValueError(
                    f"max_length must be >= {max(self.kernel_sizes) + 2} for SARCSE (its decoder rebuilds max_length - "
                    f"2 tokens, at least the largest kernel size {max(self.kernel_sizes)}), got {self.max_length}; "
                    "raise max_length or set decoder_length")
            self.decoder_length = self.max_length - 2
        super().__post_init__(**kwargs)

    def validate_decoder_input(self) -> None:
        if self.decoder_input == "sentence_embedding" and self.embedding_source != "cls":
            raise ValueError("decoder_input sentence_embedding needs embedding_source cls (with cnn, the sentence "
                             "embedding is z: use decoder_input z)")

    def validate_decoder_length(self) -> None:
        if self.decoder_length < max(self.kernel_sizes):
            derived = f" (max_length {self.max_length} - 2)" if self.decoder_length == self.max_length - 2 else ""
            raise ValueError(
                f"decoder_length must be >= the largest kernel size ({max(self.kernel_sizes)}), got "
                f"{self.decoder_length}{derived}; raise max_length or set decoder_length"
            )


__all__ = ["ReconstructionReduction", "SarcseConfig"]
