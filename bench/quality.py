#!/usr/bin/env python
"""STS quality of every method and objective on bert-mini-wiki under one fixed budget, resumable.

    python -m bench.quality --runs raw simcse sarcse recse --seeds 42 --max_steps 100 --eval_steps 50
    python -m bench.quality                      # the whole grid: every run x seeds 42 43 44, 300 steps
    python -m bench.quality --table              # only rebuild the table from bench/results/quality/*.json

Budget (the same for every run): wiki100k (``bench.common.WIKI100K``, in the ``shared/`` folder beside the
checkout), batch 64, max length 32, ``--max_steps`` steps (default 300), STS-B dev every ``--eval_steps`` (default
50) and the best dev checkpoint kept; then the 7 STS tasks (SentEval data, ``bench.common.SENTEVAL``; STS12-16
"all", STS-B and SICK-R test) on that checkpoint. ``--budget NAME`` adds one of the training budgets of
``trainers/presets.py`` (``TRAINING_BUDGETS``: gradient clipping, learning rate, warm-up). Each run goes through
``sentcse-train``'s own ``run`` (``--report_to none``, output under ``--work_dir``, deleted afterwards) and writes
``bench/results/quality/<run>_seed<seed>_steps<N>.json``; existing files are skipped (``--force`` redoes them), so
an interrupted grid continues where it stopped. The table is assembled from whatever exists: mean +- std over
seeds per task, and the [decision] comparisons (METHODS.md) on STS-B dev (mean over seeds of the best-checkpoint
dev Spearman; never a test set).

Runs: ``raw`` (the untrained backbone, mean pooling; no training), ``simcse``, ``sarcse``, ``recse`` (METHODS.md's
first [decision] defaults, pinned: SARCSE cnn_channels 256, reCSE reshape_source embeddings),
``simcse_avg`` (SimCSE with mean pooling: a control for SARCSE, whose embedding pools over the tokens),
SimCSE with each other objective (``arccon mpt met`` with SimCSE's settings; ``barlow_twins vicreg mhe mhs`` x
``orig mod`` with the gradient-paradigm paper's BERT settings: its objective hyperparameters, learning rate,
MLP without activation and frozen embeddings, but this budget's batch and steps), and the decision variants
``sarcse_cls`` (embedding_source cls), ``sarcse_c128`` (cnn_channels 128: the cheaper head), ``recse_matrix``
(sqrt matrix), ``recse_last_hidden`` (reshape_source last_hidden), ``recse_last_hidden_matrix`` (both: the sqrt
decision again with the new reshape_source default), ``sarcse_c128_linear`` (decoder_activation none, against
``sarcse_c128``); ``sarcse_c128`` and ``recse_last_hidden`` won on STS-B dev and are the defaults (the decision
table marks the current default). ``VARIANTS`` holds every other reading, one or two options changed each (the
reconstruction's weight, pooling and decoder input; the z head's own rate ``_hxK`` and warm-up ``_hwN``).

Another backbone's grid: ``--tag NAME --backbone FOLDER`` (results in ``bench/results/quality_NAME/``, its own
BENCHMARKS.md section; ``--tag mlm50m`` is the bundled backbone's, which also writes the head-grid tables).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
import traceback
from pathlib import Path

from bench.common import (
    REPO,
    RESULTS,
    SENTEVAL,
    WIKI100K,
    bert_mini_path,
    load_average,
    machine_info,
    markdown_table,
    now,
    quiet,
    update_section,
)
from sentcse.trainers.presets import TRAINING_BUDGETS
from sentcse.trainers.sts.tasks import DEV_TASK, TABLE_COLUMNS, TEST_TASKS

QUALITY_DIR = RESULTS / "quality"  # the bert-mini-wiki grid; --tag NAME: RESULTS / "quality_NAME"
TASKS = TEST_TASKS
COLUMNS = tuple(TABLE_COLUMNS[task] for task in TASKS)
DEV = DEV_TASK


def _flag_value(value) -> str:
    """A recipe value as a command-line flag, in its shortest spelling (1e-05 -> 1e-5, 0.0001 -> 1e-4, 0.0 -> 0)."""
    if not isinstance(value, float):
        return str(value)
    mantissa, exponent = f"{value:e}".split("e")
    return min(f"{value:g}", f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}", key=len)


# The training budgets (trainers/presets.py) as examples/train.py flags, added after a run's own
BUDGETS = {name: [flag for key, value in budget.items() for flag in (f"--{key}", _flag_value(value))]
           for name, budget in TRAINING_BUDGETS.items()}

# The [decision] options every SARCSE / reCSE run pins explicitly, so a result file keeps its meaning when a
# default changes (two did): the variants differ from these in one option each.
SARCSE_OPTIONS = {"embedding_source": "cnn", "cnn_channels": "256", "decoder_activation": "relu", "cnn_pooling": "max",
                  "reconstruction_reduction": "token", "theta": "0.1", "beta": "2.5e-4",
                  "gamma": "2.5e-4"}
RECSE_OPTIONS = {"sqrt": "signed", "reshape_source": "embeddings", "detach_reshape_source": "false"}
VARIANTS = {  # run -> (method, the options it changes)
    "sarcse_cls": ("sarcse", {"embedding_source": "cls"}),
    "sarcse_c128": ("sarcse", {"cnn_channels": "128"}),
    "recse_matrix": ("recse", {"sqrt": "matrix"}),
    "recse_last_hidden": ("recse", {"reshape_source": "last_hidden"}),
    "recse_last_hidden_matrix": ("recse", {"reshape_source": "last_hidden", "sqrt": "matrix"}),
    "sarcse_c128_linear": ("sarcse", {"cnn_channels": "128", "decoder_activation": "none"}),
    # the reconstruction's readings, each against sarcse_c128 (z, 128 channels, beta = gamma = 2.5e-4, token
    # reduction)
    "sarcse_c128_rec0": ("sarcse", {"cnn_channels": "128", "beta": "0", "gamma": "0"}),
    "sarcse_c128_rec2.5e-2": ("sarcse", {"cnn_channels": "128", "beta": "2.5e-2", "gamma": "2.5e-2"}),
    "sarcse_c128_rec2.5e-1": ("sarcse", {"cnn_channels": "128", "beta": "2.5e-1", "gamma": "2.5e-1"}),
    "sarcse_c128_rec2.5": ("sarcse", {"cnn_channels": "128", "beta": "2.5", "gamma": "2.5"}),
    "sarcse_c128_rec25": ("sarcse", {"cnn_channels": "128", "beta": "25", "gamma": "25"}),
    "sarcse_c128_cls": ("sarcse", {"cnn_channels": "128", "embedding_source": "cls"}),
    "sarcse_c128_meanpool": ("sarcse", {"cnn_channels": "128", "cnn_pooling": "mean"}),
    "sarcse_c128_fmaps": ("sarcse", {"cnn_channels": "128", "decoder_input": "feature_maps"}),
    "sarcse_c128_sentence": ("sarcse", {"cnn_channels": "128", "reconstruction_reduction": "sentence"}),
    "recse_last_hidden_w0.01": ("recse", {"reshape_source": "last_hidden", "reshape_weight": "0.01"}),
    "recse_last_hidden_detached": ("recse", {"reshape_source": "last_hidden", "detach_reshape_source": "true"}),
    "sarcse_c128_uniform": ("sarcse", {"cnn_channels": "128", "theta": "1.0"}),
    "sarcse_c128_cls_clsdec": ("sarcse", {"cnn_channels": "128", "embedding_source": "cls",
                                          "decoder_input": "sentence_embedding"}),
    # the paper's ablation shape around the [CLS] reading: without reconstruction, without self-adaptive weights
    "sarcse_c128_cls_rec0": ("sarcse", {"cnn_channels": "128", "embedding_source": "cls", "beta": "0", "gamma": "0"}),
    "sarcse_c128_cls_uniform": ("sarcse", {"cnn_channels": "128", "embedding_source": "cls", "theta": "1.0"}),
    # z with mean pooling over time and, on top, the heavier reconstruction or the feature-map decoder
    "sarcse_c128_meanpool_rec2.5e-1": ("sarcse", {"cnn_channels": "128", "cnn_pooling": "mean", "beta": "2.5e-1",
                                                  "gamma": "2.5e-1"}),
    "sarcse_c128_meanpool_fmaps": ("sarcse", {"cnn_channels": "128", "cnn_pooling": "mean",
                                              "decoder_input": "feature_maps"}),
    # z with its head trained at its own rate and/or alone first (hwN: N head warm-up steps with the backbone frozen;
    # hxK: the head at K times the adopted budget's rate, 1e-5)
    **{f"sarcse_c128{'_hw' + str(warmup) if warmup else ''}{'_hx' + str(times) if times > 1 else ''}{suffix}":
       ("sarcse", {"cnn_channels": "128", **options,
                   **({"head_warmup_steps": str(warmup)} if warmup else {}),
                   **({"head_learning_rate": f"{times}e-5"} if times > 1 else {})})
       for warmup in (0, 50, 150) for times in (1, 3, 10)
       for suffix, options in (("", {}), ("_meanpool", {"cnn_pooling": "mean"}))
       if warmup or times > 1},
    "sarcse_c128_cls_rec2.5e-1": ("sarcse", {"cnn_channels": "128", "embedding_source": "cls", "beta": "2.5e-1",
                                             "gamma": "2.5e-1"}),
}


def _option_flags(method: str, changed: dict) -> list:
    options = {**(SARCSE_OPTIONS if method == "sarcse" else RECSE_OPTIONS), **changed}
    return ["--method", method, *[f for key, value in options.items() for f in (f"--{key}", value)]]


def run_flags(name: str) -> list:
    """The examples/train.py flags of a run (on top of the common budget)."""
    if name == "simcse":
        return ["--method", "simcse"]
    if name in ("sarcse", "recse"):
        return _option_flags(name, {})
    if name in VARIANTS:
        return _option_flags(*VARIANTS[name])
    if name == "simcse_avg":
        return ["--method", "simcse", "--pooler", "avg"]
    if name in ("arccon", "mpt", "met"):
        return ["--method", "simcse", "--objective", name]
    objective, _, variant = name.rpartition("_")
    if variant in ("orig", "mod") and objective in ("barlow_twins", "vicreg", "mhe", "mhs"):
        return ["--method", "simcse", "--preset", f"bert-{variant}-{objective}"]
    raise ValueError(f"unknown run {name!r}")


TRAINED_RUNS = ["simcse", "simcse_avg", "sarcse", "recse", "arccon", "mpt", "met",
                *[f"{o}_{v}" for o in ("barlow_twins", "vicreg", "mhe", "mhs") for v in ("orig", "mod")],
                *VARIANTS]
ALL_RUNS = ["raw", *TRAINED_RUNS]
# [decision] comparisons on STS-B dev: (question, (method, option), base run, variant run); the variants that
# change one option are compared with their method's base run, recse_last_hidden_matrix with recse_last_hidden
DECISIONS = [(f"{'SARCSE' if method == 'sarcse' else 'reCSE'} {key}", (method, key), method, run)
             for run, (method, changed) in VARIANTS.items() if len(changed) == 1 for key in changed]
DECISIONS.append(("reCSE sqrt, with reshape_source last_hidden", ("recse", "sqrt"), "recse_last_hidden",
                  "recse_last_hidden_matrix"))
DECISIONS.append(("SARCSE decoder_activation, with cnn_channels 128", ("sarcse", "decoder_activation"), "sarcse_c128",
                  "sarcse_c128_linear"))
DECISIONS += [(f"SARCSE {key}, with cnn_channels 128", ("sarcse", key), "sarcse_c128", run)
              for run, (method, changed) in VARIANTS.items()
              if method == "sarcse" and len(changed) == 2 and changed.get("cnn_channels") == "128"
              and not {"head_warmup_steps", "head_learning_rate"} & set(changed)  # training options: section 5e
              and run not in ("sarcse_c128_linear", "sarcse_c128_cls_clsdec", "sarcse_c128_cls_rec0",
                              "sarcse_c128_cls_uniform")
              for key in [next(k for k in changed if k != "cnn_channels")]]
DECISIONS.append(("reCSE reshape_weight, with reshape_source last_hidden", ("recse", "reshape_weight"),
                  "recse_last_hidden", "recse_last_hidden_w0.01"))
DECISIONS.append(("reCSE detach_reshape_source, with reshape_source last_hidden", ("recse", "detach_reshape_source"),
                  "recse_last_hidden", "recse_last_hidden_detached"))
DECISIONS.append(("SARCSE decoder_input, with embedding_source cls", ("sarcse", "decoder_input"), "sarcse_c128_cls",
                  "sarcse_c128_cls_clsdec"))
DECISIONS.append(("SARCSE beta (reconstruction on/off), with embedding_source cls", ("sarcse", "beta"),
                  "sarcse_c128_cls", "sarcse_c128_cls_rec0"))
DECISIONS.append(("SARCSE theta (self-adaptive weights on/off), with embedding_source cls", ("sarcse", "theta"),
                  "sarcse_c128_cls", "sarcse_c128_cls_uniform"))


def _decision_label(method: str, key: str, run: str) -> str:
    """The option's value in ``run``, marked "(default)" when it is the config's current default."""
    from sentcse.modeling import ReCseConfig, SarcseConfig

    base = SARCSE_OPTIONS if method == "sarcse" else RECSE_OPTIONS
    default = getattr((SarcseConfig if method == "sarcse" else ReCseConfig)(), key)
    value = VARIANTS[run][1].get(key, base.get(key, str(default))) if run in VARIANTS else base.get(key, str(default))
    same = str(default) == value or (isinstance(default, float) and float(value) == default)
    return f"{value} (default)" if same else value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", default=ALL_RUNS, choices=ALL_RUNS)
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    p.add_argument("--max_steps", type=int, default=300)
    p.add_argument("--eval_steps", type=int, default=50)
    p.add_argument("--budget", default="default", choices=sorted(BUDGETS),
                   help="the training budget on top of steps/batch: " + "; ".join(
                       f"{name}: {' '.join(flags) or 'the Trainer defaults (max_grad_norm 1.0), each run its own lr'}"
                       for name, flags in BUDGETS.items()))
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--backbone", default=None, help="default: the shared bert-mini-wiki")
    p.add_argument("--tag", default="", help="another backbone's grid (with --backbone): its results go to "
                   "bench/results/quality_TAG/ and to their own BENCHMARKS.md section")
    p.add_argument("--train_file", default=str(WIKI100K))
    p.add_argument("--sts_dir", default=str(SENTEVAL))
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--bf16", action="store_true", help="train under bf16 autocast (the Trainer's --bf16; where the "
                   "CPU has AMX or avx512_bf16, or on a GPU); recorded in each run's budget")
    p.add_argument("--work_dir", default="/tmp/sentcse-quality")
    p.add_argument("--force", action="store_true", help="redo runs whose JSON exists")
    p.add_argument("--table", action="store_true", help="only rebuild the table from the existing JSON files")
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def results_dir(tag: str = "") -> Path:
    return RESULTS / f"quality_{tag}" if tag else QUALITY_DIR


def result_path(name: str, seed, max_steps: int, folder: Path = QUALITY_DIR, budget: str = "default") -> Path:
    suffix = "" if budget == "default" else f"_{budget}"
    return folder / (f"{name}.json" if name == "raw" else f"{name}_seed{seed}_steps{max_steps}{suffix}.json")


def _scores(results: dict) -> dict:
    return {task: results["tasks"][task]["spearman"] for task in (*TASKS, DEV) if task in results["tasks"]}


def do_raw(args, backbone: str) -> dict:
    from sentcse.trainers.sts import StsEvaluator, raw_backbone_results

    start = time.perf_counter()
    results = raw_backbone_results(backbone, StsEvaluator(sts_dir=args.sts_dir), {"avg": "avg"})["avg"].to_dict()
    return {"run": "raw", "seed": None, "pooler": "avg", "scores": _scores(results), "best_dev": _scores(results)[DEV],
            "seconds": time.perf_counter() - start}


def budget_flags(args) -> list:
    """The common budget of this benchmark as examples/train.py flags."""
    return ["--train_file", args.train_file, "--per_device_train_batch_size", str(args.batch_size),
            "--max_steps", str(args.max_steps), "--eval_steps", str(args.eval_steps),
            "--save_steps", str(args.eval_steps),
            *(["--bf16", "true", *([] if _cuda() else ["--use_cpu", "true"])] if args.bf16 else []),
            *BUDGETS[args.budget]]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def train_run(name: str, seed: int, backbone: str, budget: list, work_dir: str, sts_dir, step_times=None,
              dev_dir=None) -> dict:
    """One examples/train.py run (``run_flags(name)`` + ``budget``); returns its record; deletes its output folder
    once the run is complete. An output folder left by an interrupted run of the same flags is resumed from its last
    checkpoint (``--resume_from_checkpoint last``); one of other flags is started again.

    ``sts_dir``: SentEval folder for the final 7-task table (None: dev only); ``dev_dir``: STS-B dev (default
    ``sts_dir``). ``step_times``: a list that receives the wall time of every optimizer step
    (``bench.timing.StepTimer``: evaluation and checkpoints excluded).
    """
    from bench.timing import StepTimer
    from sentcse.trainers.cli import train as train_cli
    from sentcse.trainers.cli.arguments import UsageError

    out = Path(work_dir) / f"{name}_seed{seed}"
    argv = [
        *run_flags(name), "--backbone", backbone, "--max_length", "32", *budget,
        "--dev_dir", dev_dir or sts_dir, *(["--sts_dir", sts_dir] if sts_dir else []), "--skip_raw_eval", "true",
        "--output_dir", str(out), "--report_to", "none", "--seed", str(seed), "--logging_steps", "10",
        "--disable_tqdm", "true",
    ]
    resume = ["--resume_from_checkpoint", "last"] if any(out.glob("checkpoint-*")) else []
    if resume:
        print(f"[quality] {out}: resuming from its last checkpoint", flush=True)
    else:
        shutil.rmtree(out, ignore_errors=True)
    callbacks = [StepTimer(step_times)] if step_times is not None else []
    start = time.perf_counter()
    try:
        trainer = train_cli.run([*argv, *resume], callbacks=callbacks)
    except UsageError:
        if not resume:
            raise
        print(f"[quality] {out}: no checkpoint of this run to resume; starting again", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        trainer = train_cli.run(argv, callbacks=callbacks)
    sts_file = out / "sts_results.json"  # absent when sts_dir has no STS/ folder (dev-only data)
    results = json.loads(sts_file.read_text()) if sts_file.is_file() else {"tasks": {}}
    history = [{"step": h["step"], "stsb_dev": h["eval_stsb_spearman"],
                **{k: h[f"eval_stsb_{k}"] for k in ("alignment", "uniformity") if f"eval_stsb_{k}" in h}}
               for h in trainer.state.log_history if "eval_stsb_spearman" in h]
    train_log = [h for h in trainer.state.log_history if "loss" in h]
    record = {
        "run": name, "seed": seed, "flags": argv, "scores": _scores(results),
        "best_dev": trainer.state.best_metric, "best_checkpoint_step": _step_of(trainer.state.best_model_checkpoint),
        "dev_curve": history, "train_log": train_log, "global_step": trainer.state.global_step,
        "seconds": time.perf_counter() - start,
    }
    shutil.rmtree(out, ignore_errors=True)  # a complete run's checkpoints are not kept
    return record


def do_train(args, name: str, seed: int, backbone: str) -> dict:
    return train_run(name, seed, backbone, budget_flags(args), args.work_dir, args.sts_dir)


def _step_of(checkpoint):
    if not checkpoint:
        return None
    try:
        return int(str(checkpoint).rstrip("/").rsplit("-", 1)[-1])
    except ValueError:
        return None


def run_grid(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    backbone = args.backbone or bert_mini_path()
    folder = results_dir(args.tag)
    folder.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    for name in args.runs:
        for seed in ([None] if name == "raw" else args.seeds):
            path = result_path(name, seed, args.max_steps, folder, args.budget)
            if path.exists() and not args.force:
                print(f"[quality] {path.name} exists, skipped", flush=True)
                continue
            print(f"[quality] {name} seed {seed}: start ({now()}, load {load_average()})", flush=True)
            load_start, date = load_average(), now()
            try:
                record = do_raw(args, backbone) if name == "raw" else do_train(args, name, seed, backbone)
            except Exception:  # noqa: BLE001  (one failed run must not stop the grid)
                traceback.print_exc()
                print(f"[quality] {name} seed {seed}: FAILED", flush=True)
                continue
            record.update({"backbone": backbone, "date": date, "load_average_start": load_start,
                           "load_average_end": load_average(), "machine": machine,
                           "budget": {"max_steps": args.max_steps, "eval_steps": args.eval_steps,
                                      "batch_size": args.batch_size, "max_length": 32, "train_file": args.train_file,
                                      "bf16": args.bf16, "budget": args.budget, "budget_flags": BUDGETS[args.budget]}})
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=2) + "\n")
            tmp.replace(path)
            avg = _avg(record["scores"])
            print(f"[quality] {name} seed {seed}: avg {avg:.2f}, best dev {record['best_dev']:.2f} "
                  f"({record['seconds']:.0f} s) -> {path.relative_to(REPO)}", flush=True)


# ------------------------------------------------------------------------------------------------------ table
def _avg(scores: dict) -> float:
    from sentcse.trainers.sts import seven_task_average

    average = seven_task_average(scores)
    return math.nan if average is None else average


def _mean_std(values):
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, std


def _cell(values, digits=2):
    mean, std = _mean_std(values)
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def load_records(folder: Path = QUALITY_DIR) -> list:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def budget_of(record: dict) -> str:
    return record.get("budget", {}).get("budget", "default")


def run_label(name: str, budget: str) -> str:
    return name if budget == "default" else f"{name} [{budget}]"


def at_best(record: dict, key: str) -> float:
    """``key`` (alignment, uniformity) at the run's best checkpoint, from its dev curve (nan where not logged)."""
    for entry in record.get("dev_curve", []):
        if entry["step"] == record.get("best_checkpoint_step") and key in entry:
            return entry[key]
    return math.nan


