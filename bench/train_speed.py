#!/usr/bin/env python
"""Training step time: sentcse SimCSE (CseTrainer) vs sentence-transformers (SentenceTransformerTrainer +
MultipleNegativesRankingLoss on duplicated sentences = unsupervised SimCSE), same backbone, batch, data, CPU.

    python -m bench.train_speed                                  # both backbones, 5 warm-up + 15 timed rounds
    python -m bench.train_speed --backbones bert-mini-wiki --repeats 30 --threads 2

Both sides take the same optimizer step by hand (``bench.steps.trainer_step``: their own trainer's
``training_step``, gradient clipping, the Trainer's AdamW step, the scheduler step and ``zero_grad``), on the same
wiki100k batches (64 sentences, max 32 tokens; the token ids are checked identical), interleaved round by round
after a warm-up, which ``trainer.train()`` cannot do. Pooling: ``avg`` (default; sentcse ``pooler="avg"`` vs ST
mean Pooling: the same computation, so the ratio is framework overhead) or ``cls`` (sentcse's SimCSE recipe: [CLS]
+ MLP(tanh) vs ST cls Pooling + Dense(tanh)).

Reported per round: collation (tokenisation of the batch), the step, and each phase of the step
(``bench.timing.PhaseClock``: forward + objective = ``compute_loss``, backward = the rest of ``training_step``,
clip, optimizer, scheduler + zero_grad). Goal: sentcse step time <= 0.9x sentence-transformers'. ``--profile``
adds a torch.profiler table of the ops of a few extra steps of each side.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.common import (
    SMALL_BACKBONES,
    Run,
    backbone_path,
    fmt_ms,
    fmt_ratio,
    header_lines,
    interleaved,
    markdown_table,
    quiet,
    read_sentences,
    summarize,
    update_section,
)

GOAL = 0.9
PHASES = ("compute_loss", "backward", "clip", "optimizer", "zero_grad")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=list(SMALL_BACKBONES),
                   help="names (bert-mini-wiki all-MiniLM-L6-v2) or paths")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--max_length", type=int, default=32)
    p.add_argument("--pooling", default="avg", choices=["avg", "cls"])
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: on a 2-core VM shared with other jobs, 2 threads spin and are "
                        "slower)")
    p.add_argument("--profile", action="store_true", help="also profile 3 steps of each side (torch.profiler)")
    p.add_argument("--no_markdown", action="store_true", help="do not update BENCHMARKS.md")
    return p.parse_args(argv)


class PhaseTimer:
    """Steps one trainer (``bench.steps.trainer_step``) and returns the wall time of each of its ``PHASES``."""

    NAMES = {"forward+objective": "compute_loss", "scheduler+zero_grad": "zero_grad"}  # this benchmark's labels

    def __init__(self, trainer):
        from bench.timing import PhaseClock

        self.trainer, self.clock = trainer, PhaseClock()

    def step(self, inputs) -> dict:
        from bench.steps import split_backward, trainer_step

        trainer_step(self.trainer, inputs, phase=self.clock)
        return {self.NAMES.get(name, name): seconds for name, seconds in split_backward(self.clock.seconds).items()}


def profile_table(step, inputs_for, rounds: int = 3, top: int = 15) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for r in range(rounds):
            step(inputs_for(r))
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=60)


def bench_backbone(name: str, args) -> dict:
    import torch

    from bench.steps import n_parameters, sentcse_trainer, st_trainer

    path = backbone_path(name)
    rounds = args.warmup + args.repeats
    sentences = read_sentences(args.batch_size * rounds)
    batches = [sentences[i * args.batch_size:(i + 1) * args.batch_size] for i in range(rounds)]
    pooler = "avg" if args.pooling == "avg" else "cls"
    st_pooling = "mean" if args.pooling == "avg" else "cls"
    print(f"[{name}] building trainers ({path})", flush=True)
    cse, cse_collate = sentcse_trainer(path, "simcse", sentences, args.max_length, args.batch_size, pooler=pooler)
    st, st_collate = st_trainer(path, sentences, args.max_length, args.batch_size, pooling=st_pooling)

    # Same token ids on both sides (sentcse stacks the batch twice; ST tokenises anchor and positive).
    same_tokens = True
    for batch in batches:
        a, b = cse_collate(batch), st_collate(batch)
        n = len(batch)
        same_tokens &= (torch.equal(a["input_ids"][:n], b["anchor_input_ids"])
                        and torch.equal(a["input_ids"][n:], b["positive_input_ids"]))
    if not same_tokens:
        raise AssertionError("sentcse and sentence-transformers tokenise the batches differently")
    tokens = [int(cse_collate(b)["attention_mask"][: len(b)].sum()) for b in batches]

    timers = {"sentcse": PhaseTimer(cse), "sentence-transformers": PhaseTimer(st)}
    collate = {"sentcse": cse_collate, "sentence-transformers": st_collate}
    record = {k: {"collate": [], "step": [], **{p: [] for p in PHASES}} for k in timers}

    def make(side):
        def fn(r):
            a = time.perf_counter()
            inputs = collate[side](batches[r])
            b = time.perf_counter()
            phases = timers[side].step(inputs)
            c = time.perf_counter()
            if r >= args.warmup:
                rec = record[side]
                rec["collate"].append(b - a)
                rec["step"].append(c - b)
                for p in PHASES:
                    rec[p].append(phases[p])
        return fn

    print(f"[{name}] {args.warmup} warm-up + {args.repeats} timed rounds, interleaved", flush=True)
    totals = interleaved({side: make(side) for side in timers}, args.warmup, args.repeats)
    import numpy as np

    out = {"backbone": name, "path": path, "pooling": args.pooling, "same_token_ids": same_tokens,
           "sentcse_length_buckets": cse.model.config.length_buckets,
           "real_tokens_per_batch": summarize(tokens),
           "trainable_parameters": {"sentcse": n_parameters(cse.model),
                                    "sentence-transformers": n_parameters(st.model)},
           "raw_seconds": record, "raw_total_seconds": totals, "sides": {}, "ratio_sentcse_over_st": {}}
    for side, rec in record.items():
        out["sides"][side] = {key: summarize(values) for key, values in rec.items()}
        out["sides"][side]["collate+step"] = summarize(np.add(rec["collate"], rec["step"]))
    for key in ("step", "collate", "collate+step", *PHASES):
        if key == "collate+step":
            a = np.add(record["sentcse"]["collate"], record["sentcse"]["step"])
            b = np.add(record["sentence-transformers"]["collate"], record["sentence-transformers"]["step"])
        else:
            a, b = np.asarray(record["sentcse"][key]), np.asarray(record["sentence-transformers"][key])
        out["ratio_sentcse_over_st"][key] = summarize(a / b)
    if args.profile:
        print(f"[{name}] profiling", flush=True)
        out["profile"] = {}
        for side, timer in timers.items():
            table = profile_table(timer.step, lambda r, s=side: collate[s](batches[r]))
            out["profile"][side] = table
            print(f"--- {side}\n{table}", flush=True)
    del cse, st
    return out


def _buckets(record: dict) -> str:
    """sentcse's length_buckets in this run (a run before the option existed had one padded batch)."""
    return ", ".join(sorted({str(r.get("sentcse_length_buckets", 1)) for r in record["results"]}))


