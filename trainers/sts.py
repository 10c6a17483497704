"""STS evaluation in the SentEval / SimCSE protocol (METHODS.md section 4).

Tasks (``ALL_TASKS``):

- ``STS12`` ... ``STS16``: SemEval STS test sets in SimCSE's "all" setting: ONE Spearman correlation over the
  pairs of every sub-dataset of the year concatenated (not the mean of the per-subset correlations; those are
  kept in ``TaskResult.subsets`` so the two can be compared).
- ``STSBenchmark`` (its test split), ``SICKRelatedness`` (its test split).
- ``STSBenchmark-dev``: the only split used for model selection. ``evaluate_stsb_dev(model)`` is the cheap
  entry point the trainer calls every ``eval_steps``; its data are loaded once and cached.
- Also loadable, for counting and other uses: ``STSBenchmark-train``, ``SICKRelatedness-train``,
  ``SICKRelatedness-dev`` (SICK_trial.txt).

Scores are cosine similarities of the model's embeddings; Spearman and Pearson are reported x100.

A model is anything with ``encode(sentences, batch_size=..., show_progress_bar=..., convert_to_numpy=True)``
returning an ``(N, d)`` array (sentcse models and ``SentenceTransformer`` both qualify), or a plain callable
``sentences -> (N, d) array``. Each unique sentence of a task is encoded once.

Data come from a SentEval-layout folder (``source="senteval"``, default ``../shared/data/senteval`` relative to
the repository) or from the Hugging Face Hub (``source="hub"``: the ``mteb/*-sts`` datasets; see ``HUB_DATASETS``
for how they differ from SentEval's files).
"""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.stats import pearsonr, spearmanr

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------------------
# Task definitions
# --------------------------------------------------------------------------------------------------------------

# Sub-datasets per year, as SentEval's STS12Eval ... STS16Eval define them (order kept).
STS_SUBSETS: Dict[str, Tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}

# The seven test tasks of the papers' tables, in their column order, with the column names.
TEST_TASKS: Tuple[str, ...] = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness")
TABLE_COLUMNS: Dict[str, str] = {
    "STS12": "STS12",
    "STS13": "STS13",
    "STS14": "STS14",
    "STS15": "STS15",
    "STS16": "STS16",
    "STSBenchmark": "STS-B",
    "SICKRelatedness": "SICK-R",
}
DEV_TASK = "STSBenchmark-dev"
# What StsEvaluator scores by default: the seven test tasks plus the model-selection split.
DEFAULT_TASKS: Tuple[str, ...] = TEST_TASKS + (DEV_TASK,)
ALL_TASKS: Tuple[str, ...] = TEST_TASKS + (
    DEV_TASK,
    "STSBenchmark-train",
    "SICKRelatedness-dev",
    "SICKRelatedness-train",
)

# Pair counts of SentEval's files (blank gold lines skipped); a mismatch is logged as a warning.
EXPECTED_N_PAIRS: Dict[str, int] = {
    "STS12": 3108,
    "STS13": 1500,
    "STS14": 3750,
    "STS15": 3000,
    "STS16": 1186,
    "STSBenchmark-train": 5749,
    "STSBenchmark-dev": 1500,
    "STSBenchmark": 1379,
    "SICKRelatedness-train": 4500,
    "SICKRelatedness-dev": 500,
    "SICKRelatedness": 4927,
}

# Accepted spellings (case-insensitive) -> canonical task name.
_ALIASES: Dict[str, str] = {
    "sts-b": "STSBenchmark",
    "stsb": "STSBenchmark",
    "stsbenchmark-test": "STSBenchmark",
    "sts-b-test": "STSBenchmark",
    "stsb-test": "STSBenchmark",
    "sts-b-dev": DEV_TASK,
    "stsb-dev": DEV_TASK,
    "sts-b-train": "STSBenchmark-train",
    "stsb-train": "STSBenchmark-train",
    "sick-r": "SICKRelatedness",
    "sickr": "SICKRelatedness",
    "sick": "SICKRelatedness",
    "sickrelatedness-test": "SICKRelatedness",
    "sick-r-test": "SICKRelatedness",
    "sick-r-dev": "SICKRelatedness-dev",
    "sickrelatedness-trial": "SICKRelatedness-dev",
    "sick-r-train": "SICKRelatedness-train",
}
_ALIASES.update({name.lower(): name for name in ALL_TASKS})