def paired(records: list, reference: list, value) -> str:
    """Mean ± std over the shared seeds of ``value(record) - value(reference record)`` (same seed, same budget)."""
    by_seed = {r["seed"]: r for r in reference}
    diffs = [value(r) - value(by_seed[r["seed"]]) for r in records if r["seed"] in by_seed]
    diffs = [d for d in diffs if not math.isnan(d)]
    return f"{_cell(diffs)} (n={len(diffs)})" if diffs else "-"


def build_table(records: list) -> tuple:
    groups = {}
    for r in records:
        key = ("raw", None, "default") if r["run"] == "raw" else (r["run"], r["budget"]["max_steps"], budget_of(r))
        groups.setdefault(key, []).append(r)
    order = {name: i for i, name in enumerate(ALL_RUNS)}
    keys = sorted(groups, key=lambda k: (k[2] != "default", k[2], order.get(k[0], 99), k[1] or 0))
    rows, paired_rows, summary = [], [], {}
    for key in keys:
        recs = groups[key]
        name, steps, budget = key
        seeds = sorted(r["seed"] for r in recs if r["seed"] is not None)
        cells = [_cell([r["scores"][t] for r in recs if t in r["scores"]]) for t in TASKS]
        avgs = [_avg(r["scores"]) for r in recs]
        devs = [r["best_dev"] for r in recs]
        geometry = {k: [v for v in (at_best(r, k) for r in recs) if not math.isnan(v)]
                    for k in ("alignment", "uniformity")}
        label = "raw backbone (mean pooling, untrained)" if name == "raw" else run_label(name, budget)
        rows.append([label, "-" if name == "raw" else str(steps), ", ".join(map(str, seeds)) or "-", *cells,
                     _cell([a for a in avgs if not math.isnan(a)]), _cell(devs),
                     _cell(geometry["alignment"], 3), _cell(geometry["uniformity"], 3)])
        simcse = groups.get(("simcse", steps, budget), [])
        if name not in ("raw", "simcse") and simcse:
            paired_rows.append([label, str(steps), paired(recs, simcse, lambda r: r["best_dev"]),
                                paired(recs, simcse, lambda r: _avg(r["scores"]))])
        summary[f"{name}@{steps}" + ("" if budget == "default" else f"[{budget}]") if steps else name] = {
            "seeds": seeds, "tasks": {t: _mean_std([r["scores"][t] for r in recs if t in r["scores"]]) for t in TASKS},
            "avg": _mean_std([a for a in avgs if not math.isnan(a)]), "best_dev": _mean_std(devs),
            **{k: _mean_std(v) for k, v in geometry.items()}}
    table = markdown_table(["run", "steps", "seeds", *COLUMNS, "Avg", "STS-B dev (best ckpt)", "align (dev)",
                            "uniform (dev)"], rows)
    paired_table = markdown_table(["run", "steps", "STS-B dev - SimCSE's (same seeds)", "Avg - SimCSE's (same seeds)"],
                                  paired_rows) if paired_rows else "(no run shares seeds and budget with SimCSE yet)"
    decisions = []
    for question, (method, key), run_a, run_b in DECISIONS:
        label_a, label_b = _decision_label(method, key, run_a), _decision_label(method, key, run_b)
        for steps, budget in sorted({k[1:] for k in groups if k[0] in (run_a, run_b)}):
            a, b = groups.get((run_a, steps, budget), []), groups.get((run_b, steps, budget), [])
            dev_a, dev_b = [r["best_dev"] for r in a], [r["best_dev"] for r in b]
            if not a or not b:
                verdict = f"incomplete (have: {run_a} x{len(a)}, {run_b} x{len(b)})"
            else:
                (ma, sa), (mb, sb) = _mean_std(dev_a), _mean_std(dev_b)
                if len(a) < 2 or len(b) < 2:
                    verdict = f"diff {mb - ma:+.2f}; one seed: cannot be judged"
                else:
                    spread = max(sa, sb)
                    verdict = f"diff {mb - ma:+.2f} vs seed std {spread:.2f}: " + (
                        "beyond the seed spread" if abs(mb - ma) > 2 * spread
                        else "within the seed spread (no decision)")
            decisions.append([question, run_label(str(steps), budget), f"{label_a}: {_cell(dev_a)}",
                              f"{label_b}: {_cell(dev_b)}", verdict])
    decision_table = markdown_table(["decision", "steps [budget]", "option A (STS-B dev)", "option B (STS-B dev)",
                                     "reading"], decisions) if decisions else "(no decision run yet)"
    return table, decision_table, paired_table, summary


