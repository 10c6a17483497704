#!/usr/bin/env python
"""Evaluate a sentence encoder on the STS tasks (SentEval protocol, SimCSE's "all" setting for STS12-16).

    python examples/evaluate.py MODEL [--tasks ...] [--pooler ...] [--sts_dir ...] [--batch_size N] [--output JSON]
    python examples/evaluate.py CHECKPOINT_FOLDER --write_card [--hub_model_id USER/NAME]

MODEL is a saved sentcse checkpoint (config.json model_type a registered method: simcse/sarcse/recse), a
sentence-transformers folder (modules.json: its pooling config picks the pooler) or a plain Hugging Face encoder
(pooler --pooler, default avg).
Prints the table (STS12 STS13 STS14 STS15 STS16 STS-B SICK-R Avg, Spearman x100, then STS-B dev) and, with
--output, writes every score (Spearman, Pearson, pair counts, per-subset scores, timings) as JSON.
--write_card (a local sentcse checkpoint folder): merges the scores into the folder's sts_results.json and
rewrites its model card (README.md, trainers/model_card.py).
The logic lives in trainers/sts/.
"""

import argparse
import json
import logging
import time
from pathlib import Path

from sentcse.trainers import sts
from sentcse.trainers.methods import METHODS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="sentcse checkpoint, sentence-transformers folder or Hugging Face encoder (folder or cached name)")
    parser.add_argument("--tasks", nargs="+", default=list(sts.DEFAULT_TASKS),
                        help=f"tasks to score (default: {' '.join(sts.DEFAULT_TASKS)}); also STSBenchmark-train, "
                             "SICKRelatedness-dev/-train; aliases STS-B, SICK-R, stsb-dev")
    parser.add_argument("--pooler", default=None, choices=["cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2"],
                        help="pooler (default: the checkpoint's own; the sentence-transformers pooling config; else avg). "
                             "For an untrained encoder, cls means the raw [CLS] state")
    default_dir = sts.default_sts_dir()
    now = f"now {default_dir}" if default_dir is not None else "neither is set: pass --sts_dir"
    parser.add_argument("--sts_dir", default=None,
                        help=f"SentEval data folder (default: $SENTCSE_STS_DIR, else $SENTCSE_SHARED/data/senteval; "
                             f"{now}); a folder with just sts-dev.csv/sts-test.csv (examples/data/stsb) serves the "
                             "STS-B tasks")
    parser.add_argument("--source", default="senteval", choices=["senteval", "hub"],
                        help="hub: load the mteb/*-sts datasets from the Hugging Face Hub instead (needs the network)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--device", default=None, help="e.g. cuda, cpu (default: where the model loads)")
    parser.add_argument("--backend", default="sentcse", choices=["sentcse", "sentence-transformers"],
                        help="sentence-transformers: load MODEL with SentenceTransformer instead (for comparison)")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    parser.add_argument("--subsets", action="store_true", help="also print STS12-16's per-subset Spearmans")
    parser.add_argument("--write_card", action="store_true",
                        help="MODEL is a local sentcse checkpoint folder: merge these scores into its sts_results.json "
                             "and rewrite its README.md model card")
    parser.add_argument("--hub_model_id", default=None,
                        help="with --write_card: the Hub id the card's usage snippets and model-index name "
                             "(default: the one recorded at training, else path/to/FOLDER)")
    return parser.parse_args(argv)


def check_card_folder(model: str) -> Path:
    """--write_card needs a local sentcse checkpoint folder; fail before any evaluation otherwise."""
    folder = Path(model).expanduser()
    config = folder / "config.json"
    model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else None
    if model_type not in METHODS:
        raise SystemExit(f"--write_card needs a local sentcse checkpoint folder (config.json with model_type in "
                         f"{sorted(METHODS)}); {model} is not one")
    return folder


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    card_folder = check_card_folder(args.model) if args.write_card else None
    evaluator = sts.StsEvaluator(sts_dir=args.sts_dir, tasks=args.tasks, source=args.source, batch_size=args.batch_size)
    evaluator.load()  # fail on missing data before loading the model
    start = time.perf_counter()
    model = sts.load_encoder(args.model, pooler=args.pooler, backend=args.backend, device=args.device)
    load_seconds = time.perf_counter() - start
    results = evaluator.evaluate(model)
    config = getattr(model, "config", None)
    results.meta.update({
        "model": str(args.model),
        "pooler": getattr(config, "pooler", args.pooler),
        "backend": args.backend,
        "model_load_seconds": load_seconds,
    })
    print(sts.format_table(results))
    if args.subsets:
        print(sts.format_subsets(results))
    print(f"evaluated in {results.seconds:.1f}s (+{load_seconds:.1f}s loading the model)")
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results.to_dict(), indent=2) + "\n")
        print(f"wrote {out}")
    if card_folder is not None:
        from sentcse.trainers.cards import merge_sts_results, write_model_card

        merge_sts_results(card_folder, results)
        print(f"updated {write_model_card(card_folder, repo_id=args.hub_model_id)}")
    return results


if __name__ == "__main__":
    main()
