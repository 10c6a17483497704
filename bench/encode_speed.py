#!/usr/bin/env python
"""``encode`` throughput: sentcse ``SimCseModel.encode`` vs ``SentenceTransformer.encode`` on the same model.

    python -m bench.encode_speed                                  # all-MiniLM-L6-v2, 10k wiki sentences
    python -m bench.encode_speed --sentences 2000 --chunk 500 --batch_size 32 --threads 2

sentcse: ``SimCseModel.from_backbone(path, pooler="avg")``; sentence-transformers: ``SentenceTransformer(path)``
without its final Normalize module (normalisation off on both sides: ``encode(normalize=False)`` vs
``normalize_embeddings=False``), CPU, fp32, same batch size. The sentences are cut into chunks; each round
encodes one chunk with both sides in turn (alternating which goes first), after a warm-up chunk that is not in the
count, so every sentence is encoded once per side. Throughput = sentences / summed time; the per-round ratio
(sentcse sentences/s / ST sentences/s) gives the spread. The embeddings of every sentence are compared (max abs
diff), and a normalised check (sentcse ``normalize=True`` vs the full ST model) is made on the warm-up chunk.
Goal: sentcse >= 1.1x sentence-transformers' throughput.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import (
    Run,
    backbone_path,
    fmt_ratio,
    header_lines,
    interleaved,
    markdown_table,
    quiet,
    read_sentences,
    summarize,
    update_section,
)

GOAL = 1.1
TOLERANCE = 1e-4


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="all-MiniLM-L6-v2")
    p.add_argument("--sentences", type=int, default=10_000)
    p.add_argument("--chunk", type=int, default=1000, help="sentences per round")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from sentcse.modeling import SimCseModel

    torch.set_num_threads(args.threads)
    run = Run("encode_speed", sys.argv[1:] if argv is None else argv)
    path = backbone_path(args.backbone)
    warm = read_sentences(args.chunk, skip=args.sentences)  # disjoint from the timed sentences
    sentences = read_sentences(args.sentences)
    chunks = [sentences[i:i + args.chunk] for i in range(0, len(sentences), args.chunk)]

    cse = SimCseModel.from_backbone(path, pooler="avg").eval()
    st_full = SentenceTransformer(path, device="cpu")
    st = SentenceTransformer(modules=[m for m in st_full if type(m).__name__ != "Normalize"], device="cpu").eval()
    tokenizer = cse.get_tokenizer()
    longest = max(len(ids) for ids in tokenizer(sentences + warm, truncation=False)["input_ids"])
    # Same truncation on both sides: ST truncates at its max_seq_length.
    max_length = st.max_seq_length
    print(f"{len(sentences)} sentences in {len(chunks)} chunks of {args.chunk}; longest {longest} tokens "
          f"(ST max_seq_length {max_length}); batch {args.batch_size}; {args.threads} thread(s)", flush=True)

    def enc_cse(batch, normalize=False):
        return cse.encode(batch, batch_size=args.batch_size, normalize=normalize, max_length=max_length)

    def enc_st(batch, model=st, normalize=False):
        return model.encode(batch, batch_size=args.batch_size, normalize_embeddings=normalize, convert_to_numpy=True,
                            show_progress_bar=False)

    # warm-up (and the normalised check) on sentences outside the timed set
    a, b = enc_cse(warm), enc_st(warm)
    warm_diff = float(np.abs(a - b).max())
    normalized_diff = float(np.abs(enc_cse(warm, normalize=True) - enc_st(warm, model=st_full)).max())
    sides = {"sentcse": enc_cse, "sentence-transformers": enc_st}
    outputs = {k: [None] * len(chunks) for k in sides}

    def make(side):
        def fn(r):
            outputs[side][r] = sides[side](chunks[r])
        return fn

    times = interleaved({k: make(k) for k in sides}, 0, len(chunks))
    emb_cse = np.concatenate(outputs["sentcse"])
    emb_st = np.concatenate(outputs["sentence-transformers"])
    max_diff = float(np.abs(emb_cse - emb_st).max())
    # Why the speed differs: padded positions under each library's sort (per chunk, as encoded here).
    lengths = [len(x) for x in tokenizer(sentences, truncation=True, max_length=max_length)["input_ids"]]

    def padding(order):
        real = padded = 0
        for c in range(0, len(sentences), args.chunk):
            idx = [i for i in order if c <= i < c + args.chunk]
            for b in range(0, len(idx), args.batch_size):
                rows = [lengths[i] for i in idx[b:b + args.batch_size]]
                real, padded = real + sum(rows), padded + max(rows) * len(rows)
        return {"padding_share": 1 - real / padded, "positions": padded, "real_tokens": real}

    padding_stats = {"st_character_sorted": padding(sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))),
                     "sentcse_token_sorted": padding(sorted(range(len(sentences)), key=lambda i: -lengths[i]))}
    cos = (emb_cse * emb_st).sum(1) / (np.linalg.norm(emb_cse, axis=1) * np.linalg.norm(emb_st, axis=1))
    sizes = np.asarray([len(c) for c in chunks], dtype=np.float64)
    throughput = {k: len(sentences) / sum(v) for k, v in times.items()}
    per_round = {k: sizes / np.asarray(v) for k, v in times.items()}
    ratio = summarize(per_round["sentcse"] / per_round["sentence-transformers"])
    print(f"max |diff| {max_diff:.2e} (warm-up {warm_diff:.2e}, normalised {normalized_diff:.2e}); "
          f"sentcse {throughput['sentcse']:.1f}/s, ST {throughput['sentence-transformers']:.1f}/s; "
          f"ratio {fmt_ratio(ratio)}")
    identical = max_diff <= TOLERANCE and normalized_diff <= TOLERANCE
    record = run.finish({
        "args": vars(args), "goal_ratio": GOAL, "tolerance": TOLERANCE, "backbone_path": path,
        "longest_tokens": longest, "st_max_seq_length": max_length,
        "max_abs_diff": max_diff, "max_abs_diff_warmup": warm_diff, "max_abs_diff_normalized": normalized_diff,
        "min_cosine": float(cos.min()), "identical_within_tolerance": identical,
        "sentences_per_second": throughput, "ratio_sentcse_over_st": ratio,
        "per_round_sentences_per_second": {k: summarize(v) for k, v in per_round.items()}, "raw_seconds": times,
        "padding": padding_stats,
    })
    if not args.no_markdown:
        update_section("encode_speed", markdown(record))
    if not identical:
        raise SystemExit(f"embeddings differ: max abs diff {max_diff:.2e} / normalised {normalized_diff:.2e} > "
                         f"{TOLERANCE}")
    return record


def markdown(record: dict) -> str:
    a = record["args"]
    lines = ["## 4. `encode` throughput: sentcse vs `SentenceTransformer.encode` (`bench/encode_speed.py`)", ""]
    lines += header_lines(record)
    lines += [
        f"- Setting: {a['backbone']}, {a['sentences']} wiki100k sentences (longest {record['longest_tokens']} tokens, "
        f"truncation {record['st_max_seq_length']} on both sides), batch size {a['batch_size']}, CPU fp32, "
        f"{a['threads']} torch thread(s), normalisation off (ST model without its Normalize module); "
        f"{a['chunk']}-sentence chunks, each encoded by both sides in turn after a warm-up chunk. sentcse = "
        "`SimCseModel.from_backbone(path, pooler=\"avg\").encode`; ST = `SentenceTransformer(path).encode`.",
        f"- Embeddings: max abs diff {record['max_abs_diff']:.1e} over all sentences (normalised, vs the full ST "
        f"model: {record['max_abs_diff_normalized']:.1e}); tolerance {record['tolerance']:.0e}: "
        f"{'identical' if record['identical_within_tolerance'] else 'NOT identical'}.",
        f"- Goal: sentcse >= {GOAL}x sentence-transformers' throughput.",
        "",
    ]
    s = record["sentences_per_second"]
    p = record["per_round_sentences_per_second"]
    rows = [[k, f"{s[k]:.1f}", f"{p[k]['median']:.1f} [{p[k]['q25']:.1f}-{p[k]['q75']:.1f}]"] for k in s]
    rows.append(["ratio sentcse / ST", f"{s['sentcse'] / s['sentence-transformers']:.3f}",
                 fmt_ratio(record["ratio_sentcse_over_st"], 3)])
    lines.append(markdown_table(["encoder", "sentences/s (total)", "per chunk: median [IQR] (ratio: (min-max))"], rows))
    pad = record.get("padding")
    if pad:
        st, cse = pad["st_character_sorted"], pad["sentcse_token_sorted"]
        lines += ["", "Why: sentcse tokenises once and batches by token count; sentence-transformers batches by "
                  f"character length. Padded positions: {cse['padding_share']:.1%} for sentcse "
                  f"({cse['positions']} positions) vs {st['padding_share']:.1%} for sentence-transformers "
                  f"({st['positions']})."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
