"""Reading STS data: SentEval's files (STS12-16 folders, STS-B csv, SICK txt) or the Hub's ``mteb/*-sts`` sets."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..corpus_tables import TABLE_FORMATS, check_text, read_table, table_format
from ..errors import error_line
from .tasks import DEFAULT_TASKS, EXPECTED_N_PAIRS, HUB_DATASETS, STS_SUBSETS, TEST_TASKS, canonical_task

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Files per task: (folder candidates relative to sts_dir, file names). The first candidate folder is SentEval's
# layout; the others let a folder holding just the files (e.g. examples/data/stsb/) serve as a source.
_STSB_DIRS = (("STS", "STSBenchmark"), ("STSBenchmark",), ())
_SICK_DIRS = (("SICK",), ())
_SPLIT_FILES: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "STSBenchmark-train": (_STSB_DIRS, "sts-train.csv"),
    "STSBenchmark-dev": (_STSB_DIRS, "sts-dev.csv"),
    "STSBenchmark": (_STSB_DIRS, "sts-test.csv"),
    "SICKRelatedness-train": (_SICK_DIRS, "SICK_train.txt"),
    "SICKRelatedness-dev": (_SICK_DIRS, "SICK_trial.txt"),
    "SICKRelatedness": (_SICK_DIRS, "SICK_test_annotated.txt"),
}

_STS_DIR_HELP = (
    "Pass the SentEval data folder with --sts_dir (or sts_dir=..., or set SENTCSE_STS_DIR to it, or SENTCSE_SHARED "
    "to the folder holding data/senteval): it must hold STS/STS12-en-test ... STS/STS16-en-test, "
    "STS/STSBenchmark/sts-{train,dev,test}.csv and SICK/SICK_{train,trial,test_annotated}.txt (a folder with just "
    "sts-dev.csv / sts-test.csv, such as examples/data/stsb, serves the STS-B tasks only)."
)


def default_sts_dir() -> Path | None:
    """``$SENTCSE_STS_DIR``, else ``$SENTCSE_SHARED/data/senteval``, else None (no folder is assumed)."""
    if os.environ.get("SENTCSE_STS_DIR"):
        return Path(os.environ["SENTCSE_STS_DIR"]).expanduser()
    if os.environ.get("SENTCSE_SHARED"):
        return Path(os.environ["SENTCSE_SHARED"]).expanduser() / "data" / "senteval"
    return None


@dataclass
class StsPairs:
    """One scored sub-dataset: ``sentences1[i]``, ``sentences2[i]``, gold ``scores[i]``."""

    name: str
    sentences1: list[str]
    sentences2: list[str]
    scores: np.ndarray

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if not (len(self.sentences1) == len(self.sentences2) == len(self.scores)):
            raise ValueError(
                f"{self.name}: {len(self.sentences1)} / {len(self.sentences2)} sentences for {len(self.scores)} scores"
            )

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class StsTask:
    """A task: its sub-datasets (one for STS-B / SICK-R) and where they were read from."""

    name: str
    subsets: dict[str, StsPairs]
    source: str

    @property
    def n_pairs(self) -> int:
        return sum(len(s) for s in self.subsets.values())

    def concatenated(self) -> StsPairs:
        """All sub-datasets concatenated in order (the pairs the "all" setting scores)."""
        s1: list[str] = []
        s2: list[str] = []
        for sub in self.subsets.values():
            s1.extend(sub.sentences1)
            s2.extend(sub.sentences2)
        scores = np.concatenate([sub.scores for sub in self.subsets.values()]) if self.subsets else np.zeros(0)
        return StsPairs(self.name, s1, s2, scores)

    def unique_sentences(self) -> list[str]:
        """The task's distinct sentences, in first-seen order."""
        seen: dict[str, None] = {}
        for sub in self.subsets.values():
            for s in sub.sentences1:
                seen.setdefault(s, None)
            for s in sub.sentences2:
                seen.setdefault(s, None)
        return list(seen)


def _normalise(sentence: str) -> str:
    """SentEval splits on whitespace and SimCSE's batcher joins with single spaces: do the same."""
    return " ".join(sentence.split())


