#!/usr/bin/env python
"""Where SARCSE's extra step time goes: its heads piece by piece, against the backbone, with FLOP counts (CPU).

    python -m bench.studies.profile_sarcse                         # d = 256 (bert-mini-wiki) and 384 (all-MiniLM-L6-v2)
    python -m bench.studies.profile_sarcse --channels 256 128 64

For each hidden size d and ``cnn_channels`` c, the real SARCSE modules (``SarcseTextCnnEncoder``,
``SarcseDecoder``, ``weighted_reconstruction_error``) run forward + backward on inputs of the training shapes
(2 x 64 rows, T = 30 content tokens, the longest case at max length 32), interleaved round by round with the
backbone's own forward + backward on the same batch (a real SimCSE forward of the backbone, 2 x 64 rows x 32
tokens). Reported: ms per piece, the share of a backbone forward + backward, and the multiply-accumulates each
piece costs (analytic), so the overhead can be read as FLOPs or as inefficiency. Nothing in modeling/ is changed:
alternative head sizes are just other ``cnn_channels`` values of the same modules.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import (
    Run,
    backbone_path,
    encoder_flops,
    header_lines,
    interleaved,
    markdown_table,
    quiet,
    read_sentences,
    summarize,
    update_section,
)

BACKBONE_FOR_D = {256: "bert-mini-wiki", 384: "all-MiniLM-L6-v2"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden_sizes", nargs="+", type=int, default=[256, 384])
    p.add_argument("--channels", nargs="+", type=int, default=[256, 128])
    p.add_argument("--content_length", type=int, default=30)
    p.add_argument("--rows", type=int, default=128)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def macs(d: int, c: int, t: int, n: int, kernels=(3, 4, 5)) -> dict:
    """Forward multiply-accumulates of each SARCSE piece (Lr = t)."""
    enc = sum(n * (t - k + 1) * c * d * k for k in kernels)
    widest = t - min(kernels) + 1
    integrate = n * widest * (c * len(kernels)) * d
    split = n * d * c * len(kernels)
    expand = sum(n * c * c * (t - k + 1) for k in kernels)
    project = sum(n * (t - k + 1) * c * d * k for k in kernels)
    refine = n * t * d * d * 3
    return {"encoder (3 TextCNN convs)": enc, "encoder (1x1 integration)": integrate,
            "decoder (split + expand)": split + expand, "decoder (project ConvTranspose)": project,
            "decoder (refine Conv1d)": refine}


def backbone_macs(config, n: int, length: int) -> int:
    """Forward multiply-adds of the backbone over ``n`` rows of ``length`` tokens (half of its FLOPs)."""
    return round(encoder_flops(config, [length] * n, training=False) / 2)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch

    from sentcse.modeling import SarcseConfig, SimCseModel
    from sentcse.modeling.modeling_sarcse import SarcseDecoder, SarcseTextCnnEncoder
    from sentcse.trainers.methods.sarcse import weighted_reconstruction_error

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    run = Run("profile_sarcse", sys.argv[1:] if argv is None else argv)
    n, t = args.rows, args.content_length
    results = []
    for d in args.hidden_sizes:
        name = BACKBONE_FOR_D.get(d)
        backbone = SimCseModel.from_backbone(backbone_path(name), pooler="avg").train() if name else None
        sentences = read_sentences(n // 2)
        tok = backbone.get_tokenizer()(sentences, padding="max_length", truncation=True, max_length=t + 2,
                                       return_tensors="pt")
        tok = {k: torch.cat([v, v]) for k, v in tok.items()}
        fns, pieces = {}, {}
        if backbone is not None:
            def backbone_fn(_):
                out = backbone(**tok)
                out.last_hidden_state.sum().backward()
                backbone.zero_grad()
            fns["backbone forward+backward"] = backbone_fn
        for c in args.channels:
            config = SarcseConfig(backbone_config={"model_type": "bert", "hidden_size": d, "num_attention_heads": 4},
                                  cnn_channels=c, max_length=t + 2)
            encoder, decoder = SarcseTextCnnEncoder(config), SarcseDecoder(config)
            states = torch.randn(n, t, d)
            lengths = torch.full((n,), t)
            mask = torch.ones(n, t, dtype=torch.bool)
            weights = torch.rand(n, t)

            def enc_fn(_, encoder=encoder, states=states, lengths=lengths):
                x = states.clone().requires_grad_(True)
                encoder(x, lengths).sum().backward()
                encoder.zero_grad()

            def dec_fn(_, decoder=decoder, states=states, mask=mask, weights=weights, d=d):
                z = torch.randn(n, d, requires_grad=True)
                recon = decoder(z)
                weighted_reconstruction_error(recon, states, mask, weights).backward()
                decoder.zero_grad()

            fns[f"c={c}: encoder (TextCNN + integration + max-pool)"] = enc_fn
            fns[f"c={c}: decoder + reconstruction loss"] = dec_fn
            pieces[c] = macs(d, c, t, n)
        print(f"d={d}: {len(fns)} pieces, {args.warmup} + {args.repeats} rounds", flush=True)
        times = interleaved(fns, args.warmup, args.repeats, log=False)
        stats = {k: summarize(v) for k, v in times.items()}
        ref = stats.get("backbone forward+backward", {}).get("median")
        bb_macs = backbone_macs(backbone.config.backbone_config, n, t + 2) if backbone is not None else None
        results.append({"hidden_size": d, "backbone": name, "seconds": stats, "backbone_fwd_macs": bb_macs,
                        "head_fwd_macs": pieces, "raw_seconds": times,
                        "share_of_backbone": {k: v["median"] / ref for k, v in stats.items()} if ref else {}})
        for k, v in stats.items():
            print(f"  {k}: {v['median'] * 1e3:.0f} ms" + (f" ({v['median'] / ref:.2f} of backbone)" if ref else ""),
                  flush=True)
    record = run.finish({"args": vars(args), "results": results})
    if not args.no_markdown:
        update_section("profile_sarcse", markdown(record))
    return record


def markdown(record: dict) -> str:
    a = record["args"]
    lines = ["### 2b. Where SARCSE's overhead goes (`bench/studies/profile_sarcse.py`)", ""]
    lines += header_lines(record)
    lines += [f"- Real SARCSE modules, forward + backward, {a['rows']} rows x {a['content_length']} content tokens "
              "(the longest case at max length 32), interleaved with the backbone's own forward + backward on 2 x 64 "
              f"rows x 32 tokens; {a['warmup']} warm-up + {a['repeats']} timed rounds, {a['threads']} thread(s). "
              "GMAC = forward multiply-accumulates (analytic; backward costs about twice that again).", ""]
    rows = []
    for r in record["results"]:
        ref = r["seconds"].get("backbone forward+backward", {}).get("median")
        bb = r["backbone_fwd_macs"]
        if ref:
            rows.append([f"d={r['hidden_size']} ({r['backbone']})", "backbone forward + backward", f"{ref * 1e3:.0f}",
                         "1.00", f"{bb / 1e9:.1f}" if bb else "-"])
        for c, pieces in r["head_fwd_macs"].items():
            enc = sum(v for k, v in pieces.items() if k.startswith("encoder"))
            dec = sum(v for k, v in pieces.items() if k.startswith("decoder"))
            for label, key, m in (("encoder", f"c={c}: encoder (TextCNN + integration + max-pool)", enc),
                                  ("decoder + loss", f"c={c}: decoder + reconstruction loss", dec)):
                s = r["seconds"][key]["median"]
                rows.append([f"d={r['hidden_size']}", f"cnn_channels={c}: {label}", f"{s * 1e3:.0f}",
                             f"{s / ref:.2f}" if ref else "-", f"{m / 1e9:.2f}"])
    lines.append(markdown_table(["d", "piece", "ms (median)", "share of backbone fwd+bwd", "forward GMAC"], rows))
    detail = []
    for r in record["results"]:
        for c, pieces in r["head_fwd_macs"].items():
            detail.append(f"d={r['hidden_size']}, c={c}: " + ", ".join(f"{k} {v / 1e9:.2f}" for k, v in pieces.items()))
    lines += ["", "Forward GMAC per piece: " + "; ".join(detail) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