# Files per task: (folder candidates relative to sts_dir, file names). The first candidate folder is SentEval's
# layout; the others let a folder holding just the files (e.g. examples/data/stsb/) serve as a source.
_STSB_DIRS = (("STS", "STSBenchmark"), ("STSBenchmark",), ())
_SICK_DIRS = (("SICK",), ())
_SPLIT_FILES: Dict[str, Tuple[Tuple[Tuple[str, ...], ...], str]] = {
    "STSBenchmark-train": (_STSB_DIRS, "sts-train.csv"),
    "STSBenchmark-dev": (_STSB_DIRS, "sts-dev.csv"),
    "STSBenchmark": (_STSB_DIRS, "sts-test.csv"),
    "SICKRelatedness-train": (_SICK_DIRS, "SICK_train.txt"),
    "SICKRelatedness-dev": (_SICK_DIRS, "SICK_trial.txt"),
    "SICKRelatedness": (_SICK_DIRS, "SICK_test_annotated.txt"),
}

# source="hub": (dataset id, split). The mteb STS12-16 sets hold the concatenated test pairs without the
# sub-dataset name, so only the "all" score exists for them. mteb/sickr-sts's test split is the WHOLE SICK
# corpus (9,927 pairs), not SentEval's 4,927-pair test split: its SICK-R figure is not comparable to the papers'.
HUB_DATASETS: Dict[str, Tuple[str, str]] = {
    "STS12": ("mteb/sts12-sts", "test"),
    "STS13": ("mteb/sts13-sts", "test"),
    "STS14": ("mteb/sts14-sts", "test"),
    "STS15": ("mteb/sts15-sts", "test"),
    "STS16": ("mteb/sts16-sts", "test"),
    "STSBenchmark": ("mteb/stsbenchmark-sts", "test"),
    "STSBenchmark-dev": ("mteb/stsbenchmark-sts", "validation"),
    "STSBenchmark-train": ("mteb/stsbenchmark-sts", "train"),
    "SICKRelatedness": ("mteb/sickr-sts", "test"),
}

_STS_DIR_HELP = (
    "Pass the SentEval data folder with --sts_dir (or sts_dir=... / env SENTCSE_STS_DIR): it must hold "
    "STS/STS12-en-test ... STS/STS16-en-test, STS/STSBenchmark/sts-{train,dev,test}.csv and "
    "SICK/SICK_{train,trial,test_annotated}.txt (a folder with just sts-dev.csv / sts-test.csv, such as "
    "examples/data/stsb, serves the STS-B tasks only)."
)


def canonical_task(name: str) -> str:
    """Map a task name or alias (``STS-B``, ``sick-r``, ``stsb-dev``, ...) to its canonical name."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown STS task {name!r}; choose from {list(ALL_TASKS)} (aliases: STS-B, SICK-R, stsb-dev)")
    return _ALIASES[key]


def default_sts_dir() -> Path:
    """``$SENTCSE_STS_DIR``, else ``$SENTCSE_SHARED/data/senteval``, else ``<repo>/../shared/data/senteval``."""
    if os.environ.get("SENTCSE_STS_DIR"):
        return Path(os.environ["SENTCSE_STS_DIR"]).expanduser()
    if os.environ.get("SENTCSE_SHARED"):
        return Path(os.environ["SENTCSE_SHARED"]).expanduser() / "data" / "senteval"
    # trainers/sts.py -> parents[1] is the repository, its parent holds shared/.
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "senteval"


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


@dataclass
class StsPairs:
    """One scored sub-dataset: ``sentences1[i]``, ``sentences2[i]``, gold ``scores[i]``."""

    name: str
    sentences1: List[str]
    sentences2: List[str]
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
    subsets: Dict[str, StsPairs]
    source: str

    @property
    def n_pairs(self) -> int:
        return sum(len(s) for s in self.subsets.values())

    def concatenated(self) -> StsPairs:
        """All sub-datasets concatenated in order (the pairs the "all" setting scores)."""
        s1: List[str] = []
        s2: List[str] = []
        for sub in self.subsets.values():
            s1.extend(sub.sentences1)
            s2.extend(sub.sentences2)
        scores = np.concatenate([sub.scores for sub in self.subsets.values()]) if self.subsets else np.zeros(0)
        return StsPairs(self.name, s1, s2, scores)

    def unique_sentences(self) -> List[str]:
        """The task's distinct sentences, in first-seen order."""
        seen: Dict[str, None] = {}
        for sub in self.subsets.values():
            for s in sub.sentences1:
                seen.setdefault(s, None)
            for s in sub.sentences2:
                seen.setdefault(s, None)
        return list(seen)