def build_curve_table(records: list, max_steps: int) -> str:
    """STS-B dev at every evaluation, mean over the seeds, for the runs at ``max_steps`` (where the best checkpoint
    lies: early for a run that only loses what the backbone had, late for one that learns), one row per budget."""
    groups = {}
    for r in records:
        if r["run"] != "raw" and r["budget"]["max_steps"] == max_steps and r.get("dev_curve"):
            groups.setdefault((r["run"], budget_of(r)), []).append(r)
    if not groups:
        return "(no run at this budget yet)"
    order = {name: i for i, name in enumerate(ALL_RUNS)}
    steps = sorted({h["step"] for recs in groups.values() for r in recs for h in r["dev_curve"]})
    rows = []
    for name, budget in sorted(groups, key=lambda k: (k[1] != "default", k[1], order.get(k[0], 99))):
        recs = groups[(name, budget)]
        # the trainer's last evaluation is logged twice (the step's eval and the final one): keep the first per step
        curves = [{h["step"]: h["stsb_dev"] for h in reversed(r["dev_curve"])} for r in recs]
        cells = [f"{_mean_std([c[step] for c in curves if step in c])[0]:.2f}"
                 if any(step in c for c in curves) else "-" for step in steps]
        rows.append([run_label(name, budget), str(len(recs)), *cells])
    return markdown_table(["run", "seeds", *[f"dev @ {step}" for step in steps]], rows)


