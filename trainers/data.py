"""Training data: one sentence per line (.txt or .gz files), a sentence column of a local .jsonl/.csv/.tsv/.parquet
table or of a Hub dataset, through ``datasets``; and the two-view collator.

A corpus is converted once into ``datasets``' memory-mapped Arrow cache (its text loader, then a cached cleaning
pass), so memory does not grow with its size and the processes of a run share the cache; ``streaming=True`` reads
it as it trains (an ``IterableDataset`` with a shuffle buffer) and converts nothing.
"""

import glob
import gzip
import hashlib
import json
import logging
import numbers
import re
import reprlib
import unicodedata
import zlib
from collections.abc import Iterator, Sequence
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Features, IterableDataset, Value

from .collation import EpochShuffled, TwoViewCollator  # noqa: F401  (re-exported: their home was here)
from .corpus_tables import (
    GZIP_MAGIC,
    TABLE_FORMATS,
    check_text,
    column_names,
    content_key,
    table_dataset,
    table_format,
)

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".gz")
# A warning when more than this share of the first DUPLICATE_SAMPLE sentences repeat an earlier one.
DUPLICATE_SAMPLE, DUPLICATE_SHARE = 100_000, 0.5
# The cleaning rule, as data (its cache key hashes these): C0/C1 control characters (Unicode category Cc) other than
# tab; those that are whitespace (CR, VT, FF, the separators 0x1c-0x1f, NEL) become a space, the rest (NUL, ESC,
# DEL, ...) are dropped; then whitespace and characters of the TRIMMED_CATEGORY are trimmed from both ends.
_SPACE_CONTROLS = re.compile("[\x0b-\x0d\x1c-\x1f\x85]")
_OTHER_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
TRIMMED_CATEGORY = "C"  # "other": controls, format characters such as a BOM or zero-width space, private use


def _is_blank_char(ch: str) -> bool:
    """Whitespace, or a character of the TRIMMED_CATEGORY."""
    return ch.isspace() or unicodedata.category(ch)[0] == TRIMMED_CATEGORY


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



class CorpusError(ValueError):
    """A problem of the corpus files (a bad line, a truncated gzip), named with its file (and line); a streamed
    corpus can raise it during training."""


SKIPPED_BLANK, SKIPPED_CONTROLS = 1, 2  # the "skipped" codes of the cleaning pass (0: kept)
# Rows per Arrow record batch (and per cleaning batch) of the converted corpus: few batches, so opening a large
# cached corpus touches few pages of its memory map (datasets' default, 1,000 rows, touched ~300 MB at 5M lines).
WRITER_BATCH_SIZE = 100_000
CLEANED_FEATURES = Features({"sentence": Value("string"), "skipped": Value("int8")})


def _check_max_sentences(max_sentences: int | None) -> None:
    if max_sentences is None:
        return
    if isinstance(max_sentences, bool) or not isinstance(max_sentences, numbers.Integral):
        raise TypeError(f"--max_train_samples must be an int >= 1, got {max_sentences!r}")
    if max_sentences < 1:
        raise ValueError(f"--max_train_samples must be >= 1, got {max_sentences}")


