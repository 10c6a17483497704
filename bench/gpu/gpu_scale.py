#!/usr/bin/env python
"""Paper-scale runs on a GPU: SimCSE / SARCSE / reCSE x 3 seeds on the bundled bert-mini-wiki-mlm50m
(``--backbone``), wiki1m, 1 epoch, bf16.

    python -m bench.gpu.gpu_scale                 # needs CUDA; otherwise says so and exits 0
    python -m bench.gpu.gpu_scale --runs simcse --seeds 42 --timing_only

Two parts, both only when ``torch.cuda.is_available()``:

1. GPU step times: the three methods' CseTrainer steps (``bench.steps.trainer_step``: interleaving needs steps run
   by hand; bf16 autocast as the Trainer does it, batch 64, max length 32), interleaved step by step after a
   warm-up, ``torch.cuda.synchronize()`` around each; plus ``torch.cuda.max_memory_allocated`` of a training step
   per method, each measured alone on the device.
2. Quality at the SimCSE recipe's scale: each (method, seed) through ``sentcse-train``'s ``run`` (wiki1m, 1 epoch,
   batch 64, lr 3e-5, bf16, STS-B dev every 125 steps, best checkpoint, then the 7 STS tasks; ``bench.quality``'s
   ``train_run``), one JSON per run in ``bench/results/gpu_scale/`` (resumable: existing files are skipped), with
   the wall time of every optimizer step (``bench.timing.StepTimer``; evaluation excluded). The table (``--table``
   rebuilds it) goes to BENCHMARKS.md.

On a GPU machine reached by short calls (a copy of the repository, at most 64 MiB carried, minutes of device time)
the full plan (9 runs x 15.6k steps) does not fit. Carry the data in an ignored folder and
shrink the budget, e.g. ``mkdir -p .gpu-data && cp -r ../shared/data/senteval .gpu-data/ && zcat
../shared/data/wiki/wiki1m.txt.gz | head -n 200000 | gzip > .gpu-data/wiki200k.txt.gz`` here (about 12 MiB), then
there ``python -m bench.gpu.gpu_scale --train_file .gpu-data/wiki200k.txt.gz --sts_dir .gpu-data/senteval --seeds 42
--max_train_samples 200000``; the budget used is recorded with every result.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from bench.common import (
    BUNDLED_BACKBONE,
    RESULTS,
    SENTEVAL,
    WIKI1M,
    Run,
    fmt_ms,
    fmt_ratio,
    header_lines,
    interleaved,
    load_average,
    machine_info,
    markdown_table,
    now,
    quiet,
    ratios,
    read_sentences,
    summarize,
    update_section,
)

GPU_DIR = RESULTS / "gpu_scale"
METHODS = ["simcse", "sarcse", "recse"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", default=METHODS, choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    p.add_argument("--backbone", default=str(BUNDLED_BACKBONE))
    p.add_argument("--train_file", default=str(WIKI1M))
    p.add_argument("--sts_dir", default=str(SENTEVAL))
    p.add_argument("--eval_steps", type=int, default=125)
    p.add_argument("--max_train_samples", type=int, default=None, help="first N corpus sentences (default: all)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--timing_only", action="store_true")
    p.add_argument("--table", action="store_true", help="only rebuild the table from bench/results/gpu_scale/")
    p.add_argument("--work_dir", default="/tmp/sentcse-gpu-scale")
    p.add_argument("--force", action="store_true")
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def step_timing(args) -> dict:
    import gc

    import torch

    from bench.steps import sentcse_trainer, trainer_step

    rounds = args.warmup + args.repeats
    sentences = read_sentences(64 * rounds, path=Path(args.train_file))
    batches = [sentences[i * 64:(i + 1) * 64] for i in range(rounds)]
    memory = {}
    for method in args.runs:  # each method alone on the device: its peak is its own
        trainer, collate = sentcse_trainer(args.backbone, method, sentences, bf16=True)
        trainer_step(trainer, collate(batches[0]))  # optimizer state allocated, as in training
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        trainer_step(trainer, collate(batches[1]))
        torch.cuda.synchronize()
        memory[method] = torch.cuda.max_memory_allocated() / 2**20
        del trainer
        gc.collect()
        torch.cuda.empty_cache()
    trainers, inputs = {}, {}
    for method in args.runs:
        trainer, collate = sentcse_trainer(args.backbone, method, sentences, bf16=True)
        trainers[method] = trainer
        inputs[method] = [collate(b) for b in batches]

    def make(method):
        def fn(r):
            torch.cuda.synchronize()
            trainer_step(trainers[method], inputs[method][r])
            torch.cuda.synchronize()
        return fn

    times = interleaved({m: make(m) for m in args.runs}, args.warmup, args.repeats, log=False)
    return {"seconds": {m: summarize(t) for m, t in times.items()}, "ratio_to_simcse": ratios(times, args.runs[0]),
            "max_memory_allocated_mib": memory, "raw_seconds": times}


def quality_runs(args) -> None:
    from bench import quality

    GPU_DIR.mkdir(parents=True, exist_ok=True)
    budget = ["--train_file", args.train_file, "--num_train_epochs", "1", "--per_device_train_batch_size", "64",
              "--learning_rate", "3e-5", "--bf16", "true", "--eval_steps", str(args.eval_steps),
              "--save_steps", str(args.eval_steps),
              *(["--max_train_samples", str(args.max_train_samples)] if args.max_train_samples else [])]
    machine = machine_info()
    for method in args.runs:
        for seed in args.seeds:
            path = GPU_DIR / f"{method}_seed{seed}.json"
            if path.exists() and not args.force:
                print(f"[gpu_scale] {path.name} exists, skipped", flush=True)
                continue
            print(f"[gpu_scale] {method} seed {seed}: start ({now()})", flush=True)
            step_times: list = []
            date, load = now(), load_average()
            try:
                record = quality.train_run(method, seed, args.backbone, budget, args.work_dir, args.sts_dir, step_times)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                continue
            record.update({"date": date, "load_average_start": load, "load_average_end": load_average(),
                           "machine": machine, "step_seconds": summarize(step_times), "budget": budget})
            path.write_text(json.dumps(record, indent=2) + "\n")


def _flag(record: dict, name: str):
    """The value of a train.py flag in a run's recorded budget (None when absent)."""
    budget = record["budget"]
    return budget[budget.index(name) + 1] if name in budget else None


