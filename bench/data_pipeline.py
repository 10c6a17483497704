"""The input pipeline against the training step, and memory that does not grow with the corpus.

    python -m bench.data_pipeline                  # everything below; writes bench/results/data_pipeline.json
    python -m bench.data_pipeline --parts rss      # only the peak-RSS / start-up runs

1. **Peak RSS and start-up.** A 2-step ``sentcse-train`` run (SimCSE, bert-mini-wiki, batch 64) on wiki100k and on
   a 5-million-line corpus (wiki1m repeated five times, built once under ``--work_dir``), each process reporting
   its own peak RSS (``ru_maxrss``) and the time ``load_corpus`` took: with one process, then with two
   (``accelerate launch --num_processes 2``). The large corpus runs twice on one process: first with an empty
   ``datasets`` cache (the conversion), then from the cache; and streamed (``--streaming``) on one and two.
2. **Throughput.** Sentences per second the pipeline delivers (random-access reads of the converted corpus and
   ``TwoViewCollator`` tokenisation, as the Trainer's DataLoader does; and the streamed corpus with its shuffle
   buffer) against the sentences per second one training step consumes (SimCSE on bert-mini-wiki, batch 64), on 1
   process and on 2 processes running at once (each its own pipeline, as each rank of a run has).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    REPO,
    RESULTS,
    WIKI1M,
    WIKI100K,
    Run,
    bert_mini_path,
    header_lines,
    markdown_table,
    update_section,
)

NAME = "data_pipeline"
STSB = REPO / "examples" / "data" / "stsb"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", choices=("rss", "throughput"), default=["rss", "throughput"])
    p.add_argument("--work_dir", type=Path, default=RESULTS / "tmp" / NAME)
    p.add_argument("--repeats", type=int, default=5, help="copies of wiki1m in the large corpus")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--pipeline_batches", type=int, default=150)
    p.add_argument("--train_steps", type=int, default=12)
    p.add_argument("--no_markdown", action="store_true")
    p.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------------ rss
def child(argv) -> None:
    """One process of a measured run: ``sentcse-train``'s phases with ``argv[1:]`` (the corpus's reading time from
    the run's plan); writes ``argv[0].rank<R>.json``."""
    import sentcse.trainers.cli.train as train

    report, flags = argv[0], argv[1:]
    start = time.perf_counter()
    plan = train.check(flags)
    started = train.start(plan)
    trainer = started.trainer
    trainer.train(resume_from_checkpoint=plan.resume)
    train.finish(plan, started)
    train.end_processes(trainer)
    rank = trainer.args.process_index
    Path(f"{report}.rank{rank}.json").write_text(json.dumps({
        "rank": rank, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_seconds": time.perf_counter() - start, "global_step": trainer.state.global_step,
        "load_corpus_seconds": plan.corpus_seconds}))


def large_corpus(args) -> Path:
    path = args.work_dir / f"wiki1m_x{args.repeats}.txt.gz"
    if not path.is_file():
        args.work_dir.mkdir(parents=True, exist_ok=True)
        data = WIKI1M.read_bytes()
        with open(path.with_suffix(".tmp"), "wb") as handle:
            for _ in range(args.repeats):
                handle.write(data)  # gzip members concatenated: one valid gzip stream
        os.replace(path.with_suffix(".tmp"), path)
    return path


def measured_run(args, corpus: Path, processes: int, label: str, cache: Path, *extra: str) -> dict:
    out = args.work_dir / "runs" / label
    shutil.rmtree(out, ignore_errors=True)
    report = args.work_dir / "reports" / label
    report.parent.mkdir(parents=True, exist_ok=True)
    for old in report.parent.glob(f"{label}.rank*.json"):
        old.unlink()
    flags = ["--method", "simcse", "--backbone", bert_mini_path(), "--train_file", str(corpus), "--dev_dir", str(STSB),
             "--output_dir", str(out), "--per_device_train_batch_size", str(args.batch_size), "--max_steps", "2",
             "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
             "--report_to", "none", "--skip_raw_eval", "true", "--disable_tqdm", "true", "--max_length", "32",
             "--use_cpu", "true", *extra]
    script = ["-m", "bench.data_pipeline", "--child", str(report), *flags]
    if processes == 1:
        command = [sys.executable, *script]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                   "29581", *script]
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{done.stderr[-3000:]}")
    ranks = [json.loads(p.read_text()) for p in sorted(report.parent.glob(f"{label}.rank*.json"))]
    shutil.rmtree(out, ignore_errors=True)
    record = {"label": label, "corpus": corpus.name, "processes": processes, "command_wall_seconds": wall,
              "ranks": ranks}
    print(f"[data] {label}: wall {wall:.0f} s, " + ", ".join(
        f"rank {r['rank']} peak RSS {r['max_rss_mib']:.0f} MiB, load_corpus {r['load_corpus_seconds']:.1f} s"
        for r in ranks), flush=True)
    return record