def _check_corpus_file(path: Path) -> bool:
    """Whether ``path`` (an existing file or a clear error) is gzip-compressed."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass a .txt or .gz file with one sentence per line (or a glob "
                                "such as folder/*.txt.gz)")
    if not path.is_file():
        raise FileNotFoundError(f"training corpus {str(path)!r} not found; pass --train_file with a .txt or .gz file")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if path.suffix.lower() == ".gz" and magic and magic != GZIP_MAGIC:
        raise ValueError(f"{path} is not gzip-compressed: rename it to .txt or compress it")
    return magic == GZIP_MAGIC  # as datasets reads it: gzip by its content, whatever the name


def _is_glob(part: str) -> bool:
    return any(ch in part for ch in "*?[")


def looks_like_files(name: str) -> bool:
    """Whether ``--train_file`` names local files (paths, comma-separated lists or globs) rather than a Hub dataset."""
    parts = [part.strip() for part in name.split(",") if part.strip()]
    return any(Path(part).exists() or _is_glob(part) or Path(part).suffix.lower() in (*TEXT_SUFFIXES, *TABLE_FORMATS)
               for part in parts)


def corpus_files(name: str) -> list[Path]:
    """The files of ``--train_file``: one path, a comma-separated list, or globs (each sorted); each checked."""
    files: list[Path] = []
    for part in (part.strip() for part in name.split(",")):
        if not part:
            continue
        if _is_glob(part):
            matches = sorted(glob.glob(part, recursive=True))
            if not matches:
                raise FileNotFoundError(f"--train_file pattern {part!r} matches no file")
            files.extend(Path(match) for match in matches)
        else:
            files.append(Path(part))
    if not files:
        raise FileNotFoundError(f"--train_file {name!r} names no file")
    for path in files:
        _check_corpus_file(path)
    kinds = {(table_format(path) or ".txt")[1:] for path in files}
    if len(kinds) > 1:
        raise ValueError(f"--train_file mixes corpus formats ({', '.join(sorted(kinds))}): pass files of one format")
    for path in files:
        check_text(path, "a UTF-8 text file with one sentence per line" if kinds == {"txt"}
                   else f"a UTF-8 .{next(iter(kinds))} table")
    return files


def file_lines(path: Path) -> Iterator[tuple[int, str, int]]:
    """``(line number, cleaned line, skipped code)`` for every line of a UTF-8 ``.txt`` or gzip ``.gz`` file, lines
    ending at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (as ``datasets``' text loader reads them); an undecodable line or a
    truncated gzip raises an error naming the file (and line) and the fix."""
    compressed = _check_corpus_file(path)
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise CorpusError(
                        f"{path}: line {number} is not valid UTF-8 ({error.reason} at byte {error.start}); re-encode "
                        "the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    ) from None
                text = text[:-2] if text.endswith("\r\n") else text.rstrip("\n")
                for piece in text.split("\r"):
                    line = clean_line(piece)
                    yield number, line, _skip_code(piece, line)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise CorpusError(f"{path} is a truncated or corrupt gzip file ({error}): copy it again") from None


def _skip_code(text: str, line: str) -> int:
    """0 for a kept line, else whether ``text`` was blank or held only control characters."""
    return 0 if line else (SKIPPED_CONTROLS if text.strip() else SKIPPED_BLANK)


def _clean_batch(texts: list[str | None], rows: list[int], source: str, column: str) -> dict[str, list]:
    """Cleaned sentences and skip codes of a batch of cells (None, a missing cell, is blank); a cell holding
    anything but text (a number, a list, an object) raises a CorpusError naming ``source``, its row (``rows``: the
    0-based indices) and ``column``."""
    sentences, skipped = [], []
    for i, text in enumerate(texts):
        if text is None:
            text = ""
        elif not isinstance(text, str):
            raise CorpusError(f"{source}: row {rows[i] + 1} of column {column!r} holds {reprlib.repr(text)} of type "
                              f"{type(text).__name__}, not text; pass --text_column with the sentence column")
        line = clean_line(text)
        sentences.append(line)
        skipped.append(_skip_code(text, line))
    return {"sentence": sentences, "skipped": skipped}


def _kept_only(batch: dict[str, list]) -> dict[str, list]:
    """A cleaned batch without its skipped rows (streaming drops them as it reads)."""
    return {"sentence": [s for s, code in zip(batch["sentence"], batch["skipped"]) if not code]}


# What a streamed corpus offers where the whole corpus would be read (SARCSE's token counts): its first sentences.
STREAM_SAMPLE = 100_000


class SentenceColumn(SequenceABC):
    """The ``sentence`` column of a converted corpus as a read-only sequence of str, read from the memory-mapped
    Arrow file as needed (iteration goes in batches); nothing is copied into Python memory up front."""

    def __init__(self, dataset: Dataset, batch_size: int = 4096):
        self.dataset, self.batch_size = dataset, batch_size

    def __len__(self) -> int:
        return self.dataset.num_rows

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self.dataset[index]["sentence"])
        return self.dataset[index]["sentence"]

    def __iter__(self) -> Iterator[str]:
        for batch in self.dataset.iter(batch_size=self.batch_size):
            yield from batch["sentence"]


@dataclass
class Corpus:
    """A training corpus: ``dataset`` (column ``sentence``) is a memory-mapped ``datasets.Dataset`` or, streamed, an
    ``IterableDataset``; ``blank_lines`` / ``control_lines`` count the skipped lines (None while streaming: the
    stream counts them as it reads)."""

    dataset: Dataset | IterableDataset
    source: str
    blank_lines: int | None = 0
    control_lines: int | None = 0

    @classmethod
    def from_sentences(cls, sentences: Sequence[str], source: str = "sentences") -> "Corpus":
        return cls(Dataset.from_dict({"sentence": list(sentences)}), source)

    @property
    def streaming(self) -> bool:
        return isinstance(self.dataset, IterableDataset)

    @property
    def num_sentences(self) -> int | None:
        return None if self.streaming else self.dataset.num_rows

    @property
    def sentences(self) -> Sequence[str]:
        """Every sentence (a lazy view; a streamed corpus: its first ``STREAM_SAMPLE`` sentences, read on first
        use)."""
        if self.streaming:
            return _StreamHead(self)
        return SentenceColumn(self.dataset)

    def head(self, n: int) -> list[str]:
        if not self.streaming:
            return self.dataset[:n]["sentence"]
        return [example["sentence"] for example in self.dataset.take(n)]


class _StreamHead(SequenceABC):
    """A streamed corpus's first ``STREAM_SAMPLE`` sentences, read when first asked for (a method that needs no
    corpus statistics never reads them)."""

    def __init__(self, corpus: "Corpus"):
        self.corpus, self._sentences = corpus, None

    def _read(self) -> list[str]:
        if self._sentences is None:
            self._sentences = self.corpus.head(STREAM_SAMPLE)
        return self._sentences

    def __len__(self) -> int:
        return len(self._read())

    def __getitem__(self, index):
        return self._read()[index]


def _stream_files(files: list[str]) -> Iterator[dict[str, str]]:
    """The sentences of ``files`` in order (one shard per file), the skipped lines logged per file."""
    for name in files:
        blank = controls = 0
        for _, line, code in file_lines(Path(name)):
            if code:
                blank += 1
                controls += code == SKIPPED_CONTROLS
                continue
            yield {"sentence": line}
        _log_skipped(name, blank, controls)


def _log_skipped(source: str, blank: int, controls: int) -> None:
    if controls:
        logger.warning("%s: skipped %d blank lines (%d of them only control characters such as NUL)", source, blank,
                       controls)
    elif blank:
        logger.warning("%s: skipped %d blank lines", source, blank)


def _raise_file_error(files: list[Path], error: BaseException) -> None:
    """The first problem of ``files`` as our own error (``datasets`` reports a bad byte without its file and line);
    ``error`` itself where none is found."""
    for path in files:
        for _ in file_lines(path):
            pass
    raise error


def cleaning_rule_key() -> str:
    """A hash of the cleaning rule (its patterns, trimmed category and the Unicode version that categories come
    from): a changed rule cleans the corpus again, where datasets' cache would reuse the old cleaning."""
    rule = [_OTHER_CONTROLS.pattern, _SPACE_CONTROLS.pattern, TRIMMED_CATEGORY, unicodedata.unidata_version]
    return hashlib.blake2b(json.dumps(rule).encode(), digest_size=8).hexdigest()


