"""Configuration of SARCSE: self-adaptive reconstruction + contrastive learning (arXiv 2402.15153)."""

from typing import List, Optional

from .configuration_simcse import SimCseConfig, config_field, is_bool, non_negative, one_of, optional, positive_int

EMBEDDING_SOURCES = ("cnn", "cls")
DECODER_ACTIVATIONS = ("relu", "none")
CNN_POOLINGS = ("max", "mean")
DECODER_INPUTS = ("z", "feature_maps", "sentence_embedding")
RECONSTRUCTION_REDUCTIONS = ("token", "element", "sentence")


def kernel_list(name, value) -> None:
    if not isinstance(value, (list, tuple)) or not value or not all(
        isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in value
    ):
        raise ValueError(f"{name} must be a non-empty list of integers >= 1, got {value!r}")


def unit_interval(name, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


class SarcseConfig(SimCseConfig):
    r"""
    Configuration of [`SarcseModel`] (METHODS.md section 1). Takes every [`SimCseConfig`] field, plus its own.

    Args:
{fields}
    """

    model_type = "sarcse"

    kernel_sizes: List[int] = config_field([3, 4, 5], "TextCNN kernel sizes", kernel_list, "[paper]")
    cnn_channels: int = config_field(128, "channels c of each TextCNN branch", positive_int, "[decision]")
    embedding_source: str = config_field(
        "cls", "sentence embedding: cnn (the CNN-integrated z is the embedding and the contrastive view) or cls (the "
        "SimCSE pooler gives both, and z only feeds the reconstruction)", one_of(*EMBEDDING_SOURCES), "[decision]")
    cnn_pooling: str = config_field(
        "max", "pooling of the integrated feature map over time into z: max or mean (over the valid windows)",
        one_of(*CNN_POOLINGS), "[decision]")
    decoder_input: str = config_field(
        "z", "what the decoder rebuilds the tokens from: z (the CNN-integrated embedding alone, the bottleneck), "
        "feature_maps (each TextCNN branch's feature map, transposed back by its own kernel) or sentence_embedding "
        "(with embedding_source cls: the raw [CLS] embedding itself, so the reconstruction trains the embedding used "
        "at inference; no TextCNN encoder then)", one_of(*DECODER_INPUTS), "[decision]")
    decoder_length: Optional[int] = config_field(
        None, "token positions the decoder rebuilds per sentence, Lr; at least the largest kernel size",
        optional(positive_int), "[decision]", default_text="max_length - 2")
    decoder_activation: str = config_field(
        "relu", "activation between the decoder's two transposed convolutions: relu or none (linear)",
        one_of(*DECODER_ACTIVATIONS), "[decision]")
    detach_target: bool = config_field(True, "reconstruct detached token states (X is not pulled towards X_hat)",
                                       is_bool, "[decision]")
    theta: float = config_field(0.1, "minimum self-adaptive token weight, in (0, 1]", unit_interval, "[paper]")
    reconstruction_reduction: str = config_field(
        "token", "scale of L_rec: token (squared error summed over dimensions, averaged over real tokens), element "
        "(averaged over tokens and dimensions: token / hidden_size) or sentence (summed over a sentence's tokens and "
        "dimensions, averaged over sentences)", one_of(*RECONSTRUCTION_REDUCTIONS), "[decision]")
    beta: float = config_field(2.5e-4, "reconstruction coefficient of the first view", non_negative, "[paper]")
    gamma: float = config_field(2.5e-4, "reconstruction coefficient of the second view", non_negative, "[paper]")

    def __post_init__(self, **kwargs):
        self.kernel_sizes = list(self.kernel_sizes)
        if self.decoder_length is None:
            object.__setattr__(self, "decoder_length", self.max_length - 2)  # checked with the other rules below
        super().__post_init__(**kwargs)

    def _follow_change(self, name, previous) -> None:
        # decoder_length follows max_length while it holds the derived value
        if name == "max_length" and self.decoder_length == previous - 2:
            object.__setattr__(self, "decoder_length", self.max_length - 2)

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


__all__ = ["SarcseConfig"]