def rss_part(args) -> list:
    big = large_corpus(args)
    cache = args.work_dir / "datasets-cache"
    shutil.rmtree(cache, ignore_errors=True)
    runs = [measured_run(args, WIKI100K, 1, "wiki100k_1proc_first", cache),
            measured_run(args, big, 1, "large_1proc_first", cache),
            measured_run(args, big, 1, "large_1proc_cached", cache),
            measured_run(args, WIKI100K, 2, "wiki100k_2proc_cached", cache),
            measured_run(args, big, 2, "large_2proc_cached", cache),
            measured_run(args, big, 1, "large_1proc_streaming", cache, "--streaming"),
            measured_run(args, big, 2, "large_2proc_streaming", cache, "--streaming")]
    lines = sum(1 for _ in gzip.open(big, "rb"))
    for run in runs:
        run["corpus_lines"] = lines if run["corpus"] == big.name else 100_000
    return runs


# ------------------------------------------------------------------------------------------------------ throughput
def pipeline_rate(args, streaming: bool, seed: int) -> float:
    """Sentences/s through a DataLoader over the corpus with the CLI's collator (random reads through
    ``EpochShuffled``; streamed: in order through the shuffle buffer)."""
    import torch
    from torch.utils.data import DataLoader

    from sentcse.modeling.inputs import load_tokenizer
    from sentcse.trainers.data import EpochShuffled, TwoViewCollator, load_corpus

    torch.manual_seed(seed)
    corpus = load_corpus(str(WIKI1M), streaming=streaming, seed=seed)
    collator = TwoViewCollator(load_tokenizer(bert_mini_path(), None), 32)
    dataset = corpus.dataset if streaming else EpochShuffled(corpus.dataset, seed)  # as sentcse-train reads it
    loader = DataLoader(dataset, batch_size=args.batch_size, collate_fn=collator)
    batches = iter(loader)
    for _ in range(5):  # warm-up (streamed: the shuffle buffer fills here)
        next(batches)
    start = time.perf_counter()
    for _ in range(args.pipeline_batches):
        next(batches)
    return args.pipeline_batches * args.batch_size / (time.perf_counter() - start)


def step_rate(args, seed: int) -> float:
    """Sentences/s one SimCSE training step consumes on bert-mini-wiki: the CseTrainer's own ``trainer.train()``
    with its steps timed by ``bench.timing.StepTimer`` (forward, backward, clipping, AdamW; collation excluded),
    median of ``--train_steps`` after 2 warm-ups."""
    from bench.common import read_sentences
    from bench.steps import sentcse_trainer
    from bench.timing import StepTimer

    steps = args.train_steps + 2
    sentences = read_sentences(args.batch_size * steps, skip=seed * 1000)
    trainer, _ = sentcse_trainer(bert_mini_path(), "simcse", sentences, 32, args.batch_size, train_steps=steps)
    timer = StepTimer()
    trainer.add_callback(timer)
    trainer.train()
    times = sorted(timer.times[2:])
    return args.batch_size / times[len(times) // 2]


def throughput_worker(args, seed: int) -> dict:
    return {"converted_pipeline": pipeline_rate(args, False, seed),
            "streamed_pipeline": pipeline_rate(args, True, seed), "training_step": step_rate(args, seed)}


def throughput_part(args) -> dict:
    out = {}
    for processes in (1, 2):
        reports = [args.work_dir / f"throughput_{processes}_{i}.json" for i in range(processes)]
        workers = []
        for i, report in enumerate(reports):
            env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                   "HF_DATASETS_CACHE": str(args.work_dir / "datasets-cache")}
            command = [sys.executable, "-m", "bench.data_pipeline", "--batch_size", str(args.batch_size),
                       "--pipeline_batches", str(args.pipeline_batches), "--train_steps", str(args.train_steps),
                       "--child", "throughput", str(report), str(i)]
            workers.append(subprocess.Popen(["taskset", "-c", str(i % os.cpu_count()), *command], env=env,
                                            stderr=subprocess.PIPE, text=True, cwd=REPO))
        for worker in workers:
            _, err = worker.communicate()
            if worker.returncode != 0:
                raise RuntimeError(err[-3000:])
        out[str(processes)] = [json.loads(r.read_text()) for r in reports]
        for i, rates in enumerate(out[str(processes)]):
            print(f"[data] {processes} process(es), #{i}: "
                  + ", ".join(f"{k} {v:,.0f} sentences/s" for k, v in rates.items()), flush=True)
    return out


