#!/usr/bin/env python
"""The GPU check, prepared to fit ONE device call (at most 9 minutes on an H200): everything it measures goes to
``--out`` (``$OUT`` on the device machine) as ``gpu_check.json`` and ``gpu_check.log``.

    bash bench/gpu/gpu_pack.sh                     # here: wheels (.whl/) and data (.gpu-data/) that must travel
    # there, one call (carry .whl and .gpu-data):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site &&
      PYTHONUNBUFFERED=1 python3 -m bench.gpu.gpu_check --out $OUT
    python -m bench.gpu.gpu_check --dry_run --out /tmp/gpu-dry   # CPU, tiny sizes, the same code path (CI runs it)

Stages, each under the remaining time budget (a stage that would start past it is recorded as skipped):
1. ``environment``: torch / CUDA / GPU, the packages and data the check needs (it stops here when one is missing).
2. ``suite``: the test suite on CUDA (``pytest --device cuda``).
3. ``steps``: bf16 training-step time (each trainer's own ``trainer.train()``, its steps timed by
   ``bench.timing.StepTimer``), peak memory (each method alone on the device) and model FLOP utilisation against
   the H200's 790 TFLOP/s bf16, of SimCSE, SARCSE, reCSE and sentence-transformers' MNRL, on the bundled
   bert-mini-wiki-mlm50m and a randomly initialised bert-base-shaped encoder, batch 64 and 512, max length 32.
4. ``buckets``: ``length_buckets`` 1 vs 4 (SimCSE, the bert-base shape, batch 512).
5. ``quality``: a short SimCSE / SARCSE / reCSE run on the carried wiki sample, best STS-B dev.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import (
    BUNDLED_BACKBONE,
    REPO,
    encoder_flops,
    load_average,
    machine_info,
    now,
    read_sentences,
    summarize,
    write_bert_base_random,
)
from sentcse.modeling.inputs import ALLOW_EMULATED_BF16

PEAK_BF16_FLOPS = 790e12  # H200 dense bf16 (measured 769-798 TFLOP/s on 8192^3 products here)
NEEDED_PACKAGES = ("sentcse", "torch", "transformers", "accelerate", "datasets", "sentence_transformers", "scipy")
DATA = REPO / ".gpu-data"
METHODS = ("simcse", "sarcse", "recse")
DRY_RUN_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.log")
    p.add_argument("--dry_run", action="store_true", help="CPU, tiny model and sizes: the same code path")
    p.add_argument("--budget_s", type=float, default=520.0, help="time for all stages (the call's limit is 540 s)")
    p.add_argument("--train_file", default=str(DATA / "wiki100k.txt.gz"))
    p.add_argument("--sts_dir", default=str(DATA / "senteval"))
    return p.parse_args(argv)


class Check:
    """The stages' shared state: the deadline, the log and the results written after every stage."""

    def __init__(self, args):
        self.args, self.start = args, time.perf_counter()
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.results = {"started": now(), "dry_run": args.dry_run, "stages": {}}

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.start)

    def log(self, text: str) -> None:
        line = f"[{time.perf_counter() - self.start:6.1f}s] {text}"
        print(line, flush=True)
        with open(self.out / "gpu_check.log", "a") as handle:
            handle.write(line + "\n")

    def stage(self, name: str, needs_s: float, fn) -> None:
        if self.left() < needs_s:
            self.results["stages"][name] = {"skipped": f"{self.left():.0f} s left, the stage needs about {needs_s:.0f}"}
            self.log(f"{name}: skipped")
            return
        began = time.perf_counter()
        self.log(f"{name}: start")
        try:
            record = fn(self)
        except Exception as error:  # one stage failing must not lose the others' figures
            record = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-3000:]}
        record["seconds"] = time.perf_counter() - began
        self.results["stages"][name] = record
        self.log(f"{name}: done in {record['seconds']:.1f} s" + (f" ({record['error']})" if "error" in record else ""))
        self.write()

    def write(self) -> None:
        self.results["load_average"] = load_average()
        (self.out / "gpu_check.json").write_text(json.dumps(self.results, indent=2, default=str) + "\n")


# ------------------------------------------------------------------------------------------------ stages
def environment(check: Check) -> dict:
    import torch

    missing = [name for name in NEEDED_PACKAGES if importlib.util.find_spec(name) is None]
    data = {} if check.args.dry_run else {p: Path(p).exists() for p in (check.args.train_file, check.args.sts_dir)}
    record = {"machine": machine_info(), "cuda": torch.cuda.is_available(), "missing_packages": missing,
              "data_present": data}
    if torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name(0)
    problems = missing + [p for p, present in data.items() if not present]
    if not check.args.dry_run and not torch.cuda.is_available():
        problems.append("CUDA")
    if problems:
        raise RuntimeError(f"missing: {', '.join(problems)} (run bench/gpu/gpu_pack.sh here and carry .whl and "
                           ".gpu-data)")
    return record


