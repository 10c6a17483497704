#!/usr/bin/env python
"""Step time of every method and contrastive objective relative to SimCSE + InfoNCE, and the cost of the
gradient diagnostics, on bert-mini-wiki and all-MiniLM-L6-v2 (CPU, batch 64, max length 32).

    python -m bench.method_overhead                              # both backbones, all variants
    python -m bench.method_overhead --backbones all-MiniLM-L6-v2 --variants simcse sarcse --repeats 30

Three measurements, each interleaved round by round after a warm-up:

1. Full training steps through ``CseTrainer`` (``bench/steps.py``: training_step + clip + AdamW + scheduler +
   zero_grad, collation excluded, diagnostics off) for SimCSE/InfoNCE (the reference), SARCSE, reCSE with
   ``time_for_space`` on and off, and SimCSE with each other objective (ArcCon, MPT, MET, Barlow Twins / VICReg /
   MHE / MHS orig and mod). Objectives are swapped on one SimCSE trainer (the model forward/backward is the same
   for all of them); the two reCSE modes share one model (``config.time_for_space`` is read at forward time).
   Ratio = step time / SimCSE step time of the same round.
2. Each objective alone: forward + backward on the model's real (2 x 64, d) training embeddings, so its cost is
   resolved far below the noise of a full step (ms, and as a fraction of the SimCSE step median).
3. ``trainers.diagnostics.gradient_diagnostics`` of each contrastive objective on the same embeddings (closed
   form for InfoNCE/ArcCon/MPT/MET, least-squares fit otherwise): ms per call, relative to a SimCSE step, and
   amortised over ``logging_steps`` (the trainer computes them once per logging step; default 10).
"""

from __future__ import annotations

import argparse
import copy
import sys

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
    ratios,
    read_sentences,
    summarize,
    update_section,
)
from sentcse.trainers.objectives import InfoNCE, objective_variants

REFERENCE = "simcse"
METHOD_VARIANTS = {  # variant -> (method, config fields the model is built with, fields set before each step)
    "simcse": ("simcse", {}, {}),
    "sarcse": ("sarcse", {}, {}),
    "sarcse_c256": ("sarcse", {"cnn_channels": 256}, {}),
    "recse_tfs_on": ("recse", {}, {"time_for_space": True}),
    "recse_tfs_off": ("recse", {}, {"time_for_space": False}),
}
OBJECTIVE_VARIANTS = {f"{name}_{variant}" if variant else name: (name, variant)  # all but the reference's InfoNCE
                      for name, variant in objective_variants() if name != InfoNCE.name}
ALL_VARIANTS = list(METHOD_VARIANTS) + list(OBJECTIVE_VARIANTS)
LABELS = {"simcse": "SimCSE + InfoNCE (reference)", "sarcse": "SARCSE (defaults)",
          "sarcse_c256": "SARCSE, cnn_channels 256", "recse_tfs_on": "reCSE, time_for_space on (default)",
          "recse_tfs_off": "reCSE, time_for_space off"}
SARCSE_GOAL = 1.15


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=list(SMALL_BACKBONES))
    p.add_argument("--variants", nargs="+", default=ALL_VARIANTS, choices=ALL_VARIANTS)
    p.add_argument("--objective_backbones", nargs="+", default=["bert-mini-wiki"],
                   help="backbones on which the objectives are also timed in full steps (elsewhere their step ratio is "
                        "estimated from their isolated cost: 1 + objective time / SimCSE step time)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--micro_warmup", type=int, default=10)
    p.add_argument("--micro_repeats", type=int, default=60)
    p.add_argument("--logging_steps", type=int, default=10, help="diagnostics are computed once per logging step")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--max_length", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def objective_for(config, name, variant):
    from sentcse.trainers.methods import get_method

    cfg = copy.deepcopy(config)
    cfg.objective, cfg.objective_variant = name, variant
    return get_method(cfg.model_type).build_objective(cfg)


