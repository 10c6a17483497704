"""Scoring a model on STS tasks: cosine similarities of its embeddings against the gold scores (x100)."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from .loading import StsTask, default_sts_dir, load_sts_task
from .tasks import DEFAULT_TASKS, canonical_task, seven_task_average

logger = logging.getLogger(__name__)


def cosine_pairs(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, d)`` arrays, computed in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.einsum("ij,ij->i", a, b)
    den = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), eps)
    return num / den


# Alignment's positive pairs score above this share of the scale's top: STS-B's pairs above 4 of 5, as the SimCSE
# paper takes them; above 0.8 on a 0-1 scale.
ALIGNMENT_SHARE = 0.8


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Wang & Isola (2020) alignment, ``E ||f(x) - f(y)||^2`` over positive pairs of unit embeddings (lower is
    better); ``a[i]`` and ``b[i]`` are the two sentences of pair i."""
    if len(a) == 0:
        return float("nan")
    return float(np.square(_unit(a) - _unit(b)).sum(1).mean())


# Uniformity looks at every pair: beyond this many rows it is taken over this many, drawn once with a fixed seed (the
# same rows at every evaluation of one dev set), and in blocks of rows, so time and memory stay bounded.
UNIFORMITY_ROWS = 4096
_UNIFORMITY_BLOCK = 512


def uniformity(x: np.ndarray, t: float = 2.0, max_rows: int = UNIFORMITY_ROWS) -> float:
    """Wang & Isola (2020) uniformity, ``log E exp(-t ||f(x) - f(y)||^2)`` over all pairs of distinct rows of unit
    embeddings (lower is more uniform); over ``max_rows`` rows drawn with a fixed seed where there are more."""
    unit = _unit(x)
    if len(unit) < 2:
        return float("nan")
    if len(unit) > max_rows:
        unit = unit[np.sort(np.random.default_rng(0).choice(len(unit), max_rows, replace=False))]
    rows, total = len(unit), 0.0
    for start in range(0, rows - 1, _UNIFORMITY_BLOCK):
        block = unit[start : start + _UNIFORMITY_BLOCK]
        squared = np.maximum(2.0 - 2.0 * (block @ unit[start:].T), 0.0)
        later = np.arange(squared.shape[1])[None, :] > np.arange(len(block))[:, None]  # pairs (i, j > i) only
        total += float(np.exp(-t * squared[later]).sum())
    return float(np.log(total / (rows * (rows - 1) / 2)))


def score_scale(gold: np.ndarray) -> float:
    """The top of the gold scores' scale: 1 where every score is within 0-1, 5 within 0-5 (STS-B), else the
    highest score."""
    top = float(np.max(gold)) if len(gold) else 0.0
    return 1.0 if top <= 1 else 5.0 if top <= 5 else top


def geometry(first: np.ndarray, second: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """``alignment`` over the pairs scored above ALIGNMENT_SHARE of the scale (STS-B: > 4) and ``uniformity`` over
    every sentence of the pairs (both sides), as the SimCSE paper reports them on STS-B dev."""
    gold = np.asarray(gold, dtype=np.float64)
    positive = gold > ALIGNMENT_SHARE * score_scale(gold)
    return {"alignment": alignment(first[positive], second[positive]),
            "uniformity": uniformity(np.concatenate([first, second]))}


def correlations(gold: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
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
    subsets: dict[str, SubsetResult] = field(default_factory=dict)

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

    tasks: dict[str, TaskResult]
    avg: float | None
    seconds: float
    meta: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, task: str) -> TaskResult:
        return self.tasks[task] if task in self.tasks else self.tasks[canonical_task(task)]

    def to_dict(self) -> dict:
        return {
            "tasks": {name: r.to_dict() for name, r in self.tasks.items()},
            "avg": self.avg,
            "seconds": self.seconds,
            "meta": dict(self.meta),
        }


def _takes_dtype(model) -> bool:
    """Whether ``model.encode`` has a ``dtype`` parameter of its own (sentcse models; not sentence-transformers,
    whose extra keyword arguments go elsewhere)."""
    try:
        parameter = inspect.signature(model.encode).parameters.get("dtype")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)


