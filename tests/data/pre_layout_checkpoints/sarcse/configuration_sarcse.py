"""Configuration of SARCSE: self-adaptive reconstruction + contrastive learning (arXiv 2402.15153)."""

from typing import Optional, Sequence

from .configuration_simcse import SimCseConfig, check_choice, check_positive, check_positive_int

EMBEDDING_SOURCES = ("cnn", "cls")


class SarcseConfig(SimCseConfig):
    r"""
    Configuration of [`SarcseModel`]. Takes every [`SimCseConfig`] argument, plus (METHODS.md section 1):

    Args:
        kernel_sizes (`Sequence[int]`, *optional*, defaults to `(3, 4, 5)`): TextCNN kernel sizes, each >= 1.
        cnn_channels (`int`, *optional*, defaults to 128): channels c of each TextCNN branch (128 beat 256 on
            STS-B dev in BENCHMARKS.md section 5, at about half the head's cost).
        embedding_source (`str`, *optional*, defaults to `"cnn"`):
            `"cnn"`: the CNN-integrated z is the sentence embedding and the contrastive view; `"cls"`: the
            SimCSE pooler (`pooler`, training-only MLP) gives both, and z only feeds the reconstruction.
        decoder_length (`int`, *optional*): tokens rebuilt per sentence, Lr; defaults to `max_length - 2`
            (drops [CLS] and [SEP]); must be >= the largest kernel size.
        detach_target (`bool`, *optional*, defaults to `True`): reconstruct detached token states.
        theta (`float`, *optional*, defaults to 0.1): minimum self-adaptive token weight, in (0, 1].
        beta (`float`, *optional*, defaults to 2.5e-4): reconstruction coefficient of the first view.
        gamma (`float`, *optional*, defaults to 2.5e-4): reconstruction coefficient of the second view.
    """

    model_type = "sarcse"

    kernel_sizes: Sequence[int] = (3, 4, 5)
    cnn_channels: int = 128
    embedding_source: str = "cnn"
    decoder_length: Optional[int] = None
    detach_target: bool = True
    theta: float = 0.1
    beta: float = 2.5e-4
    gamma: float = 2.5e-4

    def __init__(
        self,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        cnn_channels: int = 128,
        embedding_source: str = "cnn",
        decoder_length: Optional[int] = None,
        detach_target: bool = True,
        theta: float = 0.1,
        beta: float = 2.5e-4,
        gamma: float = 2.5e-4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        kernel_sizes = list(kernel_sizes) if isinstance(kernel_sizes, (list, tuple)) else kernel_sizes
        if not isinstance(kernel_sizes, list) or not kernel_sizes:
            raise ValueError(f"kernel_sizes must be a non-empty list of integers >= 1, got {kernel_sizes!r}")
        for size in kernel_sizes:
            check_positive_int("kernel_sizes", size)
        check_positive_int("cnn_channels", cnn_channels)
        check_choice("embedding_source", embedding_source, EMBEDDING_SOURCES)
        if decoder_length is None:
            decoder_length = self.max_length - 2
        if not isinstance(decoder_length, int) or decoder_length < max(kernel_sizes):
            raise ValueError(
                f"decoder_length must be an integer >= the largest kernel size ({max(kernel_sizes)}), got "
                f"{decoder_length!r}; raise max_length or set decoder_length"
            )
        if not isinstance(theta, (int, float)) or not 0 < theta <= 1:
            raise ValueError(f"theta must be in (0, 1], got {theta!r}")
        check_positive("beta", beta, allow_zero=True)
        check_positive("gamma", gamma, allow_zero=True)
        self.kernel_sizes = kernel_sizes
        self.cnn_channels = cnn_channels
        self.embedding_source = embedding_source
        self.decoder_length = decoder_length
        self.detach_target = bool(detach_target)
        self.theta = float(theta)
        self.beta = float(beta)
        self.gamma = float(gamma)


__all__ = ["SarcseConfig"]