def _read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _missing(task: str, what: str, looked_in: Sequence[Path]) -> FileNotFoundError:
    where = ", ".join(str(p) for p in looked_in)
    return FileNotFoundError(f"STS task {task}: {what} not found (looked in: {where}). {_STS_DIR_HELP}")


def _find_file(task: str, sts_dir: Path, folders: Sequence[tuple[str, ...]], filename: str) -> Path:
    tried = []
    for parts in folders:
        folder = sts_dir.joinpath(*parts)
        tried.append(folder)
        if (folder / filename).is_file():
            return folder / filename
    raise _missing(task, filename, tried)


def _load_senteval_year(task: str, sts_dir: Path) -> StsTask:
    """STS12-16 as SentEval's STSEval.loadFile reads them: blank gold lines (unscored pairs) are skipped."""
    candidates = [sts_dir / "STS" / f"{task}-en-test", sts_dir / f"{task}-en-test"]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        raise _missing(task, f"folder {task}-en-test", candidates)
    subsets: dict[str, StsPairs] = {}
    for subset in STS_SUBSETS[task]:
        input_path = folder / f"STS.input.{subset}.txt"
        gold_path = folder / f"STS.gs.{subset}.txt"
        for p in (input_path, gold_path):
            if not p.is_file():
                raise _missing(task, p.name, [folder])
        inputs = _read_lines(input_path)
        gold = _read_lines(gold_path)
        if len(inputs) != len(gold):
            raise ValueError(f"{input_path} has {len(inputs)} lines but {gold_path} has {len(gold)}")
        s1, s2, scores = [], [], []
        for lineno, (line, g) in enumerate(zip(inputs, gold), start=1):
            if g.strip() == "":
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(f"{input_path}:{lineno}: expected 2 tab-separated sentences, got {len(fields)} fields")
            s1.append(_normalise(fields[0]))
            s2.append(_normalise(fields[1]))
            scores.append(float(g))
        subsets[subset] = StsPairs(subset, s1, s2, np.asarray(scores))
    return StsTask(task, subsets, str(folder))