def bench_backbone(name: str, args) -> dict:
    import torch

    from bench.steps import sentcse_trainer, trainer_step
    from sentcse.trainers.diagnostics import gradient_diagnostics

    path = backbone_path(name)
    rounds = args.warmup + args.repeats
    sentences = read_sentences(args.batch_size * rounds)
    batches = [sentences[i * args.batch_size:(i + 1) * args.batch_size] for i in range(rounds)]
    variants = [REFERENCE] + [v for v in args.variants if v != REFERENCE]
    objective_variants = [v for v in variants if v in OBJECTIVE_VARIANTS]
    if name not in args.objective_backbones:
        variants = [v for v in variants if v in METHOD_VARIANTS]
    print(f"[{name}] building trainers ({path})", flush=True)
    simcse, collate = sentcse_trainer(path, "simcse", sentences, args.max_length, args.batch_size)
    trainers = {(REFERENCE, ()): simcse}  # one trainer per (method, build config), shared by the variants using it
    for v in variants:
        method, build, _ = METHOD_VARIANTS.get(v, (REFERENCE, {}, {}))
        key = (method, tuple(sorted(build.items())))
        if key not in trainers:
            trainers[key], _ = sentcse_trainer(path, method, sentences, args.max_length, args.batch_size, **build)
    inputs = [collate(b) for b in batches]
    infonce = simcse.loss
    objectives = {"simcse": infonce}
    for v in objective_variants:
        objectives[v] = objective_for(simcse.model.config, *OBJECTIVE_VARIANTS[v])

    def make(v):
        if v in METHOD_VARIANTS:
            method, build, options = METHOD_VARIANTS[v]
            trainer = trainers[(method, tuple(sorted(build.items())))]

            def fn(r):
                if method == "simcse":
                    trainer.loss = infonce
                for key, value in options.items():
                    setattr(trainer.model.config, key, value)
                trainer_step(trainer, inputs[r])
        else:
            def fn(r):
                simcse.loss = objectives[v]
                trainer_step(simcse, inputs[r])
        return fn

    print(f"[{name}] full steps: {len(variants)} variants x ({args.warmup} warm-up + {args.repeats} timed rounds)",
          flush=True)
    times = interleaved({v: make(v) for v in variants}, args.warmup, args.repeats)
    simcse.loss = infonce
    step_stats = {v: summarize(t) for v, t in times.items()}
    step_ratios = ratios(times, REFERENCE)
    reference_step = step_stats[REFERENCE]["median"]

    # ---- 2./3. the objectives alone and the diagnostics, on real training embeddings of batch 0
    model = simcse.model
    model.train()
    with torch.no_grad():
        embeddings = model(**inputs[0]).projection.detach()
    anchor, positive = embeddings.chunk(2)
    micro_objectives = {k: o for k, o in objectives.items()}

    def objective_fn(obj):
        def fn(_):
            leaf = embeddings.clone().requires_grad_(True)
            a, p = leaf.chunk(2)
            terms = obj(a, p, None)
            torch.stack([t.float() for t in terms.values()]).sum().backward()
        return fn

    def diagnostics_fn(obj):
        contrastive = getattr(obj, "contrastive", obj)
        return lambda _: gradient_diagnostics(contrastive, anchor, positive)

    print(f"[{name}] objectives alone and diagnostics ({args.micro_warmup} + {args.micro_repeats} rounds)", flush=True)
    micro = interleaved({**{f"objective:{k}": objective_fn(o) for k, o in micro_objectives.items()},
                         **{f"diagnostics:{k}": diagnostics_fn(o) for k, o in micro_objectives.items()}},
                        args.micro_warmup, args.micro_repeats, log=False)
    micro_stats = {k: summarize(v) for k, v in micro.items()}
    closed = {k: bool(gradient_diagnostics(getattr(o, "contrastive", o), anchor, positive)["grad/closed_form"])
              for k, o in micro_objectives.items()}
    configs = {f"{method}{''.join(f'_{k}={v}' for k, v in build)}": {
        key: value for key, value in trainer.model.config.to_dict().items()
        if key in ("pooler", "length_buckets", "kernel_sizes", "cnn_channels", "reshape_source", "sqrt",
                   "reshape_chunk_size")}
        for (method, build), trainer in trainers.items()}
    out = {
        "backbone": name, "path": path, "hidden_size": int(embeddings.shape[1]), "variants": variants,
        "configs": configs, "objective_variants": objective_variants,
        "estimated_ratio_from_isolated_cost": {k: 1 + micro_stats[f"objective:{k}"]["median"] / reference_step
                                               - micro_stats["objective:simcse"]["median"] / reference_step
                                               for k in micro_objectives},
        "step_seconds": step_stats, "ratio_to_simcse": step_ratios, "raw_step_seconds": times,
        "objective_alone_seconds": {k: micro_stats[f"objective:{k}"] for k in micro_objectives},
        "diagnostics_seconds": {k: micro_stats[f"diagnostics:{k}"] for k in micro_objectives},
        "diagnostics_closed_form": closed,
        "reference_step_median_seconds": reference_step,
        "logging_steps": args.logging_steps,
    }
    return out