def markdown(record: dict) -> str:
    lines = ["## 1. Training step time: sentcse SimCSE vs sentence-transformers (`bench/train_speed.py`)", ""]
    lines += header_lines(record)
    a = record["args"]
    lines += [
        f"- Setting: batch {a['batch_size']} sentences (2 x {a['batch_size']} rows), max length {a['max_length']}, "
        f"wiki100k (one distinct batch per round, identical token ids on both sides), pooling `{a['pooling']}`, fp32, "
        f"{a['threads']} torch thread(s), {a['warmup']} warm-up + {a['repeats']} timed interleaved rounds. Step = the "
        "trainer's `training_step` (forward + objective + backward) + grad clipping + AdamW step + scheduler + "
        "`zero_grad`; collation (tokenisation) timed apart. Gradient diagnostics off (their cost: section 2). "
        f"sentcse runs its defaults: `length_buckets` {_buckets(record)}.",
        f"- Goal: sentcse step <= {GOAL}x sentence-transformers'.",
        "",
    ]
    rows = []
    for res in record["results"]:
        s, t, r = res["sides"]["sentcse"], res["sides"]["sentence-transformers"], res["ratio_sentcse_over_st"]
        for key, label in (("step", "step"), ("collate", "collation"), ("collate+step", "collation + step")):
            rows.append([res["backbone"], label, fmt_ms(s[key], 1 if key == "collate" else 0),
                         fmt_ms(t[key], 1 if key == "collate" else 0), fmt_ratio(r[key])])
    lines.append(markdown_table(["backbone", "what", "sentcse ms, median [IQR]", "sentence-transformers ms",
                                 "ratio sentcse/ST, median [IQR] (min-max)"], rows))
    lines += ["", "Phases of the step (median ms, sentcse / sentence-transformers; ratio median):", ""]
    rows = []
    for res in record["results"]:
        s, t, r = res["sides"]["sentcse"], res["sides"]["sentence-transformers"], res["ratio_sentcse_over_st"]
        rows.append([res["backbone"]] + [f"{s[p]['median'] * 1e3:.0f} / {t[p]['median'] * 1e3:.0f} "
                                         f"({r[p]['median']:.2f})" for p in PHASES])
    lines.append(markdown_table(["backbone", "forward + objective", "backward", "clip", "AdamW step",
                                 "scheduler + zero_grad"], rows))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch

    torch.set_num_threads(args.threads)
    run = Run("train_speed", sys.argv[1:] if argv is None else argv)
    results = [bench_backbone(name, args) for name in args.backbones]
    for res in results:
        r = res["ratio_sentcse_over_st"]
        print(f"{res['backbone']}: step ratio sentcse/ST {fmt_ratio(r['step'])}; "
              f"collation+step {fmt_ratio(r['collate+step'])}")
    record = run.finish({"args": vars(args), "goal_ratio": GOAL, "results": results})
    if not args.no_markdown:
        update_section("train_speed", markdown(record))
    return record


if __name__ == "__main__":
    main()
