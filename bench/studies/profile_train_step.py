#!/usr/bin/env python
"""Where a sentcse SimCSE training step spends its time, and what candidate changes would buy (CPU).

    python -m bench.studies.profile_train_step                                 # bert-mini-wiki
    python -m bench.studies.profile_train_step --backbone all-MiniLM-L6-v2 --variants sentcse st sentcse_bf16 --compile

Full steps interleaved round by round (``bench.steps.trainer_step``; collation excluded) of:

- ``sentcse``: CseTrainer, SimCSE, pooler avg (as in ``train_speed.py``); ``st``: sentence-transformers' trainer
  with MNRL (the reference sentcse's step is held against);
- ``sentcse_frozen_emb``: ``freeze_embeddings=True`` (no gradient, clip or AdamW work for the embedding layer: the
  word-embedding matrix is most of a small model's parameters). Changes training: shows the cost, not a fix;
- ``sentcse_bf16``: the Trainer's ``--bf16`` (CPU autocast; fast where the CPU has AMX or AVX512-BF16). Changes
  numerics;
- ``sentcse_compile`` (``--compile``): ``torch.compile`` of the model (same maths, fused kernels; compile time is
  spent in the warm-up).

Also reported: the padding share of the batches (rows are padded to the longest sentence of the batch, 32 tokens
at most; every padded position costs the same as a real one in the projections and FFN), and a torch.profiler op
table of the ``sentcse`` step grouped by the phases ``trainer_step`` marks (``bench.steps.PHASES``).
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.common import (
    Run,
    backbone_path,
    fmt_ms,
    fmt_ratio,
    header_lines,
    interleaved,
    markdown_table,
    quiet,
    ratios,
    read_sentences,
    summarize,
    update_section,
)

VARIANTS = ["sentcse", "st", "sentcse_frozen_emb", "sentcse_bf16"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="bert-mini-wiki")
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS + ["sentcse_compile"])
    p.add_argument("--compile", action="store_true", help="add sentcse_compile")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="", help="suffix of the result/section name (e.g. _compile)")
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import numpy as np
    import torch

    from bench.steps import profiled_phases, sentcse_trainer, st_trainer, trainer_step

    torch.set_num_threads(args.threads)
    run = Run(f"profile_train_step_{args.backbone}{args.tag}", sys.argv[1:] if argv is None else argv,
              script="profile_train_step")
    variants = list(dict.fromkeys(args.variants + (["sentcse_compile"] if args.compile else [])))
    path = backbone_path(args.backbone)
    rounds = args.warmup + args.repeats
    sentences = read_sentences(64 * rounds)
    batches = [sentences[i * 64:(i + 1) * 64] for i in range(rounds)]
    steps, collates = {}, {}
    for v in variants:
        print(f"building {v}", flush=True)
        if v == "st":
            steps[v], collates[v] = st_trainer(path, sentences)
        elif v == "sentcse_frozen_emb":
            steps[v], collates[v] = sentcse_trainer(path, "simcse", sentences, pooler="avg", freeze_embeddings=True)
        elif v == "sentcse_bf16":
            steps[v], collates[v] = sentcse_trainer(path, "simcse", sentences, pooler="avg", bf16=True)
        else:
            steps[v], collates[v] = sentcse_trainer(path, "simcse", sentences, pooler="avg")
            if v == "sentcse_compile":
                steps[v].model_wrapped = torch.compile(steps[v].model)
    inputs = {v: [collates[v](b) for b in batches] for v in variants}

    mask = [x["attention_mask"][:64] for x in inputs["sentcse" if "sentcse" in inputs else variants[0]]]
    real = np.asarray([int(m.sum()) for m in mask], dtype=float)
    padded = np.asarray([m.numel() for m in mask], dtype=float)
    padding = {"real_tokens_per_batch": summarize(real), "padded_positions_per_batch": summarize(padded),
               "padding_share": summarize(1 - real / padded)}
    print(f"padding share of the positions: {padding['padding_share']['median']:.3f}", flush=True)

    def make(v):
        return lambda r: trainer_step(steps[v], inputs[v][r])

    start = time.perf_counter()
    times = interleaved({v: make(v) for v in variants}, args.warmup, args.repeats)
    print(f"timed in {time.perf_counter() - start:.0f} s", flush=True)
    stats = {v: summarize(t) for v, t in times.items()}
    rel = ratios(times, "sentcse")
    rel_st = ratios(times, "st") if "st" in times else {}

    # op table of the sentcse step, with the phases as profiler ranges
    from torch.profiler import ProfilerActivity, profile, record_function

    trainer = steps["sentcse"]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for r in range(3):
            trainer_step(trainer, inputs["sentcse"][r], phase=lambda name: record_function(f"phase:{name}"))
    averages = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in averages)
    phases = profiled_phases(averages, 3)
    ops = sorted(((e.key, e.self_cpu_time_total / 3 / 1e3, e.count // 3) for e in averages
                  if not e.key.startswith("phase:")), key=lambda x: -x[1])[:15]
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=60)
    print(table)
    record = run.finish({"args": vars(args), "variants": variants, "seconds": stats, "ratio_to_sentcse": rel,
                         "ratio_to_st": rel_st, "padding": padding, "profile_phases_ms": phases,
                         "profile_top_ops_ms_per_step": ops, "profile_total_self_ms_per_step": total / 3 / 1e3,
                         "profile_table": table, "raw_seconds": times})
    if not args.no_markdown:
        update_section(f"profile_train_step_{args.backbone}{args.tag}", markdown(record))
    return record


def markdown(record: dict) -> str:
    a = record["args"]
    tag = f" ({a['tag'].strip('_')})" if a.get("tag") else ""
    lines = [f"### 1b. Step profile and options: {a['backbone']}{tag} (`bench/studies/profile_train_step.py`)", ""]
    lines += header_lines(record)
    lines += [f"- {a['warmup']} warm-up + {a['repeats']} timed interleaved rounds, batch 64, max length 32, "
              f"{a['threads']} torch thread(s). Padding share of the token positions: "
              f"{record['padding']['padding_share']['median']:.1%} median per batch "
              f"(real tokens {record['padding']['real_tokens_per_batch']['median']:.0f} of "
              f"{record['padding']['padded_positions_per_batch']['median']:.0f} per view).", ""]
    rows = []
    for v in record["variants"]:
        rows.append([v, fmt_ms(record["seconds"][v]), fmt_ratio(record["ratio_to_sentcse"][v]),
                     fmt_ratio(record["ratio_to_st"][v]) if record["ratio_to_st"] else "-"])
    lines.append(markdown_table(["variant", "step ms, median [IQR]", "ratio to sentcse", "ratio to ST"], rows))
    ph = record["profile_phases_ms"]
    tot = sum(ph.values())
    lines += ["", "Profiler (3 steps of `sentcse`): time per phase, ms per step (share): " +
              "; ".join(f"{k.split(':', 1)[-1]} {v:.0f} ({v / tot:.0%})" for k, v in ph.items()), "",
              "Top ops by self CPU time, ms per step (calls per step): " +
              "; ".join(f"`{k}` {v:.0f} ({n})" for k, v, n in record["profile_top_ops_ms_per_step"][:10])]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
