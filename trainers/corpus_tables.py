"""Local corpora with columns: a .jsonl/.json/.csv/.tsv/.parquet table read through its ``datasets`` builder, the
sentence column named by ``--text_column``."""

from pathlib import Path
from typing import List, Optional

from datasets import IterableDataset

from .errors import error_line

# Local corpora with columns (--text_column names the sentence column): suffix -> datasets builder and its options.
TABLE_FORMATS = {".jsonl": ("json", {}), ".json": ("json", {}), ".csv": ("csv", {}), ".tsv": ("csv", {"delimiter": "\t"}),
                 ".parquet": ("parquet", {})}


def table_format(path: Path) -> Optional[str]:
    """The TABLE_FORMATS suffix of ``path`` (a trailing .gz ignored: datasets decompresses), None for text."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in TABLE_FORMATS else None


def table_dataset(files: List[Path], text_column: str, streaming: bool, cache_dir: Optional[str]):
    """A local .jsonl/.csv/.tsv/.parquet corpus through its datasets builder; its ``text_column`` must exist."""
    from datasets import load_dataset

    builder, options = TABLE_FORMATS[table_format(files[0])]
    try:
        dataset = load_dataset(builder, data_files=[str(path) for path in files], split="train", streaming=streaming,
                               cache_dir=cache_dir, **options)
    except Exception as error:  # noqa: BLE001  (datasets raises many kinds for a malformed table)
        raise ValueError(f"{files[0]}: not a readable {table_format(files[0])[1:]} table ({error_line(error)})") from None
    columns = column_names(dataset)
    if text_column not in columns:
        raise ValueError(f"{files[0]} has no column {text_column!r} (columns: {', '.join(columns)}); pass "
                         "--text_column with the sentence column")
    return dataset


def column_names(dataset) -> List[str]:
    """The columns of a dataset; a streamed csv knows them only from its first row."""
    columns = dataset.column_names or list(dataset.features or {})
    if not columns and isinstance(dataset, IterableDataset):
        columns = [key for row in dataset.take(1) for key in row]
    return columns


