"""Local data files: the table formats (a corpus's sentence column, ``--dev_file``'s scored pairs) read exactly
through their ``datasets`` builders, the content key of a converted file's cache, and the check that a file is text
at all."""

import csv
import gzip
import hashlib
import zlib
from pathlib import Path

from .errors import error_line

# Local tables: suffix -> datasets builder and its options. Cells are read as written: a .tsv has no quoting (a `"`
# is text, as in SentEval's files), and no cell becomes a missing value ("NA", "null", "" stay text).
_EXACT_CSV = {"na_filter": False, "skip_blank_lines": True}
TABLE_FORMATS = {".jsonl": ("json", {}), ".json": ("json", {}), ".csv": ("csv", _EXACT_CSV),
                 ".tsv": ("csv", {**_EXACT_CSV, "delimiter": "\t", "quoting": csv.QUOTE_NONE}),
                 ".parquet": ("parquet", {})}
BINARY_FORMATS = (".parquet",)  # not text: no control-character check

GZIP_MAGIC = b"\x1f\x8b"
# Bytes that are no text: C0 controls other than tab, LF and CR (line ends), and DEL.
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])
# A file is judged on TEXT_SAMPLE_BLOCKS blocks spread over it (a gzip file: its first TEXT_SAMPLE_BYTES), so the
# check costs milliseconds whatever its size; more than MAX_CONTROL_SHARE control bytes is no text.
TEXT_SAMPLE_BYTES, TEXT_SAMPLE_BLOCKS, MAX_CONTROL_SHARE = 1 << 20, 16, 0.5


def table_format(path: Path) -> str | None:
    """The TABLE_FORMATS suffix of ``path`` (a trailing .gz ignored: datasets decompresses), None for text."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in TABLE_FORMATS else None


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _text_sample(path: Path) -> bytes:
    if is_gzip(path):
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(TEXT_SAMPLE_BYTES)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            return b""  # a truncated gzip: reading it names the problem
    size = path.stat().st_size
    block = TEXT_SAMPLE_BYTES // TEXT_SAMPLE_BLOCKS
    with open(path, "rb") as handle:
        if size <= TEXT_SAMPLE_BYTES:
            return handle.read()
        sample = []
        for i in range(TEXT_SAMPLE_BLOCKS):
            handle.seek(i * (size - block) // (TEXT_SAMPLE_BLOCKS - 1))
            sample.append(handle.read(block))
        return b"".join(sample)


def check_text(path: Path, what: str) -> None:
    """Raise a ValueError naming ``path`` and its share of control bytes when it is mostly control characters (a
    NUL-filled file, a disk image): read as lines, such a file is one line of its whole size."""
    if table_format(path) in BINARY_FORMATS:
        return
    sample = _text_sample(path)
    if not sample:
        return
    share = 1 - len(sample.translate(None, CONTROL_BYTES)) / len(sample)
    if share > MAX_CONTROL_SHARE:
        raise ValueError(f"{path}: not text: {share:.0%} of its bytes are control characters such as NUL (in a "
                         f"{len(sample) / 2**20:.2g} MiB sample); pass {what}")


def content_key(files: list[Path]) -> str:
    """A short hash of the files' names and bytes (about 1 s per GB): the cache key of their conversion
    (``datasets``' own is the path and mtime, which cp -p / rsync -t keep)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in files:
        digest.update(str(path.resolve()).encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _header(path: Path, options: dict) -> list[str] | None:
    """The column names of a .csv/.tsv file's first row, read as the builder reads it (None for an empty file)."""
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        quoting = options.get("quoting", csv.QUOTE_MINIMAL)
        return next(csv.reader(handle, delimiter=options.get("delimiter", ","), quoting=quoting), None)


def read_table(files: list[Path], streaming: bool = False, cache_dir: str | None = None):
    """Local table files of one format through their datasets builder, every .csv/.tsv cell a string as written;
    converted (not streamed) tables are cached by their content. A ValueError names a file that is no table."""
    from datasets import Features, Value, load_dataset

    suffix = table_format(files[0])
    builder, options = TABLE_FORMATS[suffix]
    options = dict(options)
    try:
        if builder == "csv":
            # typed as strings up front: pandas would guess a type per chunk of rows ("1" an int, "1.5" a float)
            header = _header(files[0], options)
            if header:
                options["features"] = Features({name: Value("string") for name in header})
        if not streaming:
            options["name"] = f"sentcse-{content_key(files)}"
        return load_dataset(builder, data_files=[str(path) for path in files], split="train", streaming=streaming,
                            cache_dir=cache_dir, **options)
    except Exception as error:  # noqa: BLE001  (datasets raises many kinds for a malformed table)
        raise ValueError(f"{files[0]}: not a readable {suffix[1:]} table ({error_line(error)})") from None


def table_dataset(files: list[Path], text_column: str, streaming: bool, cache_dir: str | None):
    """A local .jsonl/.csv/.tsv/.parquet corpus (``read_table``); its ``text_column`` must exist."""
    dataset = read_table(files, streaming, cache_dir)
    columns = column_names(dataset)
    if text_column not in columns:
        raise ValueError(f"{files[0]} has no column {text_column!r} (columns: {', '.join(columns)}); pass "
                         "--text_column with the sentence column")
    return dataset


def column_names(dataset) -> list[str]:
    """The columns of a dataset; a streamed csv knows them only from its first row."""
    from datasets import IterableDataset

    columns = dataset.column_names or list(dataset.features or {})
    if not columns and isinstance(dataset, IterableDataset):
        columns = [key for row in dataset.take(1) for key in row]
    return columns