# The z reading with its head trained (hwN / hxK variants) and its references, one budget
HEAD_GRID_BUDGET = "noclip_lr1e-5"
HEAD_GRID_REFERENCES = ("sarcse_c128", "sarcse_c128_meanpool", "sarcse_c128_rec2.5e-1", "sarcse_c128_fmaps",
                        "sarcse_c128_meanpool_rec2.5e-1", "sarcse_c128_meanpool_fmaps")

# Published unsupervised SimCSE on Google's small BERTs (7-task average; per-task rows where published), for the
# anchor table: ConGen's README ("Main results - STS", each the average of three models) and the per-task runs of
# the authors' notebook (notebook/SentEval STS-EMNLP2022.ipynb, [CLS], Wiki1M, two seeds each).
PUBLISHED_SIMCSE = [
    ("BERT-Tiny (4M), ConGen README, 3 models", None, 64.47),
    ("BERT-Mini (11M), ConGen README, 3 models", None, 65.94),
    ("BERT-Small (29M), ConGen README, 3 models", None, 69.13),
    ("BERT-Mini, authors' notebook, seed 1", (59.38, 65.53, 59.11, 72.67, 69.63, 61.02, 62.20), 64.22),
    ("BERT-Mini, authors' notebook, seed 2", (57.55, 66.59, 59.47, 72.53, 69.90, 60.79, 61.71), 64.08),
    ("BERT-Small, authors' notebook, seed 1", (55.75, 66.86, 60.07, 72.17, 69.25, 60.54, 63.18), 63.97),
    ("BERT-Small, authors' notebook, seed 2", (57.09, 66.03, 59.95, 72.64, 69.88, 61.87, 63.98), 64.49),
]
ANCHOR_RUNS = (("simcse", "SimCSE"), ("sarcse_c128_cls", "SARCSE, [CLS] (default)"),
               ("recse_last_hidden", "reCSE (default)"))