def _normalise(sentence: str) -> str:
    """SentEval splits on whitespace and SimCSE's batcher joins with single spaces: do the same."""
    return " ".join(sentence.split())


def _read_lines(path: Path) -> List[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _missing(task: str, what: str, looked_in: Sequence[Path]) -> FileNotFoundError:
    where = ", ".join(str(p) for p in looked_in)
    return FileNotFoundError(f"STS task {task}: {what} not found (looked in: {where}). {_STS_DIR_HELP}")


def _find_file(task: str, sts_dir: Path, folders: Sequence[Tuple[str, ...]], filename: str) -> Path:
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
    subsets: Dict[str, StsPairs] = {}
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
        for lineno, row in enumerate(rows, start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(idx_a, idx_b, idx_score):
                raise ValueError(f"{path}: row {lineno} has {len(row)} fields, expected at least {max(idx_a, idx_b, idx_score) + 1}")
            s1.append(_normalise(row[idx_a]))
            s2.append(_normalise(row[idx_b]))
            scores.append(float(row[idx_score]))
    split = "test" if task in ("STSBenchmark", "SICKRelatedness") else task.rsplit("-", 1)[1]
    return StsTask(task, {split: StsPairs(split, s1, s2, np.asarray(scores))}, str(path))


def _load_hub(task: str, cache_dir: Optional[str] = None) -> StsTask:
    """Load ``task`` from the Hugging Face Hub (``HUB_DATASETS``). Needs the network or a warm datasets cache."""
    if task not in HUB_DATASETS:
        raise ValueError(f"task {task} has no Hugging Face Hub source; available: {sorted(HUB_DATASETS)}")
    repo, split = HUB_DATASETS[task]
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise ImportError("source='hub' needs the `datasets` package (pip install datasets)") from e
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
    subset = "all" if task in STS_SUBSETS else ("test" if task in TEST_TASKS else task.rsplit("-", 1)[1])
    return StsTask(task, {subset: StsPairs(subset, s1, s2, np.asarray(ds["score"], dtype=np.float64))}, f"hub:{repo}[{split}]")


_TASK_CACHE: Dict[Tuple[str, str, str], StsTask] = {}


def load_sts_task(
    task: str,
    sts_dir: Union[str, Path, None] = None,
    source: str = "senteval",
    cache: bool = True,
) -> StsTask:
    """Load one task (any name or alias in ``ALL_TASKS``) from a SentEval-layout folder or the Hub.

    ``sts_dir`` defaults to ``default_sts_dir()``. A missing folder or file raises ``FileNotFoundError`` naming
    it, where it was looked for and how to point elsewhere (``--sts_dir``). Loaded tasks are cached per
    (source, folder, task) unless ``cache=False``.
    """
    task = canonical_task(task)
    if source not in ("senteval", "hub"):
        raise ValueError(f"source must be 'senteval' or 'hub', got {source!r}")
    if source == "hub":
        key = ("hub", "", task)
    else:
        sts_dir = (Path(sts_dir).expanduser() if sts_dir is not None else default_sts_dir()).absolute()
        if not sts_dir.is_dir():
            raise FileNotFoundError(f"STS data folder {sts_dir} does not exist (needed for task {task}). {_STS_DIR_HELP}")
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


def clear_cache() -> None:
    """Forget every loaded task (and the cached STS-B dev evaluators)."""
    _TASK_CACHE.clear()
    _DEV_EVALUATORS.clear()


# --------------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------------


def cosine_pairs(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, d)`` arrays, computed in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.einsum("ij,ij->i", a, b)
    den = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), eps)
    return num / den


