#!/usr/bin/env python
"""reCSE ``time_for_space`` on vs off: peak memory and step time.

    python -m bench.recse_memory                                   # bert-mini-wiki (d=256) and all-MiniLM-L6-v2 (d=384)
    python -m bench.recse_memory --batch_sizes 64 256 --steps 6

For every (backbone, batch size, mode) a fresh subprocess builds the reCSE CseTrainer (ReCseConfig defaults,
recorded with each result), runs ``--warmup`` steps, resets the kernel's peak-RSS counter
(``/proc/self/clear_refs``), runs ``--steps`` timed steps and reports:

- peak RSS over all its steps (VmHWM, reset once model and trainer are built), and that peak minus the RSS before
  the first step (what training adds: activations, gradients, AdamW state; freed memory is kept by the allocator,
  so a per-step transient cannot be read from RSS); on CUDA also ``torch.cuda.max_memory_allocated`` (reset
  before the timed steps);
- the bytes autograd keeps for backward during one forward (``saved_tensors_hooks``, storages counted once), for
  the whole model and for the reshaping head alone: deterministic, unlike RSS (allocator caching);
- the step times of that subprocess (not interleaved; steps run by hand with ``bench.steps.trainer_step``, so the
  peak-RSS reset and the autograd count fall between the warm-up and the timed steps).

The step-time RATIO comes from one more subprocess per setting in which the two modes alternate step by step on
one model (``config.time_for_space`` is read at forward time), after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    REPO,
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=list(SMALL_BACKBONES))
    p.add_argument("--batch_sizes", nargs="+", type=int, default=[64])
    p.add_argument("--max_length", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=4, help="timed steps per memory subprocess")
    p.add_argument("--ratio_warmup", type=int, default=2)
    p.add_argument("--ratio_repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    p.add_argument("--child", choices=["on", "off", "ratio"], help=argparse.SUPPRESS)
    p.add_argument("--backbone", help=argparse.SUPPRESS)
    p.add_argument("--batch_size", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------------ child side
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def saved_bytes(trainer, inputs) -> dict:
    """Bytes autograd saves for backward in one forward + objective, total and inside the reshaping head."""
    import torch

    model = trainer.model
    seen_all, seen_head = {}, {}
    state = {"in_head": False}

    def pack(t):
        try:
            storage = t.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
        except (RuntimeError, NotImplementedError):
            return t
        seen_all[key] = size
        if state["in_head"]:
            seen_head[key] = size
        return t

    head = model.reshape_head
    h1 = head.register_forward_pre_hook(lambda *a: state.__setitem__("in_head", True))
    h2 = head.register_forward_hook(lambda *a: state.__setitem__("in_head", False))
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = trainer.compute_loss(model, inputs)
        loss.backward()
        model.zero_grad()
    finally:
        h1.remove()
        h2.remove()
    return {"total": sum(seen_all.values()), "reshape_head": sum(seen_head.values())}


def child(args) -> dict:
    quiet()
    import torch

    from bench.steps import sentcse_trainer, trainer_step

    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    path = backbone_path(args.backbone)
    n = args.batch_size
    rounds = max(args.warmup + args.steps, args.ratio_warmup + args.ratio_repeats)
    sentences = read_sentences(n * rounds)
    batches = [sentences[i * n:(i + 1) * n] for i in range(rounds)]
    mode = args.child
    trainer, collate = sentcse_trainer(path, "recse", sentences, args.max_length, n,
                                       time_for_space=(mode != "off"))
    inputs = [collate(b) for b in batches]
    config = trainer.model.config
    info = {"backbone": args.backbone, "batch_size": n, "rows": 2 * n, "hidden_size": config.hidden_size,
            "chunk_size": config.reshape_chunk_size, "reshape_source": config.reshape_source, "sqrt": config.sqrt,
            "mode": mode, "padded_length": [int(x["input_ids"].shape[1]) for x in inputs]}
    if mode == "ratio":
        def step(flag):
            def fn(r):
                config.time_for_space = flag
                trainer_step(trainer, inputs[r])
            return fn

        times = interleaved({"on": step(True), "off": step(False)}, args.ratio_warmup, args.ratio_repeats, log=False)
        info.update({"seconds": {k: summarize(v) for k, v in times.items()},
                     "ratio_on_over_off": ratios(times, "off")["on"], "raw_seconds": times})
        return info

    import gc

    gc.collect()
    baseline = _status_kib("VmRSS")  # model, data and trainer built; no step yet (no gradients, no AdamW state)
    info["peak_reset"] = _reset_peak_rss()
    for r in range(args.warmup):
        trainer_step(trainer, inputs[r])
    info["saved_bytes"] = saved_bytes(trainer, inputs[0])
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for r in range(args.warmup, args.warmup + args.steps):
        start = time.perf_counter()
        trainer_step(trainer, inputs[r])
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = _status_kib("VmHWM")
    info.update({
        "baseline_rss_mib": baseline / 1024,
        "peak_rss_mib": peak / 1024,
        "training_peak_over_baseline_mib": (peak - baseline) / 1024,
        "seconds": summarize(times),
        "cuda_max_memory_allocated_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    })
    return info


# ------------------------------------------------------------------------------------------------------ parent side
def spawn(args, backbone: str, batch_size: int, mode: str) -> dict:
    cmd = [sys.executable, "-m", "bench.recse_memory", "--child", mode, "--backbone", backbone,
           "--batch_size", str(batch_size), "--max_length", str(args.max_length), "--warmup", str(args.warmup),
           "--steps", str(args.steps), "--ratio_warmup", str(args.ratio_warmup),
           "--ratio_repeats", str(args.ratio_repeats), "--threads", str(args.threads)]
    print(f"  [{backbone} batch {batch_size}] subprocess: {mode}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{proc.stderr[-4000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def analytic_head_mib(rows: int, d: int, chunk: int) -> dict:
    """Size of ONE (rows, d, d) fp32 tensor, and of one chunk's, in MiB: the unit the saving is made of."""
    return {"one_nxdxd_tensor_mib": rows * d * d * 4 / 2**20,
            "one_chunk_tensor_mib": min(chunk, rows) * d * d * 4 / 2**20}