def _precision(records: list) -> str:
    return " / ".join(sorted({"bf16" if r["budget"].get("bf16") else "fp32" for r in records}))


def _head_grid_runs(records: list, steps: int = 300) -> dict:
    groups = {}
    for r in records:
        name = r["run"]
        if budget_of(r) == HEAD_GRID_BUDGET and r["budget"]["max_steps"] == steps and (
                name in HEAD_GRID_REFERENCES or name == "simcse" or "_hw" in name or "_hx" in name):
            groups.setdefault(name, []).append(r)
    return groups


def build_head_table(records: list) -> str:
    """The z reading with its head trained at its own rate and/or alone first, paired to z's plain run and to
    SimCSE on the same seeds."""
    groups = _head_grid_runs(records)
    if "sarcse_c128" not in groups:
        return "(no z run yet)"
    order = sorted((n for n in groups if n != "simcse"), key=lambda n: (n not in HEAD_GRID_REFERENCES, n))
    rows = []
    for name in order:
        recs = groups[name]
        rows.append([name, ", ".join(str(r["seed"]) for r in sorted(recs, key=lambda r: r["seed"])), _precision(recs),
                     _cell([r["best_dev"] for r in recs]),
                     paired(recs, groups["sarcse_c128"], lambda r: r["best_dev"]) if name != "sarcse_c128" else "-",
                     paired(recs, groups.get("simcse", []), lambda r: r["best_dev"]),
                     ", ".join(str(r.get("best_checkpoint_step")) for r in recs),
                     _cell([_avg(r["scores"]) for r in recs]),
                     f"{_cell([at_best(r, 'alignment') for r in recs], 3)} / "
                     f"{_cell([at_best(r, 'uniformity') for r in recs], 3)}"])
    return markdown_table(["run", "seeds", "precision", "best STS-B dev", "dev - z's (same seeds)",
                           "dev - SimCSE's (same seeds)", "step of the best", "7-task Avg", "align / uniform (best)"],
                          rows)