def correlations(gold: np.ndarray, predicted: np.ndarray) -> Tuple[float, float]:
    """(Spearman x100, Pearson x100) of predicted against gold scores."""
    gold = np.asarray(gold, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if len(gold) < 2:
        return float("nan"), float("nan")
    return float(spearmanr(gold, predicted)[0] * 100.0), float(pearsonr(gold, predicted)[0] * 100.0)


@dataclass
class SubsetResult:
    spearman: float
    pearson: float
    n_pairs: int


@dataclass
class TaskResult:
    """One task's scores. ``spearman`` / ``pearson`` (x100) are over all its pairs ("all" setting for STS12-16);
    ``subsets`` holds each sub-dataset's own scores and ``subset_mean_spearman`` their plain mean (SentEval's
    "mean"), shown for comparison only."""

    task: str
    spearman: float
    pearson: float
    n_pairs: int
    n_sentences: int
    seconds: float
    source: str
    subsets: Dict[str, SubsetResult] = field(default_factory=dict)

    @property
    def subset_mean_spearman(self) -> float:
        return float(np.mean([s.spearman for s in self.subsets.values()])) if self.subsets else float("nan")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["subset_mean_spearman"] = self.subset_mean_spearman
        return d


@dataclass
class StsResults:
    """Every scored task, the average Spearman over the seven test tasks (None unless all seven were scored),
    and the total wall time in seconds."""

    tasks: Dict[str, TaskResult]
    avg: Optional[float]
    seconds: float
    meta: Dict[str, object] = field(default_factory=dict)

    def __getitem__(self, task: str) -> TaskResult:
        return self.tasks[canonical_task(task)]

    def to_dict(self) -> dict:
        return {
            "tasks": {name: r.to_dict() for name, r in self.tasks.items()},
            "avg": self.avg,
            "seconds": self.seconds,
            "meta": dict(self.meta),
        }


def _encode(model, sentences: List[str], batch_size: int, show_progress_bar: bool) -> np.ndarray:
    if hasattr(model, "encode"):
        emb = model.encode(sentences, batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True)
    elif callable(model):
        emb = model(sentences)
    else:
        raise TypeError(f"the model must have an encode(...) method or be callable, got {type(model).__name__}")
    if hasattr(emb, "detach"):  # a torch tensor despite convert_to_numpy
        emb = emb.detach().float().cpu().numpy()
    emb = np.asarray(emb)
    if emb.ndim != 2 or emb.shape[0] != len(sentences):
        raise ValueError(f"encode returned shape {emb.shape} for {len(sentences)} sentences; expected (N, d)")
    return emb


class _EvalMode:
    """Put a torch module in eval mode under no_grad for the duration, then restore its training flag."""

    def __init__(self, model):
        self.model = model
        self.was_training = None
        self.no_grad = None

    def __enter__(self):
        try:
            import torch
        except ImportError:  # pragma: no cover
            return self
        if isinstance(self.model, torch.nn.Module):
            self.was_training = self.model.training
            self.model.eval()
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        return self

    def __exit__(self, *exc):
        if self.no_grad is not None:
            self.no_grad.__exit__(*exc)
        if self.was_training:
            self.model.train()
        return False


class StsEvaluator:
    """Score a model on STS tasks (default ``DEFAULT_TASKS``: the seven test tasks and STS-B dev).

    >>> evaluator = StsEvaluator(sts_dir="../shared/data/senteval")
    >>> results = evaluator(model)          # StsResults
    >>> print(format_table(results))

    Data are loaded on first use and kept. ``batch_size`` and ``show_progress_bar`` go to ``model.encode``.
    """

    def __init__(
        self,
        sts_dir: Union[str, Path, None] = None,
        tasks: Iterable[str] = DEFAULT_TASKS,
        source: str = "senteval",
        batch_size: int = 64,
        show_progress_bar: bool = False,
    ):
        self.sts_dir = sts_dir
        self.tasks = [canonical_task(t) for t in tasks]
        if not self.tasks:
            raise ValueError("no STS task to evaluate")
        self.source = source
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self._data: Optional[Dict[str, StsTask]] = None

    def load(self) -> Dict[str, StsTask]:
        """Load (once) and return every task's data; raises FileNotFoundError for missing files up front."""
        if self._data is None:
            self._data = {t: load_sts_task(t, self.sts_dir, self.source) for t in self.tasks}
        return self._data

    def evaluate_task(self, model, task: str) -> TaskResult:
        task = canonical_task(task)
        data = self.load()[task] if task in self.tasks else load_sts_task(task, self.sts_dir, self.source)
        start = time.perf_counter()
        sentences = data.unique_sentences()
        # Longest first keeps batches of similar length (less padding for encoders that do not sort).
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        with _EvalMode(model):
            emb_sorted = _encode(model, [sentences[i] for i in order], self.batch_size, self.show_progress_bar)
        emb = np.empty_like(emb_sorted)
        emb[np.asarray(order, dtype=np.int64)] = emb_sorted
        index = {s: i for i, s in enumerate(sentences)}

        subsets: Dict[str, SubsetResult] = {}
        all_gold, all_pred = [], []
        for name, sub in data.subsets.items():
            pred = cosine_pairs(emb[[index[s] for s in sub.sentences1]], emb[[index[s] for s in sub.sentences2]])
            sp, pe = correlations(sub.scores, pred)
            subsets[name] = SubsetResult(sp, pe, len(sub))
            all_gold.append(sub.scores)
            all_pred.append(pred)
        spearman, pearson = correlations(np.concatenate(all_gold), np.concatenate(all_pred))
        return TaskResult(
            task=task,
            spearman=spearman,
            pearson=pearson,
            n_pairs=data.n_pairs,
            n_sentences=len(sentences),
            seconds=time.perf_counter() - start,
            source=data.source,
            subsets=subsets if len(subsets) > 1 else {},
        )

    def evaluate(self, model) -> StsResults:
        self.load()
        start = time.perf_counter()
        results = {}
        for task in self.tasks:
            results[task] = self.evaluate_task(model, task)
            logger.info("%s: Spearman %.2f (%d pairs, %.1fs)", task, results[task].spearman, results[task].n_pairs,
                        results[task].seconds)
        avg = float(np.mean([results[t].spearman for t in TEST_TASKS])) if all(t in results for t in TEST_TASKS) else None
        meta = {"source": self.source, "sts_dir": None if self.source == "hub" else str(self.sts_dir or default_sts_dir()),
                "batch_size": self.batch_size}
        return StsResults(results, avg, time.perf_counter() - start, meta)

    __call__ = evaluate


_DEV_EVALUATORS: Dict[Tuple[str, str], StsEvaluator] = {}


def evaluate_stsb_dev(
    model,
    sts_dir: Union[str, Path, None] = None,
    batch_size: int = 64,
    source: str = "senteval",
) -> float:
    """STS-B dev Spearman x100 (cosine): the model-selection metric. The dev data are loaded once and cached
    (per folder), so calling this every ``eval_steps`` costs one encoding pass over its ~2.9k unique sentences.
    The model is put in eval mode for the call and its training flag restored afterwards."""
    key = (source, str(sts_dir if sts_dir is not None else default_sts_dir()))
    evaluator = _DEV_EVALUATORS.get(key)
    if evaluator is None:
        evaluator = StsEvaluator(sts_dir=sts_dir, tasks=[DEV_TASK], source=source, batch_size=batch_size)
        evaluator.load()
        _DEV_EVALUATORS[key] = evaluator
    evaluator.batch_size = batch_size
    return evaluator.evaluate_task(model, DEV_TASK).spearman


# --------------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------------


def _task_scores(results) -> Dict[str, float]:
    if isinstance(results, StsResults):
        return {name: r.spearman for name, r in results.tasks.items()}
    if isinstance(results, dict) and "tasks" in results:  # StsResults.to_dict() / its JSON
        return {canonical_task(name): r["spearman"] for name, r in results["tasks"].items()}
    if isinstance(results, dict):  # {task: spearman}
        return {canonical_task(name): float(v) for name, v in results.items()}
    raise TypeError(f"cannot format {type(results).__name__}")


def format_table(results, include_dev: bool = True, digits: int = 2) -> str:
    """A markdown table in the papers' column order: STS12 STS13 STS14 STS15 STS16 STS-B SICK-R Avg (Spearman
    x100), then "STS-B dev" when it was scored and ``include_dev``. Unscored tasks show "-"; Avg needs all seven.
    Accepts ``StsResults``, its ``to_dict()`` (or that JSON loaded back) or a plain ``{task: spearman}`` dict."""
    scores = _task_scores(results)
    headers = [TABLE_COLUMNS[t] for t in TEST_TASKS] + ["Avg"]
    cells = [f"{scores[t]:.{digits}f}" if t in scores else "-" for t in TEST_TASKS]
    cells.append(f"{np.mean([scores[t] for t in TEST_TASKS]):.{digits}f}" if all(t in scores for t in TEST_TASKS) else "-")
    if include_dev and DEV_TASK in scores:
        headers.append("STS-B dev")
        cells.append(f"{scores[DEV_TASK]:.{digits}f}")
    widths = [max(len(h), len(c)) for h, c in zip(headers, cells)]
    line = lambda items: "| " + " | ".join(s.rjust(w) for s, w in zip(items, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), sep, line(cells)])