def write_table(args, timing: dict = None) -> None:
    from bench import quality

    records = [json.loads(p.read_text()) for p in sorted(GPU_DIR.glob("*.json"))] if GPU_DIR.is_dir() else []
    lines = ["## 6. Paper scale on a GPU (`bench/gpu/gpu_scale.py`)", ""]
    if timing:
        lines += header_lines(timing)
        rows = [[m, fmt_ms(timing["timing"]["seconds"][m], 1), fmt_ratio(timing["timing"]["ratio_to_simcse"][m]),
                 f"{timing['timing']['max_memory_allocated_mib'][m]:.0f}"] for m in timing["timing"]["seconds"]]
        lines += ["", "GPU step time (bf16, batch 64, max length 32, interleaved):", "",
                  markdown_table(["method", "step ms, median [IQR]", "ratio to SimCSE", "CUDA max allocated MiB"],
                                 rows), ""]
    if records:
        table, _, _ = quality.build_table([{**r, "budget": {"max_steps": "1 epoch"}} for r in records])
        steps = {r["run"]: [] for r in records}
        for r in records:
            steps[r["run"]].append(r["step_seconds"]["median"] * 1e3)
        corpus = ", ".join(sorted({Path(_flag(r, "--train_file")).name + (f" (first {_flag(r, '--max_train_samples')} "
                                   "sentences)" if _flag(r, "--max_train_samples") else "") for r in records}))
        every = ", ".join(sorted({str(_flag(r, "--eval_steps")) for r in records}))
        lines += [f"Quality ({corpus}, 1 epoch, bf16, STS-B dev every {every} steps, best checkpoint):", "", table, "",
                  "Median optimizer-step time per run (ms): "
                  + "; ".join(f"{k}: {', '.join(f'{v:.1f}' for v in vs)}" for k, vs in steps.items())]
    if not timing and not records:
        lines += [f"- Not run: no CUDA device was available ({now()}; this task had no GPU lent). "
                  "Reproduce on a GPU machine: `python -m bench.gpu.gpu_scale` (then `--table`)."]
    update_section("gpu_scale", "\n".join(lines))


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch

    if args.table:
        write_table(args)
        return
    if not torch.cuda.is_available():
        print("gpu_scale: no CUDA device available; nothing to do (run this on a GPU machine).")
        if not args.no_markdown and not (GPU_DIR.is_dir() and any(GPU_DIR.glob("*.json"))):
            write_table(args)
        return
    run = Run("gpu_scale", sys.argv[1:] if argv is None else argv)
    timing = run.finish({"args": vars(args), "timing": step_timing(args)})
    if not args.timing_only:
        quality_runs(args)
    if not args.no_markdown:
        write_table(args, timing)


if __name__ == "__main__":
    main()
