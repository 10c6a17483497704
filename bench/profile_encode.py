#!/usr/bin/env python
"""Where ``encode`` spends its time, sentcse vs sentence-transformers (CPU), and the padding left after sorting.

    python bench/profile_encode.py                        # all-MiniLM-L6-v2, 1000 wiki sentences, batch 64

torch.profiler over one ``encode`` call of each side on the same sentences, with the tokenizer call and the model
forward marked as ranges (by wrapping them for the duration of the call; nothing in modeling/ is changed), so the
time splits into tokenisation, transformer forward and the rest (sorting, pooling, copies, Python). Also: the share
of padded positions in the length-sorted batches both sides form.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Run, backbone_path, header_lines, markdown_table, quiet, read_sentences, update_section  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="all-MiniLM-L6-v2")
    p.add_argument("--sentences", type=int, default=1000)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def wrap(obj, attr, label):
    """Mark every call of ``obj.attr`` as a profiler range; returns an undo function."""
    from torch.profiler import record_function

    original = getattr(obj, attr)

    def wrapped(*a, **kw):
        with record_function(label):
            return original(*a, **kw)

    setattr(obj, attr, wrapped)
    return lambda: setattr(obj, attr, original)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch
    from modeling import SimCseModel
    from sentence_transformers import SentenceTransformer
    from torch.profiler import ProfilerActivity, profile, record_function

    torch.set_num_threads(args.threads)
    run = Run("profile_encode", sys.argv[1:] if argv is None else argv)
    path = backbone_path(args.backbone)
    sentences = read_sentences(args.sentences)
    cse = SimCseModel.from_backbone(path, pooler="avg").eval()
    full = SentenceTransformer(path, device="cpu")
    st = SentenceTransformer(modules=[m for m in full if type(m).__name__ != "Normalize"], device="cpu").eval()
    tokenizer = cse.get_tokenizer()

    # padding after length sorting (both sides sort by string length, longest first / shortest first)
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    real = padded = 0
    for start in range(0, len(order), args.batch_size):
        batch = [sentences[i] for i in order[start:start + args.batch_size]]
        mask = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")["attention_mask"]
        real, padded = real + int(mask.sum()), padded + mask.numel()

    sides = {}
    st_transformer = st[0]
    for side in ("sentcse", "sentence-transformers"):
        undo = []
        if side == "sentcse":
            def tok(*a, **kw):
                with record_function("range:tokenize"):
                    return tokenizer(*a, **kw)

            undo.append(wrap(cse.backbone, "forward", "range:transformer_forward"))
            call = lambda: cse.encode(sentences, batch_size=args.batch_size, max_length=256, tokenizer=tok)  # noqa: E731
        else:
            undo.append(wrap(st, "preprocess", "range:tokenize") if hasattr(st, "preprocess") else wrap(st, "tokenize", "range:tokenize"))
            undo.append(wrap(st_transformer.auto_model, "forward", "range:transformer_forward"))
            call = lambda: st.encode(sentences, batch_size=args.batch_size, show_progress_bar=False)  # noqa: E731
        call()  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            with record_function("range:encode_total"):
                call()
        for u in undo:
            u()
        events = {e.key: e for e in prof.key_averages()}
        total = events["range:encode_total"].cpu_time_total / 1e3
        tok = events["range:tokenize"].cpu_time_total / 1e3 if "range:tokenize" in events else float("nan")
        fwd = events["range:transformer_forward"].cpu_time_total / 1e3
        ops = sorted(((e.key, e.self_cpu_time_total / 1e3, e.count) for e in prof.key_averages() if not e.key.startswith("range:")),
                     key=lambda x: -x[1])[:10]
        sides[side] = {"total_ms": total, "tokenize_ms": tok, "transformer_forward_ms": fwd,
                       "rest_ms": total - tok - fwd, "top_ops_ms": ops,
                       "table": prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)}
        print(f"{side}: total {total:.0f} ms, tokenize {tok:.0f}, transformer forward {fwd:.0f}, rest {total - tok - fwd:.0f}", flush=True)
    record = run.finish({"args": vars(args), "padding_share_sorted_batches": 1 - real / padded, "real_tokens": real,
                         "padded_positions": padded, "sides": sides})
    if not args.no_markdown:
        update_section("profile_encode", markdown(record))
    return record


def markdown(record: dict) -> str:
    a = record["args"]
    lines = ["### 4b. Where `encode` spends its time (`bench/profile_encode.py`)", ""]
    lines += header_lines(record)
    lines += [f"- One profiled `encode` of {a['sentences']} wiki sentences per side ({a['backbone']}, batch {a['batch_size']}, "
              f"{a['threads']} thread(s), after a warm-up call; not interleaved: read the shares, not the absolute "
              f"difference). Padded positions left in the length-sorted batches: {record['padding_share_sorted_batches']:.1%}.", ""]
    rows = []
    for side, s in record["sides"].items():
        t = s["total_ms"]
        rows.append([side, f"{t:.0f}", f"{s['tokenize_ms']:.0f} ({s['tokenize_ms'] / t:.1%})",
                     f"{s['transformer_forward_ms']:.0f} ({s['transformer_forward_ms'] / t:.1%})",
                     f"{s['rest_ms']:.0f} ({s['rest_ms'] / t:.1%})"])
    lines.append(markdown_table(["side", "encode ms (profiled)", "tokenisation", "transformer forward", "rest (sort, pool, copies, Python)"], rows))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