def _load_senteval_split(task: str, sts_dir: Path) -> StsTask:
    folders, filename = _SPLIT_FILES[task]
    path = _find_file(task, sts_dir, folders, filename)
    s1, s2, scores = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        if task.startswith("STSBenchmark"):
            # genre, file, year, id, score, sentence1, sentence2[, sources...]; quotes are literal text.
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            idx_a, idx_b, idx_score = 5, 6, 4
        else:
            # pair_ID, sentence_A, sentence_B, relatedness_score, entailment_judgment; one header line.
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows, None)
            idx_a, idx_b, idx_score = 1, 2, 3
        n_fields = max(idx_a, idx_b, idx_score) + 1
        for lineno, row in enumerate(rows, start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < n_fields:
                raise ValueError(f"{path}: row {lineno} has {len(row)} fields, expected at least {n_fields}")
            s1.append(_normalise(row[idx_a]))
            s2.append(_normalise(row[idx_b]))
            scores.append(float(row[idx_score]))
    split = "test" if task in ("STSBenchmark", "SICKRelatedness") else task.rsplit("-", 1)[1]
    return StsTask(task, {split: StsPairs(split, s1, s2, np.asarray(scores))}, str(path))


def _load_hub(task: str, cache_dir: str | None = None) -> StsTask:
    """Load ``task`` from the Hugging Face Hub (``HUB_DATASETS``). Needs the network or a warm datasets cache."""
    if task not in HUB_DATASETS:
        raise ValueError(f"task {task} has no Hugging Face Hub source; available: {sorted(HUB_DATASETS)}")
    repo, split = HUB_DATASETS[task]
    import datasets

    try:
        ds = datasets.load_dataset(repo, split=split, cache_dir=cache_dir)
    except Exception as e:  # network errors, offline mode, missing dataset: one clear message
        raise RuntimeError(
            f"could not load {repo} (split {split!r}) for STS task {task} from the Hugging Face Hub: "
            f"{type(e).__name__}: {e}. Offline? Use the SentEval files instead (source='senteval', --sts_dir)."
        ) from e
    missing_cols = {"sentence1", "sentence2", "score"} - set(ds.column_names)
    if missing_cols:
        raise ValueError(f"{repo} lacks columns {sorted(missing_cols)} (has {ds.column_names})")
    if task == "SICKRelatedness":
        logger.warning(
            "%s[%s] is the whole SICK corpus (%d pairs), not SentEval's 4,927-pair test split: SICK-R is not "
            "comparable to the papers' figures", repo, split, len(ds)
        )
    s1 = [_normalise(s) for s in ds["sentence1"]]
    s2 = [_normalise(s) for s in ds["sentence2"]]
    scores = np.asarray(ds["score"], dtype=np.float64)
    subset = "all" if task in STS_SUBSETS else ("test" if task in TEST_TASKS else task.rsplit("-", 1)[1])
    return StsTask(task, {subset: StsPairs(subset, s1, s2, scores)}, f"hub:{repo}[{split}]")


_TASK_CACHE: dict[tuple[str, str, str], StsTask] = {}


def load_sts_task(
    task: str,
    sts_dir: str | Path | None = None,
    source: str = "senteval",
    cache: bool = True,
) -> StsTask:
    """Load one task (any name or alias in ``ALL_TASKS``) from a SentEval-layout folder or the Hub.

    ``sts_dir`` defaults to ``default_sts_dir()``; with neither, ``FileNotFoundError`` says how to give one. A
    missing folder or file raises ``FileNotFoundError`` naming it, where it was looked for and how to point
    elsewhere (``--sts_dir``). Loaded tasks are cached per (source, folder, task) unless ``cache=False``.
    """
    task = canonical_task(task)
    if source not in ("senteval", "hub"):
        raise ValueError(f"source must be 'senteval' or 'hub', got {source!r}")
    if source == "hub":
        key = ("hub", "", task)
    else:
        folder = Path(sts_dir).expanduser() if sts_dir is not None else default_sts_dir()
        if folder is None:
            raise FileNotFoundError(f"no STS data folder given for task {task}. {_STS_DIR_HELP}")
        sts_dir = folder.absolute()
        if not sts_dir.is_dir():
            raise FileNotFoundError(
                f"STS data folder {sts_dir} does not exist (needed for task {task}). {_STS_DIR_HELP}"
            )
        key = ("senteval", str(sts_dir.resolve()), task)
    if cache and key in _TASK_CACHE:
        return _TASK_CACHE[key]
    if source == "hub":
        loaded = _load_hub(task)
    elif task in STS_SUBSETS:
        loaded = _load_senteval_year(task, Path(sts_dir))
    else:
        loaded = _load_senteval_split(task, Path(sts_dir))
    expected = EXPECTED_N_PAIRS.get(task)
    if source == "senteval" and expected is not None and loaded.n_pairs != expected:
        logger.warning("%s from %s has %d pairs; SentEval's has %d", task, loaded.source, loaded.n_pairs, expected)
    if cache:
        _TASK_CACHE[key] = loaded
    return loaded


def available_tasks(sts_dir: str | Path | None, source: str = "senteval",
                    tasks: Sequence[str] = DEFAULT_TASKS) -> tuple[list[str], list[str]]:
    """``(found, missing)``: which of ``tasks`` the data have (each found task loaded and checked, so a malformed
    file fails here). A folder with none of them raises the FileNotFoundError of the first, which says where it
    looked."""
    found, missing = [], []
    for task in tasks:
        try:
            load_sts_task(task, sts_dir, source)
            found.append(task)
        except FileNotFoundError:
            missing.append(task)
    if not found:
        load_sts_task(tasks[0], sts_dir, source)
    return found, missing


DEV_FILE_TASK = "dev-file"  # the task name of --dev_file's pairs
PAIR_COLUMNS = ("sentence1", "sentence2", "score")


def load_pairs_file(name: str, split: str = "validation") -> StsTask:
    """Your own scored pairs as a task: a local table (``TABLE_FORMATS``: .tsv, .csv, .jsonl, .parquet; cells
    read as written), or a Hub dataset (its ``split``), with columns sentence1, sentence2, score (0-1 or 0-5, as
    sentence-transformers' ``stsb``). Every problem (a missing file or column, an empty or non-text sentence, a
    non-numeric score, fewer than 2 pairs, scores all equal) is a ValueError naming it (and its row, counted from 1
    below the header)."""
    import datasets

    path = Path(name).expanduser()
    local = table_format(path) is not None or path.exists()
    try:
        if local:
            if table_format(path) is None or not path.is_file():
                raise ValueError(f"--dev_file {name}: pass a {', '.join(sorted(TABLE_FORMATS))} file of scored pairs "
                                 f"(columns {', '.join(PAIR_COLUMNS)}) or a Hub dataset name")
            check_text(path, "a UTF-8 table of scored pairs")
            table = read_table([path])
        else:
            table = datasets.load_dataset(name, split=split)
    except ValueError as error:
        raise ValueError(str(error) if str(error).startswith("--dev_file") else f"--dev_file {error}") from None
    except Exception as error:  # noqa: BLE001  (a missing file, an unreachable Hub)
        raise ValueError(f"--dev_file {name}: could not be read ({error_line(error)})") from None
    missing = [column for column in PAIR_COLUMNS if column not in table.column_names]
    if missing:
        raise ValueError(f"--dev_file {name} has no column {', '.join(missing)} (columns: "
                         f"{', '.join(table.column_names)}); it needs {', '.join(PAIR_COLUMNS)}")
    first, second = (_sentences(name, column, table[column]) for column in PAIR_COLUMNS[:2])
    scores = np.asarray([_score(name, row, value) for row, value in enumerate(table["score"], start=1)])
    if len(scores) < 2:
        raise ValueError(f"--dev_file {name}: {len(scores)} pair(s); model selection needs at least 2")
    if np.ptp(scores) == 0:
        raise ValueError(f"--dev_file {name}: every pair scores {scores[0]:g}; scores that are all equal cannot "
                         "rank a model (Spearman is undefined): pass pairs with different scores")
    pairs = StsPairs(path.name if local else name, first, second, scores)
    return StsTask(DEV_FILE_TASK, {pairs.name: pairs}, str(name))


def _sentences(name: str, column: str, values) -> list[str]:
    """A pair column's cells, each a non-empty string (an empty cell would be scored as a pair all the same)."""
    for row, value in enumerate(values, start=1):
        if value is None or isinstance(value, str) and not value.strip():
            raise ValueError(f"--dev_file {name}: row {row} has an empty {column}; every pair needs two sentences")
        if not isinstance(value, str):
            raise ValueError(f"--dev_file {name}: row {row} has {value!r} as {column}, not text")
    return list(values)


def _score(name: str, row: int, value) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        score = float("nan")
    if isinstance(value, bool) or not np.isfinite(score):
        raise ValueError(f"--dev_file {name}: row {row} has the score {value!r}, not a finite number")
    return score


def clear_cache() -> None:
    """Forget every loaded task."""
    _TASK_CACHE.clear()


def sts_pairs_dataset(task: StsTask) -> datasets.Dataset:
    """``task``'s pairs (its sub-datasets concatenated in order) as a ``datasets.Dataset`` with columns
    ``sentence1``, ``sentence2`` (str) and ``score`` (float): the ``eval_dataset`` the Trainer scores."""
    if not isinstance(task, StsTask):
        raise TypeError(f"sts_pairs_dataset takes an StsTask (see load_sts_task), got {type(task).__name__}")
    import datasets

    pairs = task.concatenated()
    text = datasets.Value("string")
    features = datasets.Features({"sentence1": text, "sentence2": text, "score": datasets.Value("float64")})
    return datasets.Dataset.from_dict(
        {"sentence1": pairs.sentences1, "sentence2": pairs.sentences2, "score": pairs.scores.tolist()},
        features=features,
    )