def build_anchor_table(records: list, extra: tuple = ()) -> str:
    """The 7 tasks of each method's best reading at the adopted budget beside the published small-BERT SimCSE."""
    by_run = {}
    for r in records:
        if r["run"] == "raw" or (budget_of(r) == HEAD_GRID_BUDGET and r["budget"]["max_steps"] == 300):
            by_run.setdefault(r["run"], []).append(r)
    rows = []
    for name, label in (("raw", "raw backbone, mean pooling (untrained)"), *ANCHOR_RUNS, *extra):
        recs = by_run.get(name, [])
        if recs:
            seeds = ", ".join(str(r["seed"]) for r in recs if r["seed"] is not None)
            rows.append([f"sentcse {label}" + (f" (seeds {seeds}; {_precision(recs)})" if seeds else ""),
                         *[_cell([r["scores"][t] for r in recs]) for t in TASKS],
                         _cell([_avg(r["scores"]) for r in recs])])
    for label, tasks, average in PUBLISHED_SIMCSE:
        rows.append([f"reported SimCSE, {label}", *([f"{v:.2f}" for v in tasks] if tasks else ["-"] * len(TASKS)),
                     f"{average:.2f}"])
    return markdown_table(["model", *COLUMNS, "Avg"], rows)


def _section_letter(tag: str) -> str:
    """5b, 5c, ...: the tagged grids in the order of their names."""
    tags = sorted(folder.name[len("quality_"):] for folder in RESULTS.glob("quality_*/"))
    return "bcdefghijklmnopqrstuvwxyz"[tags.index(tag)]