def markdown(record: dict) -> str:
    a = record["args"]
    lines = ["## 3. reCSE `time_for_space`: peak memory and step time (`bench/recse_memory.py`)", ""]
    lines += header_lines(record)
    first = record["results"][0]["on"]
    lines += [
        f"- Setting: reCSE defaults (reshape_source `{first['reshape_source']}`, sqrt `{first['sqrt']}`, "
        f"reshape_chunk_size {first['chunk_size']}), max length "
        f"{a['max_length']}, wiki100k, CPU fp32, {a['threads']} torch thread(s). Memory: one fresh subprocess per "
        f"mode; peak RSS (VmHWM, reset once the model and trainer are built) over {a['warmup']} + {a['steps']} steps, "
        "and that peak minus the RSS before the first step (activations, gradients, AdamW state); 'autograd saved' = "
        "bytes of the tensors kept for backward by one forward (deterministic). Time ratio: a separate subprocess "
        f"alternating the two modes on one model, {a['ratio_warmup']} warm-up + {a['ratio_repeats']} timed rounds.",
        "",
    ]
    rows = []
    for r in record["results"]:
        on, off, ratio = r["on"], r["off"], r["ratio"]
        peak_ratio = on["peak_rss_mib"] / off["peak_rss_mib"]
        saved_ratio = on["saved_bytes"]["total"] / off["saved_bytes"]["total"]
        rows.append([
            f"{r['backbone']} (d={on['hidden_size']})", f"{on['batch_size']} ({on['rows']} rows)",
            f"{off['peak_rss_mib']:.0f} / {on['peak_rss_mib']:.0f} ({peak_ratio:.2f})",
            f"{off['training_peak_over_baseline_mib']:.0f} / {on['training_peak_over_baseline_mib']:.0f} "
            f"({on['training_peak_over_baseline_mib'] / off['training_peak_over_baseline_mib']:.2f})",
            f"{off['saved_bytes']['total'] / 2**20:.0f} / {on['saved_bytes']['total'] / 2**20:.0f} ({saved_ratio:.2f})",
            f"{off['saved_bytes']['reshape_head'] / 2**20:.0f} / {on['saved_bytes']['reshape_head'] / 2**20:.1f}",
            f"{r['analytic']['one_nxdxd_tensor_mib']:.0f}",
            f"{fmt_ms(ratio['seconds']['off'])} / {fmt_ms(ratio['seconds']['on'])}",
            fmt_ratio(ratio["ratio_on_over_off"]),
        ])
        if on.get("cuda_max_memory_allocated_mib") is not None:
            rows[-1].append(f"{off['cuda_max_memory_allocated_mib']:.0f} / {on['cuda_max_memory_allocated_mib']:.0f}")
    headers = ["backbone", "batch", "peak RSS MiB off / on (on/off)",
               "training peak over loaded baseline MiB off / on (on/off)", "autograd saved MiB off / on (on/off)",
               "of which reshape head off / on", "one (N,d,d) fp32 tensor MiB",
               "step ms off / on, median [IQR]", "time ratio on/off, median [IQR] (min-max)"]
    if any(r["on"].get("cuda_max_memory_allocated_mib") is not None for r in record["results"]):
        headers.append("CUDA max allocated MiB off / on")
    lines.append(markdown_table(headers, rows))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        result = child(args)
        print("RESULT " + json.dumps(result))
        return result
    quiet()
    import torch

    torch.set_num_threads(args.threads)
    run = Run("recse_memory", sys.argv[1:] if argv is None else argv)
    results = []
    for backbone in args.backbones:
        for batch_size in args.batch_sizes:
            res = {"backbone": backbone, "batch_size": batch_size}
            for mode in ("off", "on", "ratio"):
                res[mode] = spawn(args, backbone, batch_size, mode)
            res["analytic"] = analytic_head_mib(2 * batch_size, res["on"]["hidden_size"], res["on"]["chunk_size"])
            results.append(res)
            on, off = res["on"], res["off"]
            print(f"{backbone} batch {batch_size}: peak RSS off {off['peak_rss_mib']:.0f} MiB, "
                  f"on {on['peak_rss_mib']:.0f} MiB; saved off {off['saved_bytes']['total'] / 2**20:.0f} MiB, "
                  f"on {on['saved_bytes']['total'] / 2**20:.0f} MiB; "
                  f"time on/off {fmt_ratio(res['ratio']['ratio_on_over_off'])}", flush=True)
    record = run.finish({"args": {k: v for k, v in vars(args).items() if k not in ("child", "backbone", "batch_size")},
                         "results": results})
    if not args.no_markdown:
        update_section("recse_memory", markdown(record))
    return record


if __name__ == "__main__":
    main()
