#!/usr/bin/env python
"""bf16 against fp32, against sentence-transformers' own bf16, and against the machine's GEMM rate.

    python -m bench.bf16_speed                     # bert-mini-wiki, all-MiniLM-L6-v2 and a bert-base-shaped encoder
    python -m bench.bf16_speed --backbones bert-mini-wiki --repeats 5 --sentences 1000 --no_markdown

Everything is measured side by side in one process, interleaved round by round after a warm-up:

1. **Roofline**: ``torch.mm`` FLOP/s in fp32 and bf16 on the same threads, for 2048^3 and for the encoder's own
   feed-forward shape (the tokens of a batch x d @ d x intermediate).
2. **Training step** (the trainers' own step, ``bench.steps.trainer_step``), on the same batches: sentcse SimCSE
   in fp32 and with the Trainer's ``--bf16``, sentence-transformers MNRL in fp32 and with its own ``bf16`` argument
   (pooling ``avg`` on both: the same computation); on the first backbone also SARCSE and reCSE fp32 and bf16, and
   SimCSE bf16 with the Trainer's ``--torch_compile`` (inductor; its compilation falls in the warm-up rounds).
3. **encode**: sentcse ``encode()`` fp32 and ``dtype="bf16"`` against ``SentenceTransformer.encode`` fp32 and
   bf16 (``model.bfloat16()``, its documented bf16), and sentcse's ``encode()`` of a bf16 copy of the model (as
   ST's), normalisation off on all; the cosine of every bf16 embedding to its fp32 one is recorded.
4. **Profile** of the first backbone's step: sentcse bf16, sentence-transformers bf16 and sentcse fp32, phases and
   top ops (torch.profiler, 3 steps).

``bert-base-random`` (12 x 768, random weights: ``common.bert_base_random_path``) takes seconds a step on one
thread, so backbones of 768 or more hidden units run ``--large_repeats`` rounds after one warm-up and encode
``--large_sentences`` sentences.

A time is also given as achieved FLOP/s (``common.encoder_flops``: the real tokens' matrix products, 3x the forward
for a training step) over the GEMM rate of its dtype. Goals (set for a CPU with AMX): bf16 step /
fp32 step <= 0.4; sentcse bf16 step / ST bf16 step <= 0.85; bf16 step FLOP/s >= 0.3 of the bf16 GEMM rate; encode
bf16 throughput >= 2.5x ST fp32 and >= 1.3x ST bf16. Where the CPU has no AMX the figures are reported and the
ratios to sentence-transformers and the fractions of the GEMM rate are read instead.
"""

from __future__ import annotations

import argparse
import copy
import sys

from bench.common import (
    BACKBONES,
    Run,
    backbone_path,
    encoder_flops,
    fmt_ms,
    fmt_ratio,
    gemm_rate,
    header_lines,
    interleaved,
    markdown_table,
    quiet,
    read_sentences,
    summarize,
    update_section,
)

NAME = "bf16_speed"
GOALS = {"step_bf16_over_fp32": 0.4, "step_bf16_over_st_bf16": 0.85, "step_bf16_share_of_gemm_rate": 0.3,
         "encode_bf16_over_st_fp32": 2.5, "encode_bf16_over_st_bf16": 1.3}
STEP_VARIANTS = ("sentcse_fp32", "sentcse_bf16", "st_fp32", "st_bf16")
METHOD_VARIANTS = ("sarcse_fp32", "sarcse_bf16", "recse_fp32", "recse_bf16", "compiled_bf16")
PROFILED = ("sentcse_bf16", "st_bf16", "sentcse_fp32")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=list(BACKBONES), help=f"names ({' '.join(BACKBONES)}) or paths")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--large_repeats", type=int, default=3, help="timed rounds for backbones of >= 768 hidden units")
    p.add_argument("--large_sentences", type=int, default=1000, help="sentences encoded per side for those")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--max_length", type=int, default=32)
    p.add_argument("--sentences", type=int, default=4000, help="sentences encoded per side")
    p.add_argument("--chunk", type=int, default=500, help="sentences per encode round")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def has_amx(machine: dict) -> bool:
    return "amx_bf16" in machine.get("cpu_bf16_flags", [])