def write_table(args) -> None:
    folder = results_dir(args.tag)
    records = load_records(folder)
    table, decision_table, paired_table, summary = build_table(records)
    files = sorted(p.name for p in folder.glob("*.json"))
    path = RESULTS / f"{folder.name}.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    if (saved.get("runs"), saved.get("files")) != (json.loads(json.dumps(summary)), files):  # else keep its date
        summary_record = {"benchmark": "quality", "date": now(), "machine": machine_info(), "runs": summary,
                          "files": files}
        path.write_text(json.dumps(summary_record, indent=2) + "\n")
    print(table)
    print(decision_table)
    if args.no_markdown:
        return
    loads = sorted({(r.get("load_average_start") or [None])[0] for r in records if r.get("load_average_start")})
    dates = sorted({r.get("date", "")[:10] for r in records})
    default = parse_args([])
    curve_table = build_curve_table(records, default.max_steps)
    seeds_at_default = {n: {r["seed"] for r in records
                            if r["run"] == n and r["budget"]["max_steps"] == default.max_steps}
                        for n in ALL_RUNS if n != "raw"}
    missing = [n for n, seeds in seeds_at_default.items() if not seeds >= set(default.seeds)]
    backbones = sorted({Path(r["backbone"]).name for r in records if r.get("backbone")})
    precisions = sorted({"bf16 autocast" if r["budget"].get("bf16") else "fp32" for r in records if r["run"] != "raw"})
    title = ("## 5. STS quality under one fixed budget on bert-mini-wiki, the first bundled backbone "
             "(`bench/quality.py`)" if not args.tag else
             f"### 5{_section_letter(args.tag)}. STS quality under the same budget on `{args.tag}` "
             f"(`bench/quality.py --tag {args.tag}`; backbone folder {', '.join(backbones) or '-'})")
    lines = [
        title, "",
        *([f"- This grid: `python -m bench.quality --tag {args.tag} --backbone FOLDER --runs ... --seeds ...`, on the "
           "default grid's budget below; its own results in "
           f"`bench/results/quality_{args.tag}/`."] if args.tag else []),
        f"- Machine: see sections 1-4 (runs recorded in `bench/results/{folder.name}/*.json`, each with its machine "
        f"and load average); run dates {', '.join(dates) or '-'}; 1-min load average at the start of the runs "
        f"{min(loads) if loads else '-'}-{max(loads) if loads else '-'}.",
        f"- Budget: {'the backbone above' if args.tag else 'bert-mini-wiki'}, wiki100k, batch 64, max length 32, the "
        "given number of steps, STS-B dev every `--eval_steps` steps, training in "
        f"{' and '.join(precisions) or 'fp32'}, best dev checkpoint; then STS12-16 ('all'), STS-B test, SICK-R test "
        "(Spearman x100, SentEval data). Cells: mean ± std over the seeds (a single seed shows the value only).",
        "- Reproduce: the grid `python -m bench.quality` (every run x seeds 42 43 44, 300 steps; existing result files "
        "are skipped, `--runs NAME ...` picks runs), the table alone `python -m bench.quality --table`; the one-seed "
        "rows: `--seeds 42 --max_steps 100 --eval_steps 50` (or `--max_steps 50 --eval_steps 25`).",
        f"- Not yet complete at the default budget ({default.max_steps} steps x seeds "
        f"{' '.join(map(str, default.seeds))}): {', '.join(missing) if missing else 'none'}.",
        "",
        table,
        "",
        "Paired differences to SimCSE on the same seeds and budget (mean ± std over the shared seeds):",
        "",
        paired_table,
        "",
        "[decision] comparisons (METHODS.md), on STS-B dev only (mean over seeds of the best-checkpoint dev Spearman):",
        "",
        decision_table,
        "",
        f"STS-B dev at each evaluation, mean over the seeds ({default.max_steps}-step runs):",
        "",
        curve_table,
    ]
    update_section(folder.name, "\n".join(lines))


