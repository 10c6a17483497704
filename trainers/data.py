"""Training data: one sentence per line (.txt or .gz) or a Hub dataset, and the two-view collator."""

import gzip
import logging
import numbers
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from datasets import Dataset

from ..modeling.inputs import check_max_length

logger = logging.getLogger(__name__)


@dataclass
class Corpus:
    """The sentences read from a file or dataset, with what was skipped."""

    sentences: List[str]
    source: str
    blank_lines: int = 0

    def to_dataset(self) -> Dataset:
        return Dataset.from_dict({"sentence": self.sentences})


GZIP_MAGIC = b"\x1f\x8b"
# C0/C1 control characters (Unicode category Cc) other than tab; those that are whitespace (CR, VT, FF, the
# separators 0x1c-0x1f, NEL) become a space, the rest (NUL, ESC, DEL, ...) are dropped.
_SPACE_CONTROLS = re.compile("[\x0b-\x0d\x1c-\x1f\x85]")
_OTHER_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def _is_blank_char(ch: str) -> bool:
    """Whitespace, or an "other" character (Unicode category C: controls, format characters such as a BOM or
    zero-width space, private-use and unassigned code points)."""
    return ch.isspace() or unicodedata.category(ch)[0] == "C"


def clean_line(text: str) -> str:
    """A line without its control characters (tab kept inside the line) and without leading/trailing whitespace or
    other category-C characters (a BOM, zero-width spaces); "" when nothing else is left."""
    if _OTHER_CONTROLS.search(text):
        text = _OTHER_CONTROLS.sub("", text)
    if _SPACE_CONTROLS.search(text):
        text = _SPACE_CONTROLS.sub(" ", text)
    text = text.strip()
    start, end = 0, len(text)
    while start < end and _is_blank_char(text[start]):
        start += 1
    while end > start and _is_blank_char(text[end - 1]):
        end -= 1
    return text[start:end]


def _check_max_sentences(max_sentences: Optional[int]) -> None:
    if max_sentences is None:
        return
    if isinstance(max_sentences, bool) or not isinstance(max_sentences, numbers.Integral):
        raise TypeError(f"--max_train_samples must be an int >= 1, got {max_sentences!r}")
    if max_sentences < 1:
        raise ValueError(f"--max_train_samples must be >= 1, got {max_sentences}")


def _check_corpus_file(path: Path) -> bool:
    """Whether ``path`` (an existing file or a clear error) is to be read as gzip."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass a .txt or .gz file with one sentence per line")
    if not path.is_file():
        raise FileNotFoundError(f"training corpus {str(path)!r} not found; pass --train_file with a .txt or .gz file")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    compressed = path.suffix.lower() == ".gz"
    if compressed and magic and magic != GZIP_MAGIC:
        raise ValueError(f"{path} is not gzip-compressed: rename it to .txt or compress it")
    return compressed


def read_corpus(path: Union[str, Path], max_sentences: Optional[int] = None) -> Corpus:
    """Read one sentence per line from a UTF-8 ``.txt`` or gzip ``.gz`` file.

    Control characters (NUL and the like) are removed; lines left blank are skipped and counted. A folder, a file
    that is no gzip but named ``.gz``, a truncated gzip, an undecodable line or a file with no sentence raises an
    error naming the file (and line) and the fix.
    """
    _check_max_sentences(max_sentences)
    path = Path(path)
    compressed = _check_corpus_file(path)
    opener = gzip.open if compressed else open
    sentences: List[str] = []
    blank = controls_only = 0
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    hint = "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    if number == 1 and not compressed and raw.startswith(GZIP_MAGIC):
                        hint = "it looks gzip-compressed: name it .gz"
                    raise ValueError(
                        f"{path}: line {number} is not valid UTF-8 ({error.reason} at byte {error.start}); {hint}"
                    ) from None
                line = clean_line(text)
                if not line:
                    blank += 1
                    controls_only += bool(text.strip())
                    continue
                sentences.append(line)
                if max_sentences is not None and len(sentences) >= max_sentences:
                    break
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(f"{path} is a truncated or corrupt gzip file ({error}): copy it again") from None
    if not sentences:
        raise ValueError(f"{path}: no sentence found ({blank} blank lines); the corpus needs one sentence per line")
    if blank:
        if controls_only:
            logger.warning("%s: skipped %d blank lines (%d of them only control characters such as NUL)", path, blank,
                           controls_only)
        else:
            logger.warning("%s: skipped %d blank lines", path, blank)
    return Corpus(sentences, str(path), blank)


def load_corpus(name_or_path: str, max_sentences: Optional[int] = None, text_column: str = "text") -> Corpus:
    """A local file (see ``read_corpus``) or a Hub dataset name (its ``train`` split, column ``text_column``)."""
    _check_max_sentences(max_sentences)
    if Path(name_or_path).exists() or Path(name_or_path).suffix.lower() in (".txt", ".gz"):
        return read_corpus(name_or_path, max_sentences)
    from datasets import load_dataset

    split = "train" if max_sentences is None else f"train[:{max_sentences}]"
    dataset = load_dataset(name_or_path, split=split)
    if text_column not in dataset.column_names:
        raise ValueError(f"dataset {name_or_path!r} has no column {text_column!r}; columns: {dataset.column_names}")
    sentences, blank = [], 0
    for text in dataset[text_column]:
        text = clean_line(text or "")
        if text:
            sentences.append(text)
        else:
            blank += 1
    if not sentences:
        raise ValueError(f"dataset {name_or_path!r}: column {text_column!r} holds no sentence")
    return Corpus(sentences, name_or_path, blank)


class TwoViewCollator:
    """Tokenise a batch and stack it twice (rows ``[:B]`` first, ``[B:]`` second), right-padded to its longest row.

    Training examples (``{"sentence": ...}``): both halves are the same B sentences; the two views differ only by
    the dropout masks of the forward pass (SimCSE); they are truncated at ``max_length``. Evaluation examples
    (``{"sentence1", "sentence2", "score"}``, STS pairs): the halves are the pairs' first and second sentences,
    truncated only at ``pair_max_length`` (default: the tokenizer's limit; pass the model's ``max_input_length`` so
    the pairs are read as ``encode`` reads them), and ``labels`` holds the gold scores.
    """

    def __init__(self, tokenizer, max_length: int = 32, pair_max_length: Optional[int] = None):
        if max_length is not None:  # None: the tokenizer's own limit
            check_max_length(max_length, tokenizer)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pair_max_length = pair_max_length

    def _tokenize(self, sentences: List[str], max_length: Optional[int]) -> Dict[str, torch.Tensor]:
        batch = self.tokenizer(
            sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt", padding_side="right"
        )
        return {key: value for key, value in batch.items() if key in ("input_ids", "attention_mask", "token_type_ids")}

    def __call__(self, examples: Sequence[Dict[str, str]]) -> Dict[str, torch.Tensor]:
        if examples and "sentence1" in examples[0]:
            pairs = [e["sentence1"] for e in examples] + [e["sentence2"] for e in examples]
            batch = self._tokenize(pairs, self.pair_max_length)
            batch["labels"] = torch.tensor([float(e["score"]) for e in examples])
            return batch
        batch = self._tokenize([example["sentence"] for example in examples], self.max_length)
        return {key: torch.cat([value, value]) for key, value in batch.items()}