def suite(check: Check) -> dict:
    conftest = (REPO / "tests" / "conftest.py").read_text()
    device = ["--device", "cpu" if check.args.dry_run else "cuda"] if "--device" in conftest else []
    selection = ["tests/modeling/test_layout.py", "-k", "setup_cfg"] if check.args.dry_run else ["tests"]
    command = [sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:cacheprovider", *device]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=max(30, check.left() - 200))
    return {"command": " ".join(command[2:]), "returncode": done.returncode, "device_option": bool(device),
            "summary": (done.stdout.strip().splitlines() or [""])[-1], "tail": done.stdout[-2000:]}


def _backbones(check: Check, work: Path) -> dict:
    """name -> folder: the bundled backbone and a random bert-base-shaped encoder with its tokenizer (tiny in a dry
    run)."""
    folder = write_bert_base_random(work / "bert-base-random", **(DRY_RUN_SHAPE if check.args.dry_run else {}))
    if check.args.dry_run:
        return {"bert-base-random": folder}
    return {BUNDLED_BACKBONE.name: BUNDLED_BACKBONE, "bert-base-random": folder}


def _measure(check: Check, kind: str, backbone: Path, batch: int, rounds: int, warmup: int, **config) -> dict:
    """One trainer alone on the device, trained for ``rounds`` steps by its own ``trainer.train()``: the times of
    the steps after ``warmup`` (``bench.timing.StepTimer``), peak memory, achieved FLOP/s (``common.encoder_flops``
    of the real tokens of those steps' batches) and its share of the H200's bf16 peak."""
    import torch
    from transformers import AutoConfig

    from bench.steps import TokenCounts, n_parameters, sentcse_trainer, st_trainer
    from bench.timing import StepTimer

    sentences = read_sentences(batch * rounds, path=Path(check.args.train_file)) if not check.args.dry_run else [
        f"a short sentence number {i} about the dog and the cat" for i in range(batch * rounds)]
    if kind == "st-mnrl":
        trainer, _ = st_trainer(str(backbone), sentences, batch_size=batch, bf16=True, train_steps=rounds)
    else:
        trainer, _ = sentcse_trainer(str(backbone), kind, sentences, batch_size=batch, bf16=True, train_steps=rounds,
                                     **config)
    counts, timer = TokenCounts(trainer.data_collator), StepTimer()
    trainer.data_collator = counts  # the DataLoader is built by train(), from this collator
    trainer.add_callback(timer)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    times, lengths = timer.times[warmup:], counts.lengths[warmup:len(timer.times)]
    steps = max(1, len(times))
    record = {"seconds": summarize(times), "tokens_per_step": sum(map(sum, lengths)) / steps}
    if torch.cuda.is_available():
        record["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    encoder = AutoConfig.from_pretrained(backbone)
    flops = sum(encoder_flops(encoder, rows) for rows in lengths) / steps
    record.update(parameters=n_parameters(trainer.model), flops_per_step=flops,
                  mfu=flops / record["seconds"]["median"] / PEAK_BF16_FLOPS if record["seconds"]["median"] else None)
    del trainer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return record


def steps(check: Check) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    rounds, warmup = (3, 1) if check.args.dry_run else (25, 5)
    results = {}
    for name, folder in _backbones(check, work).items():
        for batch in ((4,) if check.args.dry_run else (64, 512)):
            for kind in (*METHODS, "st-mnrl"):
                key = f"{name}/batch{batch}/{kind}"
                if check.left() < 60:
                    results[key] = {"skipped": "time"}
                    continue
                try:
                    results[key] = _measure(check, kind, folder, batch, rounds, warmup)
                except Exception as error:
                    results[key] = {"error": f"{type(error).__name__}: {error}"}
                check.log(f"  {key}: {results[key].get('seconds', results[key])}")
    return {"runs": results}


def buckets(check: Check) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    folder = _backbones(check, work)["bert-base-random"]
    batch, rounds, warmup = (4, 3, 1) if check.args.dry_run else (512, 20, 5)
    return {f"length_buckets_{n}": _measure(check, "simcse", folder, batch, rounds, warmup, length_buckets=n)
            for n in (1, 4)}


def quality(check: Check) -> dict:
    from sentcse.trainers.cli.train import main

    dry = check.args.dry_run
    backbone, train_file, dev = BUNDLED_BACKBONE, check.args.train_file, check.args.sts_dir
    if dry:  # the code path, not the figure: a tiny random encoder, and 16 dev pairs keep the evaluations short
        work = Path(tempfile.mkdtemp(prefix="gpu-check-dry-"))
        backbone = write_bert_base_random(work / "bert", **DRY_RUN_SHAPE)
        train_file = REPO / "examples" / "data" / "wiki-sample-4k.txt.gz"
        dev = work / "dev"
        dev.mkdir()
        pairs = (REPO / "examples" / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8")
        (dev / "sts-dev.csv").write_text("".join(pairs.splitlines(keepends=True)[:16]), encoding="utf-8")
    results = {}
    for method in METHODS:
        out = Path(tempfile.mkdtemp(prefix=f"gpu-check-{method}-"))
        flags = ["--method", method, "--backbone", str(backbone), "--train_file", str(train_file),
                 "--dev_dir", str(dev), "--output_dir", str(out), "--max_steps", "2" if dry else "300",
                 "--eval_steps", "2" if dry else "100",
                 "--per_device_train_batch_size", "4" if dry else "64", "--bf16", "true", "--report_to", "none",
                 "--skip_raw_eval", "--disable_tqdm", "true", "--max_train_samples", "64" if dry else "20000"]
        if dry:  # the code path on any CPU, bf16 emulated or not (batch 4 of 16 tokens: emulated bf16 is slow)
            flags += ["--use_cpu", "true", "--max_length", "16"]
            os.environ[ALLOW_EMULATED_BF16] = "1"
        began = time.perf_counter()
        trainer = main(flags)
        results[method] = {"best_dev": trainer.state.best_metric, "steps": trainer.state.global_step,
                           "seconds": time.perf_counter() - began}
    return results


def run(argv=None) -> dict:
    check = Check(parse_args(argv))
    check.stage("environment", 0, environment)
    if "error" in check.results["stages"]["environment"]:
        check.write()
        return check.results
    check.stage("suite", 150, suite)
    check.stage("steps", 120, steps)
    check.stage("buckets", 40, buckets)
    check.stage("quality", 60, quality)
    check.results["finished"] = now()
    check.write()
    return check.results


if __name__ == "__main__":
    run()