def format_subsets(results: StsResults, digits: int = 2) -> str:
    """Per-task lines: "all" Spearman, the mean of the per-subset Spearmans, and each subset's Spearman."""
    out = []
    for name, r in results.tasks.items():
        if not r.subsets:
            continue
        subs = ", ".join(f"{k} {v.spearman:.{digits}f}" for k, v in r.subsets.items())
        out.append(f"{name}: all {r.spearman:.{digits}f} | subset mean {r.subset_mean_spearman:.{digits}f} | {subs}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------------
# Loading a model to evaluate (used by examples/evaluate.py)
# --------------------------------------------------------------------------------------------------------------

SENTCSE_MODEL_TYPES = ("simcse", "sarcse", "recse")
# sentence-transformers pooling mode -> sentcse pooler
_ST_POOLERS = {"mean": "avg", "cls": "cls_before_pooler"}


def _sentence_transformers_pooler(folder: Path) -> Tuple[str, Path]:
    """(sentcse pooler, backbone folder) of a sentence-transformers model folder (one with modules.json)."""
    import json

    modules = json.loads((folder / "modules.json").read_text())
    backbone, pooling = None, None
    for m in modules:
        kind = m.get("type", "")
        path = folder / m.get("path", "")
        if kind.endswith(".Transformer"):
            backbone = path
        elif kind.endswith(".Pooling"):
            pooling = path
        elif kind.endswith(".Normalize"):
            pass  # cosine similarity is unchanged by L2 normalisation
        else:
            raise ValueError(
                f"{folder}: module {kind} would change the embeddings and sentcse cannot reproduce it; evaluate "
                f"this model with --backend sentence-transformers"
            )
    if backbone is None:
        raise ValueError(f"{folder}/modules.json has no sentence_transformers.models.Transformer module")
    mode = "mean"
    if pooling is not None and (pooling / "config.json").is_file():
        cfg = json.loads((pooling / "config.json").read_text())
        if "pooling_mode" in cfg:  # newer format: "pooling_mode": "mean"
            mode = cfg["pooling_mode"]
        else:  # classic format: one pooling_mode_*_tokens flag set
            flags = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
            names = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
            if len(flags) != 1 or flags[0] not in names:
                raise ValueError(f"{pooling}/config.json: unsupported pooling {flags}; pass --pooler explicitly")
            mode = names[flags[0]]
    if mode not in _ST_POOLERS:
        raise ValueError(f"{folder}: pooling mode {mode!r} has no sentcse pooler (supported: {sorted(_ST_POOLERS)}); "
                         f"pass --pooler or use --backend sentence-transformers")
    return _ST_POOLERS[mode], backbone


def load_encoder(
    model_path: Union[str, Path],
    pooler: Optional[str] = None,
    backend: str = "sentcse",
    device: Optional[str] = None,
):
    """Load something with ``encode(...)`` from ``model_path`` for evaluation.

    - a saved sentcse checkpoint (config.json ``model_type`` in ``SENTCSE_MODEL_TYPES``):
      ``AutoModel.from_pretrained(path, trust_remote_code=True)``; ``pooler`` overrides its config when given;
    - a sentence-transformers folder (``modules.json``): its Pooling config picks the pooler (mean -> avg,
      cls -> cls_before_pooler) unless ``pooler`` is given; the backbone is the Transformer module's folder;
    - any other HF encoder (folder or cached name): ``SimCseModel.from_backbone(path, pooler=pooler or "avg")``.

    For an untrained backbone ``pooler="cls"`` means the raw [CLS] state and is mapped to ``cls_before_pooler``
    (``cls`` would add SimCSE's randomly initialised MLP). ``backend="sentence-transformers"`` loads the folder with
    ``SentenceTransformer`` instead (for comparison, or for modules sentcse does not reproduce).
    """
    import json

    path = Path(model_path).expanduser()
    if backend in ("sentence-transformers", "st"):
        from sentence_transformers import SentenceTransformer

        if pooler is not None:
            logger.warning("--pooler is ignored with --backend sentence-transformers")
        return SentenceTransformer(str(path), device=device or "cpu")
    if backend != "sentcse":
        raise ValueError(f"backend must be 'sentcse' or 'sentence-transformers', got {backend!r}")

    import modeling  # noqa: F401  (registers the sentcse auto classes)
    from modeling import SimCseModel

    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file; pass a model folder")
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    if config.get("model_type") in SENTCSE_MODEL_TYPES:
        from transformers import AutoModel

        kwargs = {"pooler": pooler} if pooler is not None else {}
        model = AutoModel.from_pretrained(str(path), trust_remote_code=True, **kwargs)
    else:
        if (path / "modules.json").is_file():
            st_pooler, backbone = _sentence_transformers_pooler(path)
            chosen = pooler or st_pooler
            if pooler is not None and pooler != st_pooler:
                logger.warning("%s was trained with pooler %s; evaluating with --pooler %s", path, st_pooler, pooler)
            source = str(backbone)
        elif path.is_dir() or not path.exists():  # a local folder, or a name for the HF cache
            if not path.exists() and str(model_path).startswith((".", "/", "~")):
                raise FileNotFoundError(f"model folder {path} does not exist")
            chosen = pooler or "avg"
            source = str(model_path) if not path.exists() else str(path)
        if chosen == "cls":
            logger.info("pooler 'cls' on an untrained backbone means the raw [CLS] state: using cls_before_pooler")
            chosen = "cls_before_pooler"
        model = SimCseModel.from_backbone(source, pooler=chosen)
    if device is not None and hasattr(model, "to"):
        model = model.to(device)
    if hasattr(model, "eval"):
        model.eval()
    return model


__all__ = [
    "ALL_TASKS",
    "DEFAULT_TASKS",
    "DEV_TASK",
    "EXPECTED_N_PAIRS",
    "HUB_DATASETS",
    "STS_SUBSETS",
    "TABLE_COLUMNS",
    "TEST_TASKS",
    "StsEvaluator",
    "StsPairs",
    "StsResults",
    "StsTask",
    "SubsetResult",
    "TaskResult",
    "canonical_task",
    "clear_cache",
    "correlations",
    "cosine_pairs",
    "default_sts_dir",
    "evaluate_stsb_dev",
    "format_subsets",
    "format_table",
    "load_encoder",
    "load_sts_task",
]
