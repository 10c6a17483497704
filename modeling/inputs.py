"""What the sentcse models accept, checked up front with one clear error each: a backbone location (a folder or a
Hub id), the tokenizer beside the weights, and encode()'s sentences, device, dtype and max_length; and the fp32
regions bf16 autocast needs (``autocast_off``, ``upcast_half``), shared with the trainers' objectives.

Self-contained (torch, transformers only): ``save_pretrained`` ships it with the model code.
"""

import contextlib
import difflib
import numbers
import os
import platform
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call
from transformers import AutoConfig, AutoTokenizer


def looks_local(name_or_path: str) -> bool:
    """Whether ``name_or_path`` is meant as a local path rather than a Hub id (``org/name``, at most one "/"): it
    starts with ".", "/" or "~", holds a backslash or the platform's separator (other than "/"), or has more than
    one "/"."""
    name = str(name_or_path)
    return (
        name.startswith((".", "/", "~"))
        or "\\" in name
        or (os.sep != "/" and os.sep in name)
        or name.count("/") > 1
    )


def near_miss_folder(name_or_path: str) -> str | None:
    """A local folder whose name is very close to ``name_or_path`` (which does not exist): a typo of it, rather
    than a Hub name to look up (the Hub's retries take half a minute before they fail)."""
    path = Path(str(name_or_path)).expanduser()
    if path.exists() or str(name_or_path).count("/") > 1:
        return None
    parent = path.parent
    try:
        folders = [entry.name for entry in parent.iterdir() if entry.is_dir()]
    except OSError:
        return None
    close = difflib.get_close_matches(path.name, folders, n=1, cutoff=0.85)
    return str(parent / close[0]) if close else None


def load_backbone_config(name_or_path: str, trust_remote_code: bool | None = None):
    """The config of a backbone folder or Hub name. A local-looking path that is no folder, a name very close to a
    local folder's (a typo), a file given for the folder, or a folder without config.json fails at once with what
    to pass instead (no Hub retries)."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_file():
        raise NotADirectoryError(f"{name!r} is a file; pass the backbone folder (the one holding config.json)")
    if looks_local(name) and not path.is_dir():
        raise OSError(f"no folder {name!r}: pass an existing backbone folder or a Hub model name")
    near = near_miss_folder(name)
    if near is not None:
        raise OSError(f"no folder {name!r}; did you mean {near!r}? (a name this close to a local folder is taken for a "
                      "typo, not looked up on the Hub)")
    if path.is_dir() and not (path / "config.json").is_file():
        raise OSError(
            f"{name!r} has no config.json: pass the folder a backbone was saved to (save_pretrained), "
            "or a Hub model name"
        )
    kwargs = {} if trust_remote_code is None else {"trust_remote_code": trust_remote_code}
    return AutoConfig.from_pretrained(name_or_path, **kwargs)


def load_tokenizer(source: str, trust_remote_code: bool | None, config=None):
    """``AutoTokenizer.from_pretrained(source)`` with the ``trust_remote_code`` the model was loaded with, so that a
    folder with remote code (its config.json has ``auto_map``) loads without asking again. ``config`` (the backbone's)
    saves reading config.json again and picks the backbone's tokenizer class where tokenizer_config.json names none."""
    kwargs = {} if trust_remote_code is None else {"trust_remote_code": trust_remote_code}
    if config is not None:
        kwargs["config"] = config
    return AutoTokenizer.from_pretrained(source, **kwargs)


def sentence_list(sentences) -> list[str]:
    """``sentences`` (anything but a single str) as a list of strings, or a TypeError saying what to pass."""
    if isinstance(sentences, (bytes, bytearray)):
        raise TypeError(
            f"encode() takes a string or a list of strings, got {type(sentences).__name__}: decode it first, e.g. "
            "text.decode('utf-8')"
        )
    try:
        items = list(sentences)
    except TypeError:
        raise TypeError(
            f"encode() takes a string or a list of strings, got {type(sentences).__name__}"
        ) from None
    for index, sentence in enumerate(items):
        if isinstance(sentence, (bytes, bytearray)):
            raise TypeError(
                f"encode() takes a string or a list of strings; item {index} is {type(sentence).__name__}: decode it "
                "first, e.g. text.decode('utf-8')"
            )
        if not isinstance(sentence, str):
            raise TypeError(
                f"encode() takes a string or a list of strings; item {index} is {type(sentence).__name__} "
                f"({sentence!r:.40}): convert it with str() or drop it"
            )
    return items


def checked_device(device) -> torch.device:
    """``device`` as a torch.device, or a ValueError when it is malformed or its accelerator is not available."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"encode(device={device!r}) is not a torch device ({error}); pass e.g. device='cpu'") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"encode(device={device!r}): CUDA is not available here (torch.cuda.is_available() is False, torch "
                f"{torch.__version__}); pass device='cpu'"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"encode(device={device!r}): this machine has {torch.cuda.device_count()} CUDA device(s); pass "
                "device='cuda' or device='cpu'"
            )
    elif resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"encode(device={device!r}): MPS is not available here; pass device='cpu'")
    return resolved


def special_token_count(tokenizer) -> int:
    """How many special tokens ``tokenizer`` adds to one sentence ([CLS] x [SEP]: 2)."""
    count = getattr(tokenizer, "num_special_tokens_to_add", None)
    if callable(count):
        try:
            return int(count(pair=False))
        except (TypeError, ValueError, NotImplementedError):
            pass
    try:
        return len(tokenizer("")["input_ids"])
    except Exception:  # a tokenizer-like callable of another shape: assume none
        return 0


def check_max_length(max_length, tokenizer, what: str = "max_length") -> None:
    """A ``max_length`` that leaves at least one content token after the tokenizer's special tokens."""
    if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(max_length).__name__} {max_length!r}")
    special = special_token_count(tokenizer)
    if max_length < special + 1:
        raise ValueError(
            f"max_length {max_length} leaves no content token (the tokenizer adds {special} special tokens): use at "
            f"least {special + 1}"
        )


