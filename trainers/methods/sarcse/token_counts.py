"""Corpus token counts for SARCSE's self-adaptive reconstruction weights (METHODS.md section 1).

    w(t) = max(theta, 1 - log(1 + c(t)) / log(1 + c_max)),   unseen tokens weigh 1.

Counts come from the training corpus tokenised with the model's tokenizer; they are saved beside each
checkpoint as ``token_counts.json`` so a checkpoint carries the table it was trained with.
"""

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch

TOKEN_COUNTS_FILE = "token_counts.json"


def count_tokens(sentences: Iterable[str], tokenizer, max_length: int, batch_size: int = 4096) -> dict[int, int]:
    """Count content-token ids (no special tokens) as training sees them (truncated at ``max_length``)."""
    counts: Counter = Counter()
    batch = []
    for sentence in sentences:
        batch.append(sentence)
        if len(batch) == batch_size:
            _count_batch(batch, tokenizer, max_length, counts)
            batch = []
    if batch:
        _count_batch(batch, tokenizer, max_length, counts)
    return dict(counts)


def _count_batch(batch, tokenizer, max_length, counts: Counter) -> None:
    encoded = tokenizer(batch, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
    for ids in encoded:
        counts.update(ids[1:-1])  # drop the first and last special tokens, as the model's token states do


def corpus_fingerprint(sentences, tokenizer, max_length: int) -> str:
    digest = hashlib.sha256()
    digest.update(f"{type(tokenizer).__name__}:{len(tokenizer)}:{max_length}:{len(sentences)}".encode())
    for sentence in sentences[:1000]:
        digest.update(sentence.encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def token_counts_text(counts: dict[int, int], fingerprint: str = "") -> str:
    """The ``token_counts.json`` text of ``counts`` (what ``load_token_counts`` reads back)."""
    return json.dumps({"fingerprint": fingerprint, "counts": {str(k): int(v) for k, v in sorted(counts.items())}})


def load_token_counts(folder: str | Path, fingerprint: str | None = None) -> dict[int, int] | None:
    """The counts saved in ``folder``, or None when absent (or computed for another corpus/tokenizer)."""
    path = Path(folder) / TOKEN_COUNTS_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        counts = {int(k): int(v) for k, v in payload["counts"].items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is corrupted ({error}); delete it to recount the corpus") from None
    if fingerprint is not None and payload.get("fingerprint") != fingerprint:
        return None
    return counts


def token_weights(counts: dict[int, int], vocab_size: int, theta: float) -> torch.Tensor:
    """``(vocab_size,)`` self-adaptive weights; tokens never seen in the corpus weigh 1. ``theta`` is the config's
    (checked there: in (0, 1])."""
    weights = torch.ones(vocab_size, dtype=torch.float32)
    if not counts:
        return weights
    log_max = math.log1p(max(counts.values()))
    for token_id, count in counts.items():
        if 0 <= token_id < vocab_size and count > 0:
            weights[token_id] = max(theta, 1.0 - math.log1p(count) / log_max) if log_max > 0 else 1.0
    return weights
