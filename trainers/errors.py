"""How a user error reads: one line."""

import re

from huggingface_hub.errors import StrictDataclassError, StrictDataclassFieldValidationError

from ..modeling.inputs import ALLOW_EMULATED_BF16, bf16_slowdown


def error_line(error: BaseException, with_type: bool = False) -> str:
    """An exception as one line: its message's first line, or its type when it has none. A config's error
    (huggingface_hub's "Validation error for field 'x':" above its cause) reads as its cause, after the field's
    name where the cause does not say it ("theta must be in (0, 1], got 0"). ``with_type``: after the exception's
    type ("OSError: connection reset by peer"), for a library's error whose message alone may not say what failed."""
    text = _first_line(error)
    return f"{type(error).__name__}: {text}" if with_type and text != type(error).__name__ else text


def _first_line(error: BaseException) -> str:
    cause = error.__cause__
    if isinstance(error, StrictDataclassError) and cause is not None and str(cause).strip():
        field = re.search(r"'([^']+)'", str(error)) if isinstance(error, StrictDataclassFieldValidationError) else None
        text = _first_line(cause)
        return f"{field.group(1)} {text}" if field and f"'{field.group(1)}'" not in text else text
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def emulated_bf16_line(flag: str, fix: str) -> str:
    """The one line a command prints when ``flag`` asks for bf16 on a CPU that emulates it."""
    return (f"{flag}: this CPU has no native bf16 (no AVX512-BF16 or AMX), so torch emulates it: a bf16 matrix product "
            f"runs {bf16_slowdown():.0f}x slower than fp32 here; {fix} (bf16 pays on CPUs with AMX or AVX512-BF16, "
            f"and on GPUs; {ALLOW_EMULATED_BF16}=1 runs it all the same)")
