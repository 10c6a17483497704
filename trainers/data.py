"""Training data: one sentence per line (.txt or .gz) or a Hub dataset, and the two-view collator."""

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from datasets import Dataset

logger = logging.getLogger(__name__)


@dataclass
class Corpus:
    """The sentences read from a file or dataset, with what was skipped."""

    sentences: List[str]
    source: str
    blank_lines: int = 0

    def to_dataset(self) -> Dataset:
        return Dataset.from_dict({"sentence": self.sentences})


def read_corpus(path: Union[str, Path], max_sentences: Optional[int] = None) -> Corpus:
    """Read one sentence per line from a UTF-8 ``.txt`` or gzip ``.gz`` file.

    Blank lines are skipped and counted. An undecodable line or a file with no sentence raises ``ValueError``
    naming the file (and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training corpus {str(path)!r} not found; pass --train_file with a .txt or .gz file")
    opener = gzip.open if path.suffix == ".gz" else open
    sentences: List[str] = []
    blank = 0
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}: line {number} is not valid UTF-8 ({error.reason} at byte {error.start}); re-encode the "
                    "file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                ) from None
            if not line:
                blank += 1
                continue
            sentences.append(line)
            if max_sentences is not None and len(sentences) >= max_sentences:
                break
    if not sentences:
        raise ValueError(f"{path}: no sentence found ({blank} blank lines); the corpus needs one sentence per line")
    if blank:
        logger.warning("%s: skipped %d blank lines", path, blank)
    return Corpus(sentences, str(path), blank)


def load_corpus(name_or_path: str, max_sentences: Optional[int] = None, text_column: str = "text") -> Corpus:
    """A local file (see ``read_corpus``) or a Hub dataset name (its ``train`` split, column ``text_column``)."""
    if Path(name_or_path).exists() or Path(name_or_path).suffix in (".txt", ".gz"):
        return read_corpus(name_or_path, max_sentences)
    from datasets import load_dataset

    split = "train" if max_sentences is None else f"train[:{max_sentences}]"
    dataset = load_dataset(name_or_path, split=split)
    if text_column not in dataset.column_names:
        raise ValueError(f"dataset {name_or_path!r} has no column {text_column!r}; columns: {dataset.column_names}")
    sentences, blank = [], 0
    for text in dataset[text_column]:
        text = (text or "").strip()
        if text:
            sentences.append(text)
        else:
            blank += 1
    if not sentences:
        raise ValueError(f"dataset {name_or_path!r}: column {text_column!r} holds no sentence")
    return Corpus(sentences, name_or_path, blank)


class TwoViewCollator:
    """Tokenise a batch and stack it twice (rows ``[:B]`` first, ``[B:]`` second), right-padded to its longest row
    and truncated at ``max_length``.

    Training examples (``{"sentence": ...}``): both halves are the same B sentences; the two views differ only by
    the dropout masks of the forward pass (SimCSE). Evaluation examples (``{"sentence1", "sentence2", "score"}``, STS
    pairs): the halves are the pairs' first and second sentences, and ``labels`` holds the gold scores.
    """

    def __init__(self, tokenizer, max_length: int = 32):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def _tokenize(self, sentences: List[str]) -> Dict[str, torch.Tensor]:
        batch = self.tokenizer(
            sentences, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt", padding_side="right"
        )
        return {key: value for key, value in batch.items() if key in ("input_ids", "attention_mask", "token_type_ids")}

    def __call__(self, examples: Sequence[Dict[str, str]]) -> Dict[str, torch.Tensor]:
        if examples and "sentence1" in examples[0]:
            batch = self._tokenize([e["sentence1"] for e in examples] + [e["sentence2"] for e in examples])
            batch["labels"] = torch.tensor([float(e["score"]) for e in examples])
            return batch
        batch = self._tokenize([example["sentence"] for example in examples])
        return {key: torch.cat([value, value]) for key, value in batch.items()}
