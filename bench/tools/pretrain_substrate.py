"""Masked-language-model pretraining of the bert-mini-wiki substrate, with a measured stop rule.

    python -m bench.tools.pretrain_substrate                    # start, or continue where the last run stopped
    python -m bench.tools.pretrain_substrate --max_minutes 150  # stop cleanly (checkpoint written) after 150 min
    OMP_NUM_THREADS=1 taskset -c 1 python -m bench.tools.pretrain_substrate --threads 1   # beside other work

It continues the shipped backbone (encoder + ``mlm_head.safetensors``; ``--init scratch`` starts from random
weights) on one-sentence inputs of wiki1m (at most 32 tokens, 15% masked, 80/10/10), batch 256, AdamW with a
linear warm-up and a linear decay to 0 at ``--total_tokens``. The training is ``transformers.Trainer`` with
``DataCollatorForLanguageModeling``; its one override (``compute_loss``) computes the loss only at the masked
positions (``BertForMaskedLM``'s own loss projects all positions onto the vocabulary, 85% of them for nothing).
bf16 autocast where the CPU has AMX or avx512_bf16 (or a GPU is used), fp32 otherwise; tokens/s and the CPU are
printed and recorded.

Resumable: everything lives in ``--output_dir`` (default ``$SENTCSE_PRETRAIN_DIR``, else
``~/.cache/sentcse/pretrain_substrate``, outside the work tree). Training runs in segments between evaluations:
each ``train()`` resumes the Trainer's last checkpoint (weights, AdamW state, schedule, RNG states, position in the
data) and ends with a new one where the next evaluation is due, at ``--max_minutes`` or SIGTERM, and every
``--checkpoint_minutes``; the curve so far is ``run_state.json`` (replaced atomically). A run killed at any moment
loses at most that much work; rerunning the command continues it. (A folder holding a ``checkpoint.pt``, the
state of another training loop, is refused: it does not carry over.)

Stop rule, measured every ``--eval_every_tokens`` (and at the start): MLM loss on a held-out slice (every 500th
sentence of wiki1m, never trained on, fixed masks), raw STS-B dev ([CLS] and mean pooling) and a fixed SimCSE probe
through sentcse itself (150 steps, batch 64, lr 3e-5, [CLS]+MLP and mean pooling, 2 seeds, best dev of the
evaluations every 25 steps). The backbone is *ready* when the probe's better pooling (mean over the seeds) beats the
raw backbone's better pooler by more than that pooling's seed spread (max - min); training *stops* then, or when the
held-out loss fell by less than ``--min_loss_drop`` since the previous evaluation, or at ``--total_tokens``. A ready
backbone is exported (fp16 safetensors, its MLM head, tokenizer, provenance README with the curve) to
``<output_dir>/final``.

The curve is written to ``bench/results/pretrain_substrate.json`` (``--results_file``) and to its section of
BENCHMARKS.md at every evaluation and at exit.

On a CPU the rule stopped at 50M tokens; that backbone is bundled as examples/data/bert-mini-wiki-mlm50m (fp16,
with its MLM head). On a GPU machine, one device call continues it with a new schedule, for the curve past it
(BENCHMARKS.md section 7 says whether that has run). Prepare here, then carry .whl and .gpu-data (about 36 MiB;
with the repository about 62 of the 64 MiB a call carries); the results and the latest encoder (fp16 shards of at
most 15 MB) come back in $OUT:

    bash bench/gpu/gpu_pack.sh pretrain
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site &&
      set -o pipefail && PYTHONUNBUFFERED=1 python3 -m bench.tools.pretrain_substrate --output_dir /tmp/pretrain
      --backbone examples/data/bert-mini-wiki-mlm50m
      --tokens .gpu-data/tokens_wiki1m_32.npz.xz --probe_train_file .gpu-data/wiki100k.txt.gz
      --sts_dir .gpu-data/senteval --eval_every_tokens 125e6 --max_minutes 7 --no_markdown
      --results_file $OUT/pretrain_substrate.json --export_dir $OUT 2>&1 | tee $OUT/log.txt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from bench.common import (
    RESULTS,
    SENTEVAL,
    WIKI1M,
    WIKI100K,
    bert_mini_path,
    cpu_bf16_flags,
    machine_info,
    machine_line,
    markdown_table,
    now,
    reproduce_command,
    update_section,
)

NAME = "pretrain_substrate"
HELD_OUT_EVERY = 500  # every 500th sentence of the corpus is held out (2,000 of wiki1m)
PROBES = {"simcse": "[CLS]+MLP", "simcse_avg": "mean"}
DEV = "STSBenchmark-dev"


def default_output_dir() -> Path:
    env = os.environ.get("SENTCSE_PRETRAIN_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sentcse" / NAME


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output_dir", type=Path, default=default_output_dir())
    p.add_argument("--init", choices=("shipped", "scratch"), default="shipped",
                   help="continue the shipped encoder + MLM head, or start from random weights (its config)")
    p.add_argument("--backbone", default=None, help="folder of the shipped backbone (default: bert-mini-wiki)")
    p.add_argument("--corpus", type=Path, default=WIKI1M)
    p.add_argument("--tokens", type=Path, default=None,
                   help="--corpus already tokenised: the .npz this script caches in --output_dir, or the packed "
                        ".npz.xz of --pack_tokens; --corpus then only names it")
    p.add_argument("--mlm_head", type=Path, default=None,
                   help="the MLM head (default: <backbone>/mlm_head.safetensors)")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--max_length", type=int, default=32)
    p.add_argument("--peak_lr", type=float, default=5e-4)
    p.add_argument("--warmup_steps", type=int, default=500)
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--total_tokens", type=float, default=250e6, help="end of the lr schedule and of the run")
    p.add_argument("--eval_every_tokens", type=float, default=25e6)
    p.add_argument("--min_loss_drop", type=float, default=0.01)
    p.add_argument("--checkpoint_minutes", type=float, default=10.0)
    p.add_argument("--max_minutes", type=float, default=None, help="stop cleanly (with a checkpoint) after this long")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe_seeds", type=int, nargs="+", default=[42, 43])
    p.add_argument("--probe_steps", type=int, default=150)
    p.add_argument("--probe_train_file", type=Path, default=WIKI100K)
    p.add_argument("--sts_dir", type=Path, default=SENTEVAL)
    p.add_argument("--log_every", type=int, default=50)
    p.add_argument("--results_file", type=Path, default=RESULTS / f"{NAME}.json")
    p.add_argument("--export_dir", type=Path, default=None,
                   help="when the run stops or pauses, also write the results and the latest encoder here (fp16, "
                        "safetensors shards of at most 15 MB): a device call's $OUT")
    p.add_argument("--tokenize_only", action="store_true",
                   help="write the tokenised corpus cache, print its path, stop")
    p.add_argument("--pack_tokens", type=Path, default=None,
                   help="write the tokenised corpus to this file, unpadded and xz-compressed (for --tokens on another "
                        "machine: bash bench/gpu/gpu_pack.sh pretrain), and stop")
    p.add_argument("--no_markdown", action="store_true")
    args = p.parse_args(argv)
    for name in ("batch_size", "max_length", "warmup_steps", "probe_steps", "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.total_tokens <= 0 or args.eval_every_tokens <= 0:
        p.error("--total_tokens and --eval_every_tokens must be > 0")
    if args.tokens is not None and not args.tokens.is_file():
        p.error(f"--tokens {args.tokens} not found (bash bench/gpu/gpu_pack.sh pretrain writes it)")
    if args.tokens is None and not args.corpus.is_file():
        p.error(f"corpus {args.corpus} not found; pass --corpus (one sentence a line, .txt or .gz)")
    if not (args.sts_dir / "STS" / "STSBenchmark").is_dir() and not (args.sts_dir / "sts-dev.csv").is_file():
        p.error(f"no STS-B dev data under {args.sts_dir}; pass --sts_dir (SentEval folder)")
    return args


# ------------------------------------------------------------------------------------------------------ machine
def choose_precision(requested: str, device) -> str:
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16"
    return "bf16" if cpu_bf16_flags() else "fp32"


# ------------------------------------------------------------------------------------------------------ data
def token_cache(args, out: Path) -> Path:
    return out / f"tokens_{args.corpus.name}_{args.max_length}.npz"


def tokenized_corpus(args, tokenizer, out: Path):
    """The corpus tokenised once (``tokens.npz`` in the output folder, reused by every later run): token ids
    (uint16, truncated to ``max_length``, 0-padded) and lengths, in file order; blank lines dropped."""
    import numpy as np

    if args.tokens is not None:
        if args.tokens.suffix == ".xz":
            import io
            import lzma

            with lzma.open(args.tokens) as packed:
                data = np.load(io.BytesIO(packed.read()))
        else:
            data = np.load(args.tokens)
        width = int(data["max_length"]) if "tokens" in data else data["ids"].shape[1]
        if width != args.max_length:
            raise SystemExit(f"--tokens {args.tokens} holds rows of {width} tokens, not --max_length {args.max_length}")
        if "tokens" not in data:
            return data["ids"], data["lengths"]
        lengths = data["lengths"]
        ids = np.zeros((len(lengths), width), dtype=np.uint16)
        ids[np.arange(width) < lengths[:, None]] = data["tokens"]  # row-major: the rows' tokens one after another
        return ids, lengths
    cache = token_cache(args, out)
    if cache.is_file():
        data = np.load(cache)
        return data["ids"], data["lengths"]
    from sentcse.trainers.data import load_corpus

    start = time.perf_counter()
    sentences = load_corpus(str(args.corpus)).sentences  # as sentcse-train reads it (cleaned, blank lines skipped)
    ids = np.zeros((len(sentences), args.max_length), dtype=np.uint16)
    lengths = np.zeros(len(sentences), dtype=np.uint8)
    for begin in range(0, len(sentences), 10000):
        encoded = tokenizer(sentences[begin:begin + 10000], truncation=True, max_length=args.max_length)["input_ids"]
        for row, seq in enumerate(encoded, start=begin):
            ids[row, :len(seq)] = seq
            lengths[row] = len(seq)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, ids=ids, lengths=lengths)
    os.replace(tmp, cache)
    print(f"[pretrain] tokenised {len(sentences):,} sentences in {time.perf_counter() - start:.0f} s -> {cache}",
          flush=True)
    return ids, lengths


def pack_tokens(ids, lengths, target: Path) -> None:
    """The tokenised corpus without its padding (the rows' tokens one after another, and the lengths), xz-compressed:
    wiki1m at 32 tokens is about 28 MiB, against 62 MiB for the padded cache."""
    import io
    import lzma

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, tokens=ids[np.arange(ids.shape[1]) < lengths[:, None]], lengths=lengths,
             max_length=np.int64(ids.shape[1]))
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(lzma.compress(buffer.getvalue(), preset=6))
    os.replace(tmp, target)


# ------------------------------------------------------------------------------------------------------ model
def build_model(args, backbone: str):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, BertForMaskedLM

    if args.init == "scratch":
        return BertForMaskedLM(AutoConfig.from_pretrained(backbone))
    model = BertForMaskedLM.from_pretrained(backbone, dtype=torch.float32)  # an exported backbone is fp16
    head = args.mlm_head or Path(backbone) / "mlm_head.safetensors"
    if not head.is_file():
        raise SystemExit(f"{head} not found: --init shipped needs the backbone's MLM head (or pass --init scratch)")
    missing, unexpected = model.load_state_dict(load_file(str(head)), strict=False)
    tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}  # the embeddings and predictions.bias
    if unexpected or any(key.startswith("cls.") and key not in tied for key in missing):
        raise SystemExit(f"{head} does not fit the model (missing {missing}, unexpected {unexpected})")
    model.tie_weights()
    predictions = model.cls.predictions
    if predictions.decoder.weight is not model.bert.embeddings.word_embeddings.weight or not torch.equal(
            predictions.decoder.bias, predictions.bias):
        raise SystemExit("the MLM decoder is not tied to the word embeddings and the head's bias")
    return model


def masked_loss(model, batch):
    """Cross-entropy of the MLM head at the masked positions only, and their count: the vocabulary projection of
    the other 85% of the positions, which ``BertForMaskedLM``'s own loss computes and ignores, is skipped."""
    import torch.nn.functional as F

    labels = batch["labels"].flatten()
    selected = (labels != -100).nonzero().squeeze(1)
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = model.cls(hidden.flatten(0, 1).index_select(0, selected))
    return F.cross_entropy(logits.float(), labels[selected]), int(selected.numel())


def autocast(device, precision: str):
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


# ------------------------------------------------------------------------------------------------------ evaluation
def held_out_loss(model, collator, held_out: TokenRows, device, precision) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]), torch.no_grad(), autocast(device, precision):
        torch.manual_seed(1234)  # the same masks at every evaluation
        for begin in range(0, len(held_out), 256):
            batch = collator([held_out[i] for i in range(begin, min(begin + 256, len(held_out)))])
            loss, n = masked_loss(model, {key: value.to(device) for key, value in batch.items()})
            total += float(loss) * n
            count += n
    model.train()
    return total / count


