#!/usr/bin/env python
"""How alike are the objectives' gradients? Pairwise agreement of the parameter gradients on real batches.

    python -m bench.studies.objective_gradients
    python -m bench.studies.objective_gradients --batches 2 --threads 2

Why: in the 50-step quality runs, orig Barlow Twins, VICReg and MHE reach the same STS scores to about 0.05. The
gradient paradigm (METHODS.md section 3) predicts their gradients share one structure; AdamW divides every
coordinate by its own running scale, so two objectives whose gradients point the same way (whatever their
magnitude: lambda 30 vs 10) take nearly the same steps. This measures it: for each batch, ONE training-mode forward
of bert-mini-wiki (pooler cls, MLP without activation, frozen embeddings: the gradient-paradigm BERT preset), then
each objective's gradient with respect to every trainable parameter (the same dropout masks for all). Reported per
pair: cosine of the flattened parameter gradients and the share of coordinates whose signs agree (AdamW's first
update is lr * sign(g)), median over batches.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import Run, bert_mini_path, header_lines, markdown_table, quiet, read_sentences, update_section
from sentcse.trainers.objectives import objective_variants

OBJECTIVES = objective_variants()


def label(name: str, variant) -> str:
    return f"{name}_{variant}" if variant else name


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_markdown", action="store_true")
    return p.parse_args(argv)


def objective_of(name: str, variant):
    from sentcse.trainers.objectives import build_objective
    from sentcse.trainers.presets import PRESETS

    if variant is None:
        return build_objective(name)
    return build_objective(name, variant, **PRESETS[f"bert-{variant}-{name}"]["objective_kwargs"])


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import numpy as np
    import torch

    from sentcse.modeling import SimCseModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    run = Run("objective_gradients", sys.argv[1:] if argv is None else argv)
    model = SimCseModel.from_backbone(bert_mini_path(), pooler="cls", mlp_activation="none", freeze_embeddings=True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    tokenizer = model.get_tokenizer()
    objectives = {label(n, v): objective_of(n, v) for n, v in OBJECTIVES}
    names = list(objectives)
    sentences = read_sentences(args.batches * args.batch_size)
    cosine = np.zeros((args.batches, len(names), len(names)))
    signs = np.zeros_like(cosine)
    for b in range(args.batches):
        batch = sentences[b * args.batch_size:(b + 1) * args.batch_size]
        features = tokenizer(batch + batch, padding=True, truncation=True, max_length=32, return_tensors="pt")
        projection = model(**features).projection
        anchor, positive = projection[: len(batch)], projection[len(batch):]
        grads = {}
        for name, objective in objectives.items():
            loss = sum(objective(anchor, positive).values())
            flat = torch.cat([g.flatten() for g in torch.autograd.grad(loss, params, retain_graph=True)])
            grads[name] = flat.double()
        for i, a in enumerate(names):
            for j, c in enumerate(names):
                cosine[b, i, j] = torch.nn.functional.cosine_similarity(grads[a], grads[c], dim=0).item()
                signs[b, i, j] = (grads[a].sign() == grads[c].sign()).double().mean().item()
        print(f"batch {b + 1}/{args.batches} done", flush=True)
    record = run.finish({"args": vars(args), "objectives": names,
                         "trainable_parameters": int(sum(p.numel() for p in params)),
                         "cosine": cosine.tolist(), "sign_agreement": signs.tolist(),
                         "cosine_median": np.median(cosine, 0).tolist(),
                         "sign_agreement_median": np.median(signs, 0).tolist()})
    if not args.no_markdown:
        update_section("objective_gradients", markdown(record))
    return record


def markdown(record: dict) -> str:
    names, cos, sign = record["objectives"], record["cosine_median"], record["sign_agreement_median"]
    a = record["args"]
    lines = ["### 2c. How alike the objectives' gradients are (`bench/studies/objective_gradients.py`)", ""]
    lines += header_lines(record)
    lines += [
        f"- Setting: bert-mini-wiki with the gradient-paradigm BERT preset (pooler cls, MLP without activation, frozen "
        f"embeddings; {record['trainable_parameters']} trainable parameters), {a['batches']} wiki100k batches of "
        f"{a['batch_size']}, max length 32; one forward per batch, each objective's parameter gradient on the same "
        "dropout masks (non-contrastive objectives with their BERT preset hyperparameters, the others with their "
        "defaults). Cell: cosine of the two gradients / share of coordinates with the same sign (AdamW's first "
        "update is lr * sign(g)), median over the batches.",
        "",
    ]
    rows = [[n, *[f"{cos[i][j]:.3f} / {sign[i][j]:.2f}" for j in range(len(names))]] for i, n in enumerate(names)]
    lines.append(markdown_table(["", *names], rows))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