# ------------------------------------------------------------------------------------------------------ report
def markdown(record: dict) -> str:
    lines = ["## 8. Corpus pipeline: memory and throughput (`bench/data_pipeline.py`)", "",
             *header_lines(record), ""]
    if record.get("rss"):
        rows = []
        for run in record["rss"]:
            for r in sorted(run["ranks"], key=lambda r: r["rank"]):
                rows.append([run["label"], f"{run['corpus_lines']:,}", str(run["processes"]), str(r["rank"]),
                             f"{r['max_rss_mib']:.0f}", f"{r['load_corpus_seconds']:.1f}",
                             f"{run['command_wall_seconds']:.0f}"])
        lines += ["Peak RSS of a 2-step SimCSE run (bert-mini-wiki, batch 64, max length 32), per process; "
                  "`load_corpus` is the corpus step (conversion on a first run, cache reads after):", "",
                  markdown_table(["run", "corpus lines", "processes", "rank", "peak RSS (MiB)", "load_corpus (s)",
                                  "command wall (s)"], rows), ""]
        by_label = {run["label"]: run for run in record["rss"]}
        for small, large in (("wiki100k_1proc_first", "large_1proc_cached"),
                             ("wiki100k_2proc_cached", "large_2proc_cached"),
                             ("wiki100k_1proc_first", "large_1proc_streaming"),
                             ("wiki100k_2proc_cached", "large_2proc_streaming")):
            if small in by_label and large in by_label:
                diff = max(r["max_rss_mib"] for r in by_label[large]["ranks"]) - max(
                    r["max_rss_mib"] for r in by_label[small]["ranks"])
                lines.append(f"- {large} vs {small}: largest process {diff:+.0f} MiB (goal: within 300 MiB).")
        lines.append("")
    if record.get("throughput"):
        rows = []
        for processes, workers in record["throughput"].items():
            for i, rates in enumerate(workers):
                slower = min(rates["converted_pipeline"], rates["streamed_pipeline"])
                rows.append([processes, str(i), f"{rates['converted_pipeline']:,.0f}",
                             f"{rates['streamed_pipeline']:,.0f}", f"{rates['training_step']:,.0f}",
                             f"{slower / rates['training_step']:.0f}x"])
        lines += ["Sentences per second, each process pinned to its own core with one thread; the pipeline is the "
                  "Trainer's DataLoader path (random reads of the converted wiki1m through `EpochShuffled`, or the "
                  "stream through a 10,000-sentence shuffle buffer) with `TwoViewCollator`, the step is forward + "
                  "backward + AdamW:", "",
                  markdown_table(["processes at once", "process", "converted pipeline", "streamed pipeline",
                                  "training step consumes", "slower pipeline / step"], rows), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        if args.child[0] == "throughput":
            report, seed = args.child[1], int(args.child[2])
            import torch

            torch.set_num_threads(1)
            Path(report).write_text(json.dumps(throughput_worker(args, seed)))
        else:
            child(args.child)
        return 0
    run = Run(NAME, sys.argv[1:] if argv is None else argv)
    payload = {}
    if "rss" in args.parts:
        payload["rss"] = rss_part(args)
    if "throughput" in args.parts:
        payload["throughput"] = throughput_part(args)
    record = run.finish(payload)
    if not args.no_markdown:
        update_section(NAME, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