def rooflines(args, configs) -> dict:
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        shapes = {"2048^3": gemm_rate(dtype)}
        for backbone, config in configs.items():
            rows = 2 * args.batch_size * 26  # two views of a batch, about 26 real tokens a row on wiki
            shapes[f"{backbone} feed-forward"] = gemm_rate(dtype, rows, config.hidden_size, config.intermediate_size)
        out[name] = shapes
        print(f"GEMM {name}: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in shapes.items()), flush=True)
    return out


def is_large(config) -> bool:
    return config.hidden_size >= 768


def step_times(args, backbone: str, path: str, variants, sentences, warmup: int, repeats: int) -> dict:
    """Interleaved training steps of ``variants`` on the same batches; seconds, ratios and useful FLOPs a step."""
    import gc

    from bench.steps import sentcse_trainer, st_trainer, trainer_step

    rounds = warmup + repeats
    batches = [sentences[i * args.batch_size:(i + 1) * args.batch_size] for i in range(rounds)]
    trainers, inputs = {}, {}
    for variant in variants:
        method, dtype = variant.rsplit("_", 1)
        bf16 = dtype == "bf16"
        if method == "st":
            trainer, collate = st_trainer(path, sentences, args.max_length, args.batch_size, bf16=bf16)
        else:
            simcse = method in ("sentcse", "compiled")
            pooler = {"pooler": "avg"} if simcse else {}
            trainer, collate = sentcse_trainer(path, "simcse" if simcse else method, sentences, args.max_length,
                                               args.batch_size, bf16=bf16, torch_compile=method == "compiled", **pooler)
        trainers[variant], inputs[variant] = trainer, [collate(b) for b in batches]
    print(f"{backbone}: timing {', '.join(variants)}", flush=True)
    times = interleaved({v: (lambda r, v=v: trainer_step(trainers[v], inputs[v][r])) for v in variants},
                        warmup, repeats)
    # real tokens of each timed batch, both views (sentcse's stacked mask; the same sentences on every side)
    lengths = [[int(x) for x in batch["attention_mask"].sum(1)] for batch in inputs["sentcse_fp32"][warmup:]]
    trainers.clear()  # free the models before the next backbone
    inputs.clear()
    gc.collect()
    return {"seconds": {v: summarize(t) for v, t in times.items()}, "raw_seconds": times,
            "lengths": lengths, "warmup": warmup, "repeats": repeats, "ratio_to_fp32": {m: summarize(
                [b / a for a, b in zip(times[f"{m}_fp32"], times[f"{m}_bf16"])])
                for m in {v.rsplit("_", 1)[0] for v in variants} if f"{m}_fp32" in times and f"{m}_bf16" in times}}


def encode_times(args, path: str, n_sentences: int, chunk: int) -> dict:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from sentcse.modeling import SimCseModel

    sentences = read_sentences(n_sentences, skip=50_000)  # not the training batches
    warm = read_sentences(2 * args.batch_size, skip=60_000)
    chunks = [sentences[i:i + chunk] for i in range(0, len(sentences), chunk)]
    cse = SimCseModel.from_backbone(path, pooler="avg").eval()
    st_full = SentenceTransformer(path, device="cpu")
    st = SentenceTransformer(modules=[m for m in st_full if type(m).__name__ != "Normalize"], device="cpu").eval()
    st_bf16 = copy.deepcopy(st).bfloat16()
    max_length = min(st.max_seq_length, args.max_length * 4)  # the same truncation on every side
    st.max_seq_length = st_bf16.max_seq_length = max_length

    def sentcse_side(dtype):
        return lambda batch: cse.encode(batch, batch_size=args.batch_size, max_length=max_length, dtype=dtype)

    def st_side(model):
        return lambda batch: model.encode(batch, batch_size=args.batch_size, convert_to_tensor=True,
                                          show_progress_bar=False).float().numpy()

    cse_bf16 = copy.deepcopy(cse).to(torch.bfloat16)  # bf16 weights, like ST's: encode runs as the weights are
    sides = {"sentcse_fp32": sentcse_side(None), "sentcse_bf16": sentcse_side("bf16"),
             "st_fp32": st_side(st), "st_bf16": st_side(st_bf16),
             "sentcse_bf16weights": lambda batch: cse_bf16.encode(batch, batch_size=args.batch_size,
                                                                  max_length=max_length)}
    for fn in sides.values():
        fn(warm)
    outputs = {k: [None] * len(chunks) for k in sides}

    def make(side):
        def fn(r):
            outputs[side][r] = sides[side](chunks[r])
        return fn

    print(f"encode: {len(sentences)} sentences in chunks of {chunk}, batch {args.batch_size}", flush=True)
    times = interleaved({k: make(k) for k in sides}, 0, len(chunks))
    emb = {k: np.concatenate(v) for k, v in outputs.items()}

    def min_cosine(a, b):
        return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())

    tokenizer = cse.get_tokenizer()
    lengths = [len(x) for x in tokenizer(sentences, truncation=True, max_length=max_length)["input_ids"]]
    per_round = {k: np.asarray([len(c) for c in chunks]) / np.asarray(v) for k, v in times.items()}
    return {"sentences_per_second": {k: len(sentences) / sum(v) for k, v in times.items()},
            "speedup": {f"{a}_over_{b}": summarize(per_round[a] / per_round[b]) for a, b in (
                ("sentcse_bf16", "st_fp32"), ("sentcse_bf16", "st_bf16"), ("sentcse_bf16", "sentcse_fp32"),
                ("st_bf16", "st_fp32"), ("sentcse_fp32", "st_fp32"), ("sentcse_bf16weights", "st_bf16"),
                ("sentcse_bf16weights", "st_fp32"), ("sentcse_bf16", "sentcse_bf16weights"))},
            "min_cosine_to_fp32": {"sentcse_bf16": min_cosine(emb["sentcse_bf16"], emb["sentcse_fp32"]),
                                   "st_bf16": min_cosine(emb["st_bf16"], emb["st_fp32"]),
                                   "sentcse_bf16weights": min_cosine(emb["sentcse_bf16weights"], emb["sentcse_fp32"])},
            "max_abs_diff_fp32_sides": float(np.abs(emb["sentcse_fp32"] - emb["st_fp32"]).max()),
            "lengths": lengths, "raw_seconds": times, "max_length": max_length, "sentences": len(sentences)}