# encode(dtype=...): the compute precisions, by torch dtype and by name
_DTYPE_NAMES = {
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
}


def checked_dtype(dtype, what: str = "encode(dtype=...)") -> torch.dtype | None:
    """``dtype`` (None, a torch dtype or its name: "bf16"/"bfloat16", "fp16"/"float16", "fp32"/"float32") as a
    torch dtype (None stays None), or a ValueError saying what to pass."""
    if dtype is None:
        return None
    resolved = None
    if isinstance(dtype, torch.dtype):
        resolved = dtype if dtype in _DTYPE_NAMES.values() else None
    elif isinstance(dtype, str):
        name = dtype.strip().lower()
        resolved = _DTYPE_NAMES.get(name[len("torch."):] if name.startswith("torch.") else name)
    if resolved is None:
        raise ValueError(
            f"{what}: {dtype!r} is not a compute precision; pass torch.bfloat16 or 'bf16', torch.float16 or 'fp16', "
            "torch.float32 or 'fp32' (None: as the weights are)"
        )
    return resolved


def has_autocast(device_type: str) -> bool:
    """Whether torch has autocast for ``device_type`` (``meta``, for one, has none)."""
    available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    return available(device_type) if available is not None else device_type in ("cpu", "cuda")


def upcast_half(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 -> fp32 for numerically safe arithmetic; fp32 and fp64 are kept as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def autocast_off(device_type: str) -> contextlib.AbstractContextManager:
    """A region where autocast is disabled for ``device_type`` (a no-op outside autocast, and on devices that have
    no autocast)."""
    if has_autocast(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


# set to 1 to run bf16 where it is emulated all the same (tests of the bf16 code path on any CPU)
ALLOW_EMULATED_BF16 = "SENTCSE_ALLOW_EMULATED_BF16"


def emulated_bf16_cpu() -> bool:
    """Whether this CPU lacks bf16 matrix instructions (an x86 CPU without AVX512-BF16 or AMX), so torch emulates
    bf16 there, many times slower than fp32. Other architectures are not judged (False)."""
    allowed = os.environ.get(ALLOW_EMULATED_BF16, "") not in ("", "0")
    if allowed or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def bf16_slowdown(size: int = 384, repeats: int = 3) -> float:
    """How many times slower a bf16 matrix product runs than an fp32 one on this CPU (best of ``repeats`` after one
    warm-up product; well under a second where bf16 is emulated)."""
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.ones(size, size, dtype=dtype), torch.ones(size, size, dtype=dtype)
        a @ b  # the first product builds the kernel
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        timings[dtype] = best
    return timings[torch.bfloat16] / max(timings[torch.float32], 1e-9)


# functional_call swaps a module's weights for the call: two calls on one module must not overlap
_SWAP_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_SWAP_LOCKS_GUARD = threading.Lock()


def weights_lock(module: nn.Module) -> "threading.RLock":
    """The lock ``call_in_dtype`` holds while ``module``'s weights are swapped; a caller that runs the module on its
    own weights from several threads (``encode``) holds it too."""
    with _SWAP_LOCKS_GUARD:
        lock = _SWAP_LOCKS.get(module)
        if lock is None:
            lock = _SWAP_LOCKS[module] = threading.RLock()
        return lock


def call_in_dtype(module: nn.Module, dtype: torch.dtype, function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)`` with ``module``'s floating parameters and buffers cast to ``dtype`` for the call
    (``torch.func.functional_call``; the cast copy is dropped on return, the module left as it is) and autocast off,
    so that every op runs in ``dtype``, as in a model loaded in it. ``function`` may be any method of ``module``
    (``encode`` included), not only its forward. A dtype the module's device cannot compute in is a ValueError."""
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError(f"encode(dtype={dtype}): this GPU does not support bfloat16; pass dtype='fp16' or 'fp32'")
    if device.type == "cpu" and dtype == torch.bfloat16 and emulated_bf16_cpu():
        warnings.warn("bf16 on this CPU is emulated (no AVX512-BF16 or AMX): it runs several times slower than "
                      "fp32; pass dtype=None or 'fp32' here", UserWarning, stacklevel=3)
    state = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    floating = {name: tensor for name, tensor in state.items() if tensor.is_floating_point()}
    with autocast_off(device.type), weights_lock(module):
        if all(tensor.dtype == dtype for tensor in floating.values()):
            return function(*args, **kwargs)
        weights = {f"module.{name}": tensor.to(dtype) for name, tensor in floating.items()}
        return functional_call(_Holder(module, function), weights, args, kwargs)


class _Holder(nn.Module):
    """``module`` as a submodule, so that ``functional_call`` swaps its weights while ``function`` runs."""

    def __init__(self, module: nn.Module, function: Callable):
        super().__init__()
        self.module = module
        # not registered: a module passed as ``function`` would be a second name for the swapped weights
        object.__setattr__(self, "function", function)

    def forward(self, *args, **kwargs):
        return self.function(*args, **kwargs)
