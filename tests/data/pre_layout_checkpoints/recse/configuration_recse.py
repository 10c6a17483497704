"""Configuration of reCSE: reshaped features as the positive (arXiv 2408.04975)."""

from .configuration_simcse import SimCseConfig, check_choice, check_positive, check_positive_int

RESHAPE_SOURCES = ("embeddings", "last_hidden")
SQRT_MODES = ("signed", "matrix")


class ReCseConfig(SimCseConfig):
    r"""
    Configuration of [`ReCseModel`]. Takes every [`SimCseConfig`] argument, plus (METHODS.md section 2):

    Args:
        reshape_source (`str`, *optional*, defaults to `"last_hidden"`): features reshaped: the last layer
            (`"last_hidden"`, which beat `"embeddings"` on STS-B dev in BENCHMARKS.md section 5) or the
            embedding-layer output (`"embeddings"`).
        sqrt (`str`, *optional*, defaults to `"signed"`): densification of M = x^T x / n: element-wise
            `sign(M) sqrt(|M| + eps)` (`"signed"`) or the matrix square root by Newton-Schulz (`"matrix"`).
        sqrt_eps (`float`, *optional*, defaults to 1e-6): eps of the signed square root / the matrix ridge.
        newton_schulz_iterations (`int`, *optional*, defaults to 5): iterations of the matrix square root.
        time_for_space (`bool`, *optional*, defaults to `True`): reshape in chunks under activation
            checkpointing (the d x d activations are recomputed in backward instead of stored).
        reshape_chunk_size (`int`, *optional*, defaults to 16): sentences reshaped per chunk.
        reshape_temperature (`float`, *optional*, defaults to 0.05): tau' of InfoNCE(h, r).
        lambda_dropout (`float`, *optional*, defaults to 1.0): weight of the dropout InfoNCE(h1, h2); 0 gives
            the pure reshaping variant.
    """

    model_type = "recse"

    reshape_source: str = "last_hidden"
    sqrt: str = "signed"
    sqrt_eps: float = 1e-6
    newton_schulz_iterations: int = 5
    time_for_space: bool = True
    reshape_chunk_size: int = 16
    reshape_temperature: float = 0.05
    lambda_dropout: float = 1.0

    def __init__(
        self,
        reshape_source: str = "last_hidden",
        sqrt: str = "signed",
        sqrt_eps: float = 1e-6,
        newton_schulz_iterations: int = 5,
        time_for_space: bool = True,
        reshape_chunk_size: int = 16,
        reshape_temperature: float = 0.05,
        lambda_dropout: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("reshape_source", reshape_source, RESHAPE_SOURCES)
        check_choice("sqrt", sqrt, SQRT_MODES)
        check_positive("sqrt_eps", sqrt_eps)
        check_positive_int("newton_schulz_iterations", newton_schulz_iterations)
        check_positive_int("reshape_chunk_size", reshape_chunk_size)
        check_positive("reshape_temperature", reshape_temperature)
        check_positive("lambda_dropout", lambda_dropout, allow_zero=True)
        self.reshape_source = reshape_source
        self.sqrt = sqrt
        self.sqrt_eps = float(sqrt_eps)
        self.newton_schulz_iterations = newton_schulz_iterations
        self.time_for_space = bool(time_for_space)
        self.reshape_chunk_size = reshape_chunk_size
        self.reshape_temperature = float(reshape_temperature)
        self.lambda_dropout = float(lambda_dropout)


__all__ = ["ReCseConfig"]