def _encode(model, sentences: list[str], batch_size: int, show_progress_bar: bool, dtype=None) -> np.ndarray:
    """``model``'s embeddings of ``sentences`` as an ``(N, d)`` array (``model.encode`` or ``model(sentences)``).

    ``dtype`` (a torch dtype, or None) goes to ``encode`` where it takes one (sentcse models); any other torch
    module (sentence-transformers has no such argument) encodes on its weights cast to it for the call, as sentcse's
    encode(dtype=...) does (``call_in_dtype``)."""
    if dtype is not None and hasattr(model, "encode") and _takes_dtype(model):
        emb = model.encode(sentences, batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True,
                           dtype=dtype)
    elif dtype is not None:
        import torch

        from ...modeling.inputs import call_in_dtype

        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"dtype={dtype} needs a torch model or an encode() with a dtype argument; "
                             f"{type(model).__name__} has neither (pass dtype=None)")
        return call_in_dtype(model, dtype, _encode, model, sentences, batch_size, show_progress_bar)
    elif hasattr(model, "encode"):
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
        import torch

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

    >>> evaluator = StsEvaluator(sts_dir="path/to/senteval")
    >>> results = evaluator(model)          # StsResults
    >>> print(format_table(results))

    ``pairs``: score your own pairs instead (``load_pairs_file``: sentence1, sentence2, score).

    Data are loaded on first use and kept. ``batch_size`` and ``show_progress_bar`` go to ``model.encode``; so does
    ``dtype`` (None, or the compute precision: ``torch.bfloat16`` / ``"bf16"``, ``"fp16"``, ``"fp32"``; checked
    here) where ``encode`` takes one (sentcse models: their weights cast to it for the call); another torch model,
    such as a SentenceTransformer, encodes on its weights cast the same way. The model is put in eval mode (under
    no_grad) while it encodes and its training flag restored afterwards.
    """

    def __init__(
        self,
        sts_dir: str | Path | None = None,
        tasks: Iterable[str] = DEFAULT_TASKS,
        source: str = "senteval",
        batch_size: int = 64,
        show_progress_bar: bool = False,
        dtype=None,
        pairs: StsTask | None = None,
    ):
        if dtype is not None:  # imported only then: scoring and reporting need no torch
            from ...modeling.inputs import checked_dtype

            dtype = checked_dtype(dtype, "StsEvaluator(dtype=...)")
        self.dtype = dtype
        self.sts_dir = sts_dir
        self.pairs = pairs  # a task of your own (load_pairs_file), scored instead of ``tasks``
        self.tasks = [pairs.name] if pairs is not None else [canonical_task(t) for t in tasks]
        if not self.tasks:
            raise ValueError("no STS task to evaluate")
        self.source = source
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self._data: dict[str, StsTask] | None = None

    def load(self) -> dict[str, StsTask]:
        """Load (once) and return every task's data; raises FileNotFoundError for missing files up front."""
        if self._data is None:
            self._data = ({self.pairs.name: self.pairs} if self.pairs is not None
                          else {t: load_sts_task(t, self.sts_dir, self.source) for t in self.tasks})
        return self._data

    def evaluate_task(self, model, task: str) -> TaskResult:
        """Score ``model`` on one task (its own data are kept if it is one of ``self.tasks``)."""
        task = task if self.pairs is not None and task == self.pairs.name else canonical_task(task)
        data = self.load()[task] if task in self.tasks else load_sts_task(task, self.sts_dir, self.source)
        start = time.perf_counter()
        sentences = data.unique_sentences()
        # Longest first keeps batches of similar length (less padding for encoders that do not sort).
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        with _EvalMode(model):
            emb_sorted = _encode(model, [sentences[i] for i in order], self.batch_size, self.show_progress_bar,
                                 self.dtype)
        emb = np.empty_like(emb_sorted)
        emb[np.asarray(order, dtype=np.int64)] = emb_sorted
        index = {s: i for i, s in enumerate(sentences)}

        subsets: dict[str, SubsetResult] = {}
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
        """Score ``model`` on every task of ``self.tasks``, with the seven-task average where all were scored."""

        self.load()
        start = time.perf_counter()
        results = {}
        for task in self.tasks:
            results[task] = self.evaluate_task(model, task)
            logger.info("%s: Spearman %.2f (%d pairs, %.1fs)", task, results[task].spearman, results[task].n_pairs,
                        results[task].seconds)
        avg = seven_task_average({t: r.spearman for t, r in results.items()})
        sts_dir = None
        if self.source != "hub":
            sts_dir = self.sts_dir if self.sts_dir is not None else default_sts_dir()
        meta = {
            "source": self.source,
            "sts_dir": None if sts_dir is None else str(sts_dir),
            "batch_size": self.batch_size,
            "dtype": None if self.dtype is None else str(self.dtype).replace("torch.", ""),
        }
        return StsResults(results, avg, time.perf_counter() - start, meta)

    __call__ = evaluate