def _converted_files(files: list[Path], cache_dir: str | None) -> Dataset:
    from datasets import load_dataset
    from datasets.exceptions import DatasetGenerationError

    if all(path.stat().st_size == 0 for path in files):  # datasets fails on it with a schema error
        raise ValueError(f"{files[0]}: no sentence found (an empty file); the corpus needs one sentence per line")
    try:
        # keyed by the files' content: datasets' own key is the path and mtime, which cp -p / rsync -t keep
        return load_dataset("text", name=f"sentcse-{content_key(files)}", data_files=[str(path) for path in files],
                            split="train", cache_dir=cache_dir, writer_batch_size=WRITER_BATCH_SIZE)
    except (DatasetGenerationError, UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        _raise_file_error(files, error)


def _hub_dataset(name: str, text_column: str, streaming: bool, cache_dir: str | None):
    from datasets import load_dataset

    dataset = load_dataset(name, split="train", streaming=streaming, cache_dir=cache_dir)
    columns = dataset.column_names
    if columns is not None and text_column not in columns:
        raise ValueError(f"dataset {name!r} has no column {text_column!r}; columns: {columns}")
    return dataset


def load_corpus(name_or_path: str, max_sentences: int | None = None, text_column: str = "text",
                streaming: bool = False, shuffle_buffer_size: int = 10_000, seed: int = 42,
                cache_dir: str | None = None) -> Corpus:
    """The training corpus: local files (one path, a comma-separated list or globs of UTF-8 ``.txt`` / gzip ``.gz``
    files, one sentence per line) or a Hub dataset name (its ``train`` split, column ``text_column``).

    Converted (default): ``datasets`` reads the files into its Arrow cache once (``cache_dir``, default its own),
    and a cached pass removes control characters and skips (and counts) the lines left blank; later runs and the
    other processes of a run read the cache. ``streaming=True``: read as training goes, shuffled in a buffer of
    ``shuffle_buffer_size`` sentences (reseeded each epoch); the first sentence is read here, so an empty corpus is
    an error before training. The first ``max_sentences`` sentences only, if given.

    A folder, a missing file or a pattern that matches none, a file named ``.gz`` that is no gzip, a file that is
    mostly control characters (judged on a sample, whatever its size), a truncated gzip, an undecodable line, a table
    cell that is no text or a corpus with no sentence raises an error naming the file (and line or row) and the fix.
    """
    _check_max_sentences(max_sentences)
    if isinstance(shuffle_buffer_size, bool) or not isinstance(shuffle_buffer_size, numbers.Integral) \
            or shuffle_buffer_size < 1:
        raise ValueError(f"--shuffle_buffer_size must be an int >= 1, got {shuffle_buffer_size!r}")
    local = looks_like_files(name_or_path)
    files = corpus_files(name_or_path) if local else None
    table = local and table_format(files[0]) is not None
    if local and not table and text_column != "text":
        raise ValueError(f"--text_column {text_column!r} names a column, and {files[0]} is a .txt/.gz file "
                         "(one sentence per line, no columns): drop --text_column, "
                         "or pass a .jsonl/.csv/.tsv/.parquet corpus")
    if streaming:
        if local and not table:
            dataset = IterableDataset.from_generator(_stream_files, gen_kwargs={"files": [str(f) for f in files]})
        else:
            dataset = (table_dataset(files, text_column, True, cache_dir) if table
                       else _hub_dataset(name_or_path, text_column, True, cache_dir))
            dataset = dataset.map(_clean_batch, batched=True, input_columns=[text_column], with_indices=True,
                                  fn_kwargs={"source": name_or_path, "column": text_column},
                                  remove_columns=column_names(dataset)).map(_kept_only, batched=True,
                                                                           remove_columns=["skipped"])
        if max_sentences is not None:
            dataset = dataset.take(max_sentences)
        corpus = Corpus(dataset.shuffle(seed=seed, buffer_size=shuffle_buffer_size), name_or_path, None, None)
        if not list(dataset.take(1)):
            raise ValueError(f"{name_or_path}: no sentence found; the corpus needs one sentence per line")
        return corpus
    if table:
        raw = table_dataset(files, text_column, False, cache_dir)
    else:
        raw = _converted_files(files, cache_dir) if local else _hub_dataset(name_or_path, text_column, False, cache_dir)
    column = "text" if local and not table else text_column
    cleaned = raw.map(_clean_batch, batched=True, input_columns=[column], with_indices=True,
                      fn_kwargs={"source": name_or_path, "column": column}, remove_columns=raw.column_names,
                      features=CLEANED_FEATURES, batch_size=WRITER_BATCH_SIZE, writer_batch_size=WRITER_BATCH_SIZE,
                      desc="cleaning the corpus", new_fingerprint=f"{raw._fingerprint}-clean-{cleaning_rule_key()}")
    skipped = cleaned.data.column("skipped").to_numpy()  # int8: one byte a line
    blank, controls = int((skipped != 0).sum()), int((skipped == SKIPPED_CONTROLS).sum())
    if blank == 0:
        dataset = cleaned.remove_columns("skipped")
    else:
        dataset = cleaned.filter(lambda codes: [code == 0 for code in codes], batched=True, input_columns=["skipped"],
                                 batch_size=WRITER_BATCH_SIZE, writer_batch_size=WRITER_BATCH_SIZE,
                                 desc="skipping blank lines").remove_columns("skipped")
    if dataset.num_rows == 0:
        raise ValueError(f"{name_or_path}: no sentence found ({blank} blank lines); "
                         "the corpus needs one sentence per line")
    if max_sentences is not None and max_sentences < dataset.num_rows:
        dataset = dataset.select(range(max_sentences))
    _log_skipped(name_or_path, blank, controls)
    _warn_duplicates(name_or_path, dataset)
    return Corpus(dataset, name_or_path, blank, controls)


def duplicate_share(dataset: Dataset, sample: int = DUPLICATE_SAMPLE) -> float:
    """The share of the first ``sample`` sentences that repeat an earlier one."""
    sentences = dataset.select(range(min(sample, dataset.num_rows)))["sentence"]
    return 1.0 - len(set(sentences)) / max(len(sentences), 1)


def _warn_duplicates(source: str, dataset: Dataset) -> None:
    share = duplicate_share(dataset)
    if share > DUPLICATE_SHARE:
        logger.warning("%s: %.0f%% of the first %d sentences repeat an earlier one; a batch's repeated sentences are "
                       "negatives equal to the positive, which flattens the contrastive loss: deduplicate the corpus",
                       source, 100 * share, min(DUPLICATE_SAMPLE, dataset.num_rows))