def export_encoder(model, tokenizer, folder: Path, dtype=None, max_shard_size=None, mlm_head=False) -> None:
    """The encoder (``BertModel``) in ``folder``; ``mlm_head``: also its MLM head as ``mlm_head.safetensors`` (the
    shared backbone's layout: the decoder is tied to the word embeddings and left out), so the folder can be
    pretrained further with ``--backbone folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    encoder = model.bert
    if dtype is not None:
        import copy

        encoder = copy.deepcopy(encoder).to(dtype=dtype)
    encoder.save_pretrained(folder, **({"max_shard_size": max_shard_size} if max_shard_size else {}))
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    if mlm_head:
        from safetensors.torch import save_file

        head = {f"cls.{key}": value.detach().to(dtype=dtype or value.dtype).contiguous()
                for key, value in model.cls.state_dict().items() if not key.startswith("predictions.decoder.")}
        save_file(head, str(folder / "mlm_head.safetensors"))


def export_run(args, model, state: dict) -> None:
    """--export_dir: the results and the latest encoder (fp16 shards of at most 15 MB, no tokenizer: the
    backbone's), for a device call whose files come back at most 16 MiB each."""
    import torch

    args.export_dir.mkdir(parents=True, exist_ok=True)
    export_encoder(model, None, args.export_dir / "encoder", dtype=torch.float16, max_shard_size="15MB")
    if args.results_file.resolve() != (args.export_dir / args.results_file.name).resolve():
        shutil.copy2(args.results_file, args.export_dir / args.results_file.name)
    print(f"[pretrain] exported step {state['step']} to {args.export_dir}", flush=True)


def raw_dev(folder: Path, sts_dir: Path) -> dict:
    from sentcse.trainers.sts import StsEvaluator, raw_backbone_results

    results = raw_backbone_results(str(folder), StsEvaluator(sts_dir=sts_dir, tasks=[DEV]),
                                   {"cls": "cls", "avg": "avg"})
    return {pooler: result[DEV].spearman for pooler, result in results.items()}


def simcse_probe(folder: Path, args, work_dir: Path) -> dict:
    """Best STS-B dev of the fixed SimCSE probe, per pooling and seed (quality.py's train_run, dev only)."""
    from bench.quality import train_run

    every = min(25, args.probe_steps)
    budget = ["--train_file", str(args.probe_train_file), "--per_device_train_batch_size", "64", "--learning_rate",
              "3e-5", "--max_steps", str(args.probe_steps), "--eval_steps", str(every), "--save_steps", str(every)]
    out = {}
    for run in PROBES:
        out[run] = {}
        for seed in args.probe_seeds:
            record = train_run(run, seed, str(folder), budget, str(work_dir), None, dev_dir=str(args.sts_dir))
            out[run][str(seed)] = record["best_dev"]
            print(f"[pretrain]   probe {run} seed {seed}: best dev {record['best_dev']:.2f}", flush=True)
    return out


def decide(curve: list, args, schedule_done: bool = False) -> tuple:
    """(ready, stop, reason) after the last evaluation of ``curve``; ``schedule_done``: the last step of the
    schedule (its tokens estimated from the mean sentence length) was taken."""
    point = curve[-1]
    raw_best = max(point["raw_dev"].values())
    means = {run: sum(v.values()) / len(v) for run, v in point["probe_dev"].items()}
    best = max(means, key=means.get)
    spread = max(point["probe_dev"][best].values()) - min(point["probe_dev"][best].values())
    margin = means[best] - raw_best
    point["rule"] = {"raw_best": raw_best, "probe_best": means[best], "probe_best_run": best, "seed_spread": spread,
                     "margin": margin}
    if margin > spread:
        return True, True, (f"ready: probe {best} {means[best]:.2f} beats the raw backbone's best pooler "
                            f"{raw_best:.2f} by {margin:.2f} > seed spread {spread:.2f}")
    if point["tokens"] >= args.total_tokens or schedule_done:
        return False, True, (f"not ready by {args.total_tokens / 1e6:.0f}M tokens (margin {margin:.2f}, "
                             f"spread {spread:.2f})")
    if len(curve) >= 2 and curve[-2]["held_out_loss"] - point["held_out_loss"] < args.min_loss_drop:
        return False, True, (f"held-out MLM loss stopped falling ({curve[-2]['held_out_loss']:.3f} -> "
                             f"{point['held_out_loss']:.3f}); not ready (margin {margin:.2f}, spread {spread:.2f})")
    return False, False, f"continue: margin {margin:.2f} <= seed spread {spread:.2f}, loss still falling"


# ------------------------------------------------------------------------------------------------------ results
def write_results(state: dict, args, machine: dict, command: str) -> None:
    record = {
        "benchmark": NAME, "command": command, "updated": now(), "machine": machine,
        "recipe": {k: state["recipe"][k] for k in sorted(state["recipe"])},
        "tokens_seen": state["tokens"], "steps": state["step"], "epochs_started": state["epoch"] + 1,
        "throughput": state["throughput"], "curve": state["curve"], "pauses": state.get("pauses", []),
        "decision": state.get("decision"),
        "ready": state.get("ready", False), "decided": state.get("decision_final", False),
        "output_dir": str(args.output_dir),
    }
    args.results_file.parent.mkdir(parents=True, exist_ok=True)
    args.results_file.write_text(json.dumps(record, indent=2) + "\n")
    final = args.output_dir / "final"
    if record["ready"] and (final / "config.json").is_file():
        (final / "README.md").write_text(provenance(record))
    if not args.no_markdown:
        update_section(NAME, markdown(record))


def curve_table(record: dict) -> str:
    """The curve as a markdown table: full evaluations and the loss-only points where a run paused."""
    rows = []
    for p in record["curve"]:
        probe = {run: sum(v.values()) / len(v) for run, v in p["probe_dev"].items()}
        spreads = {run: max(v.values()) - min(v.values()) for run, v in p["probe_dev"].items()}
        rows.append([f"{p['tokens'] / 1e6:.1f}M", str(p["step"]), f"{p['held_out_loss']:.3f}",
                     f"{p['raw_dev']['cls']:.2f}", f"{p['raw_dev']['avg']:.2f}",
                     *[f"{probe[run]:.2f} (spread {spreads[run]:.2f})" for run in PROBES],
                     f"{p['rule']['margin']:+.2f}"])
    evaluated = {p["step"] for p in record["curve"]}
    for p in record.get("pauses", []):
        if p["step"] not in evaluated:
            rows.append([f"{p['tokens'] / 1e6:.1f}M", str(p["step"]), f"{p['held_out_loss']:.3f}", "(paused here)",
                         *[""] * 4])
    rows.sort(key=lambda row: int(row[1]))
    return markdown_table(["tokens", "step", "held-out MLM loss", "raw [CLS]", "raw mean", "probe [CLS]+MLP",
                           "probe mean", "margin"], rows)


def recipe_line(recipe: dict) -> str:
    return (f"{recipe['init']} init, batch {recipe['batch_size']}, max length {recipe['max_length']}, AdamW peak lr "
            f"{recipe['peak_lr']} (warm-up {recipe['warmup_steps']} steps, linear decay to 0 at "
            f"{recipe['total_tokens'] / 1e6:.0f}M tokens), {recipe['precision']}, masked-position loss only")


CURVE_LEGEND = ("Each row: held-out MLM loss (2,000 sentences, fixed masks; rows marked 'paused here' have the loss "
                "only, taken where a run paused), raw STS-B dev, and the SimCSE probe (150 steps, batch 64, "
                "lr 3e-5, best dev of 6 evaluations; mean of 2 seeds) with [CLS]+MLP and mean pooling; margin = "
                "better probe - better raw pooler (ready when > that probe's seed spread).")


def provenance(record: dict) -> str:
    """README.md of the exported backbone: what it is, how it was made, where the rule stopped, the curve."""
    curve = record["curve"]
    return "\n".join([
        "---", "license: apache-2.0", "language: en", "tags:", "- fill-mask", "---", "",
        "# bert-mini-wiki, MLM-pretrained further", "",
        "A 4-layer, 256-wide BERT (11.1M parameters; the uncased WordPiece vocabulary of bert-base-uncased): "
        "sentcse's bert-mini-wiki (masked language modelling from scratch on about 15M tokens of English Wikipedia) "
        f"continued with masked language modelling on wiki1m for {record['tokens_seen'] / 1e6:.1f}M more tokens "
        f"({record['steps']} steps) by `bench/tools/pretrain_substrate.py`, until its stop rule held: "
        f"{record['decision']}. No sentence-level training. Weights in fp16 (`from_backbone` loads them as fp32).", "",
        f"- Recipe: {recipe_line(record['recipe'])}.",
        f"- Held-out MLM loss: {curve[0]['held_out_loss']:.3f} at the start, {curve[-1]['held_out_loss']:.3f} at the "
        "end.",
        f"- The rule stopped the run at {record['tokens_seen'] / 1e6:.1f}M tokens, before the learning rate's decay "
        "ended: these weights are not annealed.",
        "- Licence: weights Apache-2.0 (sentcse); training text CC BY-SA 3.0 (Wikipedia); vocabulary from "
        "bert-base-uncased (Apache-2.0).", "",
        "## The curve", "", CURVE_LEGEND, "", curve_table(record), ""])


def markdown(record: dict) -> str:
    tp = record["throughput"]
    recipe = record["recipe"]
    rate = f"{tp['tokens_per_second']:,.0f} tokens/s" if "tokens_per_second" in tp else "not measured yet"
    lines = [
        "## 7. Pretraining the substrate further (`bench/tools/pretrain_substrate.py`)", "",
        f"- Machine: {machine_line({**record['machine'], 'cpu_bf16_flags': tp.get('cpu_bf16_flags', [])})}.",
        (f"- Updated {record['updated']}; the rule has decided: the state is in `{record['output_dir']}`"
         f"{' and the backbone in its `final/`' if record['ready'] else ''} (results: `bench/results/{NAME}.json`)."
         if record.get("decided") else
         f"- Updated {record['updated']}; continue with `{reproduce_command(record['command'])}` "
         f"(state in `{record['output_dir']}`, results: `bench/results/{NAME}.json`)."),
        f"- Recipe: {recipe_line(recipe)}.",
        f"- Throughput: {rate} (non-padding tokens, {tp.get('threads')} torch thread(s), {recipe['precision']}); "
        f"{record['tokens_seen'] / 1e6:.1f}M tokens seen in {record['steps']} steps.",
        f"- {CURVE_LEGEND}", "",
        curve_table(record), "",
        f"**Decision:** {record['decision'] or 'running'}.",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ training
class TokenRows:
    """Rows of the tokenised corpus as a map-style dataset of ``{"input_ids": [...]}`` (unpadded)."""

    def __init__(self, ids, lengths, rows):
        self.ids, self.lengths, self.rows = ids, lengths, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        return {"input_ids": self.ids[row, :self.lengths[row]].tolist()}


def masked_positions_trainer():
    """``transformers.Trainer`` with the loss of ``masked_loss`` (its public ``compute_loss`` hook)."""
    from transformers import Trainer

    class MaskedPositionsTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, _ = masked_loss(model, inputs)
            return (loss, None) if return_outputs else loss

    return MaskedPositionsTrainer


def segment_control(next_eval_tokens: float, deadline: float, checkpoint_minutes: float, stop_requested: list):
    """A callback ending ``train()`` with a checkpoint when the next evaluation is due (``next_eval_tokens`` seen),
    at ``deadline`` (``time.time()``) or on SIGTERM; it also checkpoints every ``checkpoint_minutes``, and records
    the tokens/s of each logging window."""
    from transformers import TrainerCallback

    class SegmentControl(TrainerCallback):
        def __init__(self):
            self.paused, self.last_save, self.tokens_per_second = False, time.time(), None
            self.window = None

        def on_step_end(self, args, state, control, **kwargs):
            if state.num_input_tokens_seen >= next_eval_tokens:
                control.should_save = control.should_training_stop = True
            elif stop_requested or time.time() > deadline:
                self.paused = control.should_save = control.should_training_stop = True
            elif time.time() - self.last_save > checkpoint_minutes * 60:
                control.should_save = True

        def on_save(self, args, state, control, **kwargs):
            self.last_save = time.time()

        def on_log(self, args, state, control, logs=None, **kwargs):
            now_tokens, now_time = state.num_input_tokens_seen, time.perf_counter()
            if self.window is not None and now_time > self.window[1]:
                self.tokens_per_second = (now_tokens - self.window[0]) / (now_time - self.window[1])
            self.window = (now_tokens, now_time)

    return SegmentControl()


def training_arguments(args, out: Path, total_steps: int, precision: str, device):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=args.batch_size, learning_rate=args.peak_lr,
        weight_decay=args.weight_decay, warmup_steps=args.warmup_steps, lr_scheduler_type="linear",
        max_steps=total_steps, max_grad_norm=1.0, seed=args.seed, bf16=precision == "bf16",
        use_cpu=device.type == "cpu", save_strategy="no", save_total_limit=1, logging_steps=args.log_every,
        include_num_input_tokens_seen="non_padding", report_to="none", disable_tqdm=True,
        dataloader_drop_last=False, remove_unused_columns=False,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling
    from transformers.trainer_utils import get_last_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = choose_precision(args.precision, device)
    backbone = args.backbone or bert_mini_path()
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    run_state = out / "run_state.json"
    recipe = {"init": args.init, "backbone": str(backbone), "corpus": args.corpus.name, "batch_size": args.batch_size,
              "max_length": args.max_length, "peak_lr": args.peak_lr, "warmup_steps": args.warmup_steps,
              "weight_decay": args.weight_decay, "total_tokens": args.total_tokens, "seed": args.seed,
              "precision": precision, "mlm_probability": 0.15}
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--no_markdown"]
    command = " ".join(["python -m bench.tools.pretrain_substrate", *shown])
    machine = machine_info()
    print(f"[pretrain] {machine['cpu_model']} ({os.cpu_count()} CPUs; bf16 flags: {cpu_bf16_flags() or 'none'}), "
          f"device {device}, {precision}, {torch.get_num_threads()} thread(s)", flush=True)

    tokenizer = AutoTokenizer.from_pretrained(backbone)
    if args.tokenize_only or args.pack_tokens:
        ids, lengths = tokenized_corpus(args, tokenizer, out)
        if args.pack_tokens:
            pack_tokens(ids, lengths, args.pack_tokens)
        print(args.pack_tokens or args.tokens or token_cache(args, out))
        return 0
    if (out / "checkpoint.pt").is_file():
        raise SystemExit(f"{out} holds a run of the earlier hand-written loop (checkpoint.pt), which this version "
                         "cannot continue; pass another --output_dir")
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    torch.manual_seed(args.seed)  # before the model: --init scratch draws its weights from it
    model = build_model(args, backbone)

    if run_state.is_file():
        state = json.loads(run_state.read_text())
        if state["recipe"] != recipe:
            changed = {k: (state["recipe"].get(k), v) for k, v in recipe.items() if state["recipe"].get(k) != v}
            raise SystemExit(f"{run_state} was written with another recipe {changed} (saved, now); pass the same flags "
                             f"or another --output_dir")
        if state.get("decision_final"):
            print(f"[pretrain] already decided: {state['decision']}", flush=True)
            write_results(state, args, machine, command)
            return 0
    else:
        state = {"recipe": recipe, "step": 0, "tokens": 0, "epoch": 0, "curve": [], "next_eval_tokens": 0.0,
                 "throughput": {}}
    last = get_last_checkpoint(str(out / "checkpoints")) if (out / "checkpoints").is_dir() else None
    if last:  # the weights where the last segment stopped (train() resumes optimizer, schedule, RNG and data order)
        model.load_state_dict(load_file(str(Path(last) / "model.safetensors")), strict=False)
        model.tie_weights()
        trainer_state = json.loads((Path(last) / "trainer_state.json").read_text())
        state.update(step=trainer_state["global_step"], tokens=trainer_state["num_input_tokens_seen"],
                     epoch=int(trainer_state["epoch"]))
        print(f"[pretrain] resuming {last}: step {state['step']}, {state['tokens'] / 1e6:.2f}M tokens", flush=True)
    model.to(device)

    state["throughput"].update(threads=torch.get_num_threads(), cpu_bf16_flags=cpu_bf16_flags(), device=str(device))
    ids, lengths = tokenized_corpus(args, tokenizer, out)
    index = list(range(len(ids)))
    held_out = TokenRows(ids, lengths, index[::HELD_OUT_EVERY])
    train_rows = TokenRows(ids, lengths, [i for i in index if i % HELD_OUT_EVERY])
    mean_tokens = float(lengths[train_rows.rows].mean())
    total_steps = math.ceil(args.total_tokens / (mean_tokens * args.batch_size))
    print(f"[pretrain] {len(train_rows):,} training sentences ({mean_tokens:.1f} tokens on average), "
          f"{len(held_out):,} held out; schedule {total_steps:,} steps", flush=True)

    def save_run_state() -> None:
        tmp = run_state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, run_state)
        write_results(state, args, machine, command)

    def evaluate() -> bool:
        print(f"[pretrain] evaluating at {state['tokens'] / 1e6:.2f}M tokens ...", flush=True)
        begin = time.perf_counter()
        folder = out / "encoder"
        export_encoder(model, tokenizer, folder)
        point = {"tokens": state["tokens"], "step": state["step"],
                 "held_out_loss": held_out_loss(model, collator, held_out, device, precision),
                 "raw_dev": raw_dev(folder, args.sts_dir),
                 "probe_dev": simcse_probe(folder, args, out / "probe"), "date": now()}
        state["curve"].append(point)
        ready, stop, reason = decide(state["curve"], args, schedule_done=state["step"] >= total_steps)
        point["eval_seconds"] = round(time.perf_counter() - begin, 1)
        state["decision"], state["ready"], state["decision_final"] = reason, ready, stop
        state["next_eval_tokens"] = state["tokens"] + args.eval_every_tokens
        print(f"[pretrain] loss {point['held_out_loss']:.3f}, raw dev {point['raw_dev']}, {reason}", flush=True)
        if ready:
            export_encoder(model, tokenizer, out / "final", dtype=torch.float16, mlm_head=True)
        save_run_state()
        return stop

    stop_requested = []
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.append("SIGTERM"))
    deadline = time.time() + args.max_minutes * 60 if args.max_minutes else float("inf")
    trainer_class = masked_positions_trainer()
    # Training runs in segments between evaluations: each train() resumes the last checkpoint and stops (with one)
    # where the next evaluation is due; the evaluation (and its SimCSE probes, Trainers of their own) runs between.
    while True:
        if state["tokens"] >= state["next_eval_tokens"] or state["step"] >= total_steps:
            if evaluate():
                print(f"[pretrain] stopped: {state['decision']}", flush=True)
                if args.export_dir:
                    export_run(args, model, state)
                return 0
        control = segment_control(state["next_eval_tokens"], deadline, args.checkpoint_minutes, stop_requested)
        trainer = trainer_class(model=model, args=training_arguments(args, out, total_steps, precision, device),
                                train_dataset=train_rows, data_collator=collator, callbacks=[control])
        trainer.train(resume_from_checkpoint=get_last_checkpoint(str(out / "checkpoints")) if state["step"] else None)
        model = trainer.model
        state.update(step=trainer.state.global_step, tokens=trainer.state.num_input_tokens_seen,
                     epoch=int(trainer.state.epoch or 0))
        if control.tokens_per_second:
            state["throughput"]["tokens_per_second"] = control.tokens_per_second
        if control.paused:  # a loss-only point where the run pauses: the curve between two full evaluations
            state.setdefault("pauses", []).append({
                "tokens": state["tokens"], "step": state["step"], "date": now(),
                "held_out_loss": held_out_loss(model, collator, held_out, device, precision)})
            save_run_state()
            print(f"[pretrain] paused at step {state['step']} ({state['tokens'] / 1e6:.2f}M tokens); rerun to continue",
                  flush=True)
            if args.export_dir:
                export_run(args, model, state)
            return 0


if __name__ == "__main__":
    sys.exit(main())