def write_head_tables(args) -> None:
    """The z head grid and the 7-task anchor table (their reading is written by hand below them)."""
    records = load_records(results_dir(args.tag))
    best_z = max((n for n in _head_grid_runs(records) if n.startswith("sarcse_c128")),
                 key=lambda n: _mean_std([r["best_dev"] for r in _head_grid_runs(records)[n]])[0], default=None)
    extra = (((best_z, f"SARCSE, z ({best_z})"),) if best_z else ())
    body = "\n".join([
        f"The z reading's head grid (`--budget {HEAD_GRID_BUDGET}`, 300 steps, dev every 25): `hwN` trains the head "
        "alone for the first N steps (`--head_warmup_steps N`, the backbone frozen), `hxK` trains it at K times the "
        "budget's rate (`--head_learning_rate`); differences paired on the same seeds.", "",
        build_head_table(records), "",
        "Each method's reading at the adopted budget on the seven tasks, beside the reported SimCSE on Google's small "
        "BERTs (the best z row is the head grid's best on STS-B dev):", "",
        build_anchor_table(records, extra),
    ])
    update_section(f"{results_dir(args.tag).name}_head", body)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    if not args.table:
        run_grid(args)
    write_table(args)
    if not args.no_markdown and args.tag == "mlm50m":
        write_head_tables(args)


if __name__ == "__main__":
    main()