def _label(v: str) -> str:
    if v in LABELS:
        return LABELS[v]
    name, variant = OBJECTIVE_VARIANTS[v]
    return f"SimCSE + {name}" + (f" ({variant})" if variant else "")


def _configs_line(record: dict) -> str:
    configs = record["results"][0]["configs"]
    return "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in fields.items()) for name, fields in configs.items())


def markdown(record: dict) -> str:
    a = record["args"]
    lines = ["## 2. Method and objective overhead vs SimCSE + InfoNCE (`bench/method_overhead.py`)", ""]
    lines += header_lines(record)
    lines += [
        f"- Setting: CseTrainer steps (training_step + clip + AdamW + scheduler + zero_grad; collation excluded; "
        f"diagnostics off), batch {a['batch_size']}, max length {a['max_length']}, wiki100k, fp32, "
        f"{a['threads']} torch thread(s), {a['warmup']} warm-up + {a['repeats']} timed rounds with every variant "
        f"interleaved on the same batch. Model configs (defaults unless named): {_configs_line(record)}. "
        "Objectives use their default (BERT-base) hyperparameters.",
        f"- Goal: SARCSE <= {SARCSE_GOAL}x SimCSE on all-MiniLM-L6-v2.",
        "",
        "Full step, ratio to SimCSE + InfoNCE in the same round, median [IQR] (min-max). 'est.': objective not "
        "timed in full steps on that backbone; ratio = 1 + (objective - InfoNCE isolated cost) / SimCSE step median.",
        "",
    ]
    results = record["results"]
    variants = list(dict.fromkeys(v for r in results for v in r["variants"] + r["objective_variants"]))
    headers = ["variant"] + [f"{r['backbone']} step ms" for r in results] + [f"{r['backbone']} ratio" for r in results]
    rows = []
    for v in variants:
        row = [_label(v)]
        row += [fmt_ms(r["step_seconds"][v]) if v in r["step_seconds"] else "-" for r in results]
        row += [fmt_ratio(r["ratio_to_simcse"][v]) if v in r["ratio_to_simcse"]
                else f"est. {r['estimated_ratio_from_isolated_cost'][v]:.4f} (isolated cost)"
                if v in r["estimated_ratio_from_isolated_cost"] else "-" for r in results]
        rows.append(row)
    lines.append(markdown_table(headers, rows))
    lines += ["", "Each contrastive objective alone (forward + backward on the real 2 x 64 training embeddings) and "
              "the gradient diagnostics (`trainers.diagnostics.gradient_diagnostics`, per call; the trainer runs it "
              f"once every logging step = {a['logging_steps']} steps), median ms and as % of the SimCSE step "
              "median:", ""]
    headers = ["objective"]
    for r in results:
        headers += [f"{r['backbone']} (d={r['hidden_size']}) objective ms (% step)",
                    "diagnostics ms (% step; amortised)"]
    rows = []
    keys = [k for k in results[0]["objective_alone_seconds"]]
    for k in keys:
        row = ["InfoNCE" if k == "simcse" else _label(k).replace("SimCSE + ", "")]
        for r in results:
            ref = r["reference_step_median_seconds"]
            o, d = r["objective_alone_seconds"][k]["median"], r["diagnostics_seconds"][k]["median"]
            form = "closed form" if r["diagnostics_closed_form"][k] else "fit"
            row += [f"{o * 1e3:.2f} ({100 * o / ref:.2f}%)",
                    f"{d * 1e3:.2f} ({100 * d / ref:.2f}%; {100 * d / ref / r['logging_steps']:.3f}%), {form}"]
        rows.append(row)
    lines.append(markdown_table(headers, rows))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch

    torch.set_num_threads(args.threads)
    run = Run("method_overhead", sys.argv[1:] if argv is None else argv)
    results = [bench_backbone(name, args) for name in args.backbones]
    for r in results:
        for v in r["variants"]:
            print(f"{r['backbone']}: {v}: {fmt_ratio(r['ratio_to_simcse'][v])}")
    record = run.finish({"args": vars(args), "sarcse_goal": SARCSE_GOAL, "results": results})
    if not args.no_markdown:
        update_section("method_overhead", markdown(record))
    return record


if __name__ == "__main__":
    main()