def step_profile(args, path: str, sentences, side: str) -> dict:
    """Phases and ops of 3 steps of ``side`` (sentcse_bf16, sentcse_fp32: SimCSE avg; st_bf16: MNRL) after 2
    warm-up steps."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from bench.steps import profiled_phases, sentcse_trainer, st_trainer, trainer_step

    framework, dtype = side.split("_")
    if framework == "st":
        trainer, collate = st_trainer(path, sentences, args.max_length, args.batch_size, bf16=dtype == "bf16")
    else:
        trainer, collate = sentcse_trainer(path, "simcse", sentences, args.max_length, args.batch_size,
                                           bf16=dtype == "bf16", pooler="avg")
    batches = [collate(sentences[i * args.batch_size:(i + 1) * args.batch_size]) for i in range(5)]
    for batch in batches[:2]:
        trainer_step(trainer, batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            trainer_step(trainer, batch, phase=lambda name: record_function(f"phase:{name}"))
    averages = prof.key_averages()
    steps = len(batches) - 2
    phases = profiled_phases(averages, steps)
    ops = sorted(((e.key, e.self_cpu_time_total / steps / 1e3, e.count // steps) for e in averages
                  if not e.key.startswith("phase:")), key=lambda x: -x[1])
    total = sum(ms for _, ms, _ in ops)
    casts = sum(ms for key, ms, _ in ops if key in ("aten::copy_", "aten::_to_copy", "aten::to"))
    products = sum(ms for key, ms, _ in ops if key in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"))
    return {"phases_ms": phases, "top_ops_ms_per_step": ops[:15],
            "self_ms_per_step": total, "cast_ms_per_step": casts, "matrix_product_ms_per_step": products}


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch
    from transformers import AutoConfig

    torch.set_num_threads(args.threads)
    run = Run(NAME, sys.argv[1:] if argv is None else argv)
    paths = {name: backbone_path(name) for name in args.backbones}
    configs = {name: AutoConfig.from_pretrained(path) for name, path in paths.items()}
    roof = rooflines(args, configs)
    rounds = args.warmup + args.repeats
    sentences = read_sentences(args.batch_size * max(rounds, 5))
    steps, encodes = {}, {}
    for index, (name, path) in enumerate(paths.items()):
        variants = STEP_VARIANTS + (METHOD_VARIANTS if index == 0 else ())
        large = is_large(configs[name])
        warmup, repeats = (1, args.large_repeats) if large else (args.warmup, args.repeats)
        steps[name] = step_times(args, name, path, variants, sentences, warmup, repeats)
        flops = [encoder_flops(configs[name], row) for row in steps[name]["lengths"]]
        steps[name]["flops_per_step"] = summarize(flops)
        del steps[name]["lengths"]  # counted; not kept in the JSON
        steps[name]["roofline_fraction"] = {
            v: float(sum(f / t for f, t in zip(flops, steps[name]["raw_seconds"][v])) / len(flops)
                     / roof[v.rsplit("_", 1)[1]]["2048^3"]) for v in steps[name]["raw_seconds"]}
        encodes[name] = (encode_times(args, path, args.large_sentences, args.large_sentences // 4) if large
                         else encode_times(args, path, args.sentences, args.chunk))
        flops_encode = encoder_flops(configs[name], encodes[name].pop("lengths"), training=False)
        encodes[name]["roofline_fraction"] = {
            side: flops_encode / sum(t) / roof["bf16" if "bf16" in side else "fp32"]["2048^3"]
            for side, t in encodes[name]["raw_seconds"].items()}
    profiled = next(iter(paths))
    print(f"profiling the bf16 step on {profiled}", flush=True)
    profiles = {side: step_profile(args, paths[profiled], sentences, side) for side in PROFILED}
    record = run.finish({"args": vars(args), "goals": GOALS, "gemm_flops": roof, "steps": steps, "encode": encodes,
                         "profile": {"backbone": profiled, **profiles}})
    if not args.no_markdown:
        update_section(NAME, markdown(record))
    return record


def markdown(record: dict) -> str:
    a = record["args"]
    amx = has_amx(record["machine"])
    lines = ["## 9. bf16 against fp32 and against sentence-transformers' bf16 (`bench/bf16_speed.py`)", ""]
    lines += header_lines(record)
    lines += [f"- Setting: batch {a['batch_size']}, max length {a['max_length']}, wiki100k, {a['threads']} torch "
              f"thread(s), {a['warmup']} warm-up + {a['repeats']} timed interleaved rounds ({a['large_repeats']} after "
              f"one for bert-base-random, whose encode rounds cover {a['large_sentences']} sentences). Step = the "
              "trainer's own step (bench/steps.py); bf16 = the Trainer's `bf16` argument (autocast) on both "
              "frameworks; `compiled_bf16` = SimCSE bf16 with the Trainer's `torch_compile` (inductor); encode bf16 = "
              "sentcse `encode(dtype=\"bf16\")` (the weights cast for the call) and ST `model.bfloat16()`; "
              "`sentcse_bf16weights` is sentcse's encode() of a bf16 copy of the model (as ST's). bert-base-random is "
              "bert-base's shape (12 x 768) with random weights.",
              "- Goals (for a CPU with AMX): " + ", ".join(
                  f"{k.replace('_', ' ')} {'<=' if k.startswith('step') and 'share' not in k else '>='} {v}"
                  for k, v in record["goals"].items()) +
              (". This CPU has AMX: judged below." if amx else
               ". **This CPU has no AMX, so the goals are not judged here**: its bf16 matrix products run at the rate "
               "measured below, not AMX's."), ""]
    roof = record["gemm_flops"]
    lines.append(markdown_table(["GEMM (torch.mm)", "fp32 GFLOP/s", "bf16 GFLOP/s", "bf16 / fp32"], [
        [shape, f"{roof['fp32'][shape] / 1e9:.0f}", f"{roof['bf16'][shape] / 1e9:.0f}",
         f"{roof['bf16'][shape] / roof['fp32'][shape]:.2f}x"] for shape in roof["fp32"]]))
    lines += ["", "Training step, ms median [IQR], and its useful FLOP/s as a share of the 2048^3 GEMM rate of its "
              "dtype:", ""]
    rows = []
    for backbone, s in record["steps"].items():
        for v, stats in s["seconds"].items():
            rows.append([backbone, v, fmt_ms(stats), f"{s['roofline_fraction'][v]:.0%}"])
    lines.append(markdown_table(["backbone", "variant", "step ms", "of the GEMM rate"], rows))
    lines += ["", "Ratios per round, median [IQR] (min-max):", ""]
    rows = []
    for backbone, s in record["steps"].items():
        raw = s["raw_seconds"]
        for method, stats in sorted(s["ratio_to_fp32"].items()):
            rows.append([backbone, f"{method} bf16 / {method} fp32", fmt_ratio(stats)])
        rows.append([backbone, "sentcse bf16 / ST bf16",
                     fmt_ratio(summarize([x / y for x, y in zip(raw["sentcse_bf16"], raw["st_bf16"])]))])
        rows.append([backbone, "sentcse fp32 / ST fp32",
                     fmt_ratio(summarize([x / y for x, y in zip(raw["sentcse_fp32"], raw["st_fp32"])]))])
    lines.append(markdown_table(["backbone", "step time ratio", "median [IQR] (min-max)"], rows))
    lines += ["", f"encode, {a['sentences']} sentences per side ({a['large_sentences']} for bert-base-random) in "
              f"rounds of {a['chunk']} (batch {a['batch_size']}; four rounds for bert-base-random): "
              "sentences/s, share of the GEMM rate, and the lowest cosine of a bf16 embedding to its fp32 one:", ""]
    rows = []
    for backbone, e in record["encode"].items():
        for side, rate in e["sentences_per_second"].items():
            cosine = e["min_cosine_to_fp32"].get(side)
            rows.append([backbone, side, f"{rate:.0f}", f"{e['roofline_fraction'][side]:.0%}",
                         f"{cosine:.5f}" if cosine is not None else "-"])
    lines.append(markdown_table(["backbone", "side", "sentences/s", "of the GEMM rate", "min cosine to fp32"], rows))
    lines += [""]
    rows = [[backbone, k.replace("_over_", " / "), fmt_ratio(v)] for backbone, e in record["encode"].items()
            for k, v in e["speedup"].items()]
    lines.append(markdown_table(["backbone", "encode throughput ratio", "median [IQR] (min-max)"], rows))
    p = record["profile"]
    lines += ["", f"Profile of the step on {p['backbone']} (torch.profiler, 3 steps after 2), ms per step:", ""]
    sides = [side for side in PROFILED if side in p]
    phases = list(p[sides[0]]["phases_ms"])
    rows = [[phase] + [f"{p[side]['phases_ms'].get(phase, 0):.0f}" for side in sides] for phase in phases]
    rows += [["ops' self time: matrix products", *(f"{p[side]['matrix_product_ms_per_step']:.0f}" for side in sides)],
             ["ops' self time: casts and copies", *(f"{p[side]['cast_ms_per_step']:.0f}" for side in sides)],
             ["ops' self time: all", *(f"{p[side]['self_ms_per_step']:.0f}" for side in sides)]]
    lines.append(markdown_table(["phase / ops", *(s.replace("_", " ") for s in sides)], rows))
    for side in sides:
        lines += ["", f"Top ops, {side} (ms per step, calls per step): " +
                  "; ".join(f"`{k}` {ms:.0f} ({n})" for k, ms, n in p[side]["top_ops_ms_per_step"][:10])]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
