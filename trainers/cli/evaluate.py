"""``sentcse-evaluate``: score a sentence encoder on the STS tasks (SentEval protocol, SimCSE's "all" setting for
STS12-16).

    sentcse-evaluate MODEL [--tasks ...] [--pooler ...] [--sts_dir ...] [--batch_size N] [--dtype bf16]
                     [--output JSON]
    sentcse-evaluate CHECKPOINT_FOLDER --write_card [--hub_model_id USER/NAME]

MODEL is a saved sentcse checkpoint (config.json model_type a registered method), a sentence-transformers folder
(modules.json: its pooling config picks the pooler) or a plain Hugging Face encoder (pooler --pooler, default avg).
Prints the table (STS12 STS13 STS14 STS15 STS16 STS-B SICK-R Avg, Spearman x100, then STS-B dev) and, with
--output, writes every score as JSON. --write_card adds the scores to a local checkpoint folder's run record
(training_info.json, converted from an earlier sentcse's files where needed; sts_results.json beside it), with
--hub_model_id the Hub id, and renders its model card again from it. Flags take either spelling (``--sts_dir`` or
``--sts-dir``).
"""

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import HfArgumentParser

from ...modeling.configuration_simcse import CONFIG_ERRORS, POOLERS
from ...modeling.inputs import checked_dtype, emulated_bf16_cpu
from .. import sts
from ..cards import RunRecord, write_model_card
from ..errors import emulated_bf16_line, error_line
from ..methods import METHODS
from .arguments import UsageError, report_errors
from .checkpoints import weights_problem


@dataclasses.dataclass
class EvaluateArguments:
    model: str = dataclasses.field(metadata={"help": "sentcse checkpoint, sentence-transformers folder or Hugging "
                                             "Face encoder (folder or cached name)"})
    tasks: list[str] | None = dataclasses.field(default=None, metadata={
        "help": "tasks to score (default: the seven test tasks and STS-B dev that the data folder has); also "
        "STSBenchmark-train, SICKRelatedness-dev/-train; aliases STS-B, SICK-R, stsb-dev"})
    pooler: str | None = dataclasses.field(default=None, metadata={
        "choices": list(POOLERS), "help": "pooler (default: the checkpoint's own; the sentence-transformers pooling "
        "config; else avg); for an untrained encoder, cls means the raw [CLS] state"})
    sts_dir: str | None = dataclasses.field(default=None, metadata={
        "help": "SentEval data folder (default: $SENTCSE_STS_DIR, else $SENTCSE_SHARED/data/senteval); a folder with "
        "just sts-dev.csv/sts-test.csv (examples/data/stsb) serves the STS-B tasks"})
    dev_file: str | None = dataclasses.field(default=None, metadata={
        "help": "score your own pairs instead of the STS tasks: a .tsv/.csv/.jsonl file or a Hub dataset (validation "
        "split) with columns sentence1, sentence2, score"})
    source: str = dataclasses.field(default="senteval", metadata={
        "choices": ["senteval", "hub"], "help": "hub: the mteb/*-sts datasets from the Hugging Face Hub (network)"})
    batch_size: int = 64
    device: str | None = dataclasses.field(default=None, metadata={"help": "e.g. cuda, cpu"})
    dtype: str | None = dataclasses.field(default=None, metadata={
        "choices": ["bf16", "bfloat16", "fp16", "float16", "fp32", "float32"], "help": "compute precision of the "
        "encoder's forward (its weights cast for the run, the model left as loaded; embeddings are float32); "
        "default: as the weights are"})
    backend: str = dataclasses.field(default="sentcse", metadata={
        "choices": ["sentcse", "sentence-transformers"], "help": "sentence-transformers: load MODEL with "
        "SentenceTransformer instead (for comparison)"})
    output: str | None = dataclasses.field(default=None, metadata={"help": "write the results as JSON here"})
    traceback: bool = dataclasses.field(default=False, metadata={
        "help": "show the full traceback of a user error (also: SENTCSE_TRACEBACK=1)"})
    trust_remote_code: bool = dataclasses.field(default=False, metadata={
        "help": "allow a plain encoder folder's own model code (auto_map); sentcse checkpoints never need it"})
    subsets: bool = dataclasses.field(default=False, metadata={"help": "also print STS12-16's per-subset Spearmans"})
    write_card: bool = dataclasses.field(default=False, metadata={
        "help": "MODEL is a local sentcse checkpoint folder: add these scores to its run record (training_info.json) "
        "and render its README.md model card again"})
    hub_model_id: str | None = dataclasses.field(default=None, metadata={
        "help": "with --write_card: the Hub id the card's usage snippets and model-index name (kept in the record)"})


def check_card_folder(model: str) -> Path:
    """--write_card needs a local sentcse checkpoint folder; fail before any evaluation otherwise."""
    folder = Path(model).expanduser()
    config = folder / "config.json"
    check_model_folder(model)
    model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else None
    if model_type not in METHODS:
        raise UsageError(f"--write_card needs a local sentcse checkpoint folder (config.json with model_type in "
                         f"{sorted(METHODS)}); {model} is not one")
    return folder


def check_model_folder(model: str) -> None:
    """A local model folder's config.json is a JSON object and its weights files are whole: otherwise one line
    naming the file (a hand edit, a copy or save cut short) before anything loads."""
    folder = Path(model).expanduser()
    config = folder / "config.json"
    if config.is_file():
        try:
            value = json.loads(config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise UsageError(f"cannot load {model!r}: config.json is not valid JSON ({error_line(error)}); fix it, or "
                             "save or copy the model again") from None
        if not isinstance(value, dict):
            raise UsageError(f"cannot load {model!r}: config.json holds no JSON object; fix it, or save or copy the "
                             "model again")
    problem = weights_problem(folder) if folder.is_dir() else None
    if problem:
        raise UsageError(f"cannot load {model!r}: {problem}; copy or save the model again, or load an earlier "
                         "checkpoint-N folder")


def _load_model(args):
    check_model_folder(args.model)
    try:
        return sts.load_encoder(args.model, pooler=args.pooler, backend=args.backend, device=args.device,
                                trust_remote_code=args.trust_remote_code)
    except (OSError, *CONFIG_ERRORS) as error:
        raise UsageError(f"cannot load {args.model!r}: {error_line(error)}") from error


def run(argv: Sequence[str] | None = None, defaults: dict | None = None):
    """``defaults``: argument defaults (examples/evaluate.py passes the bundled STS-B folder as ``sts_dir``, used
    when neither --sts_dir nor the environment names one)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--model", *argv]  # MODEL is positional on the command line
    parser = HfArgumentParser(EvaluateArguments)
    if defaults and sts.default_sts_dir() is None:
        parser.set_defaults(**defaults)
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.dev_file and (args.tasks or args.write_card):
        raise UsageError("--dev_file scores your own pairs alone: drop --tasks / --write_card (the card holds the STS "
                         "tasks)")
    card_folder = check_card_folder(args.model) if args.write_card else None
    on_cpu = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cpu")
    if on_cpu and checked_dtype(args.dtype, "--dtype") == torch.bfloat16 and emulated_bf16_cpu():
        raise UsageError(emulated_bf16_line(f"--dtype {args.dtype}", "drop --dtype to evaluate in fp32"))
    try:  # fail on missing data before loading the model
        if args.dev_file:
            evaluator = sts.StsEvaluator(pairs=sts.load_pairs_file(args.dev_file), batch_size=args.batch_size,
                                         dtype=args.dtype)
        else:
            tasks = args.tasks
            if not tasks:  # the default tasks the data have; the others named once (examples/data/stsb: STS-B)
                tasks, missing = sts.available_tasks(args.sts_dir, args.source)
                if missing:
                    print(f"skipped (not in {args.sts_dir or sts.default_sts_dir()}): {', '.join(missing)}")
            evaluator = sts.StsEvaluator(sts_dir=args.sts_dir, tasks=tasks, source=args.source,
                                         batch_size=args.batch_size, dtype=args.dtype)
        evaluator.load()
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    start = time.perf_counter()
    model = _load_model(args)
    load_seconds = time.perf_counter() - start
    results = evaluator.evaluate(model)
    config = getattr(model, "config", None)
    results.meta.update({"model": str(args.model), "pooler": getattr(config, "pooler", args.pooler),
                         "backend": args.backend, "model_load_seconds": load_seconds})
    if args.dev_file:
        result = results[sts.DEV_FILE_TASK]
        print(f"{args.dev_file}: Spearman {result.spearman:.2f}, Pearson {result.pearson:.2f} ({result.n_pairs} pairs)")
    else:
        print(sts.format_table(results))
    if args.subsets:
        print(sts.format_subsets(results))
    precision = f" in {results.meta['dtype']}" if results.meta.get("dtype") else ""
    print(f"evaluated{precision} in {results.seconds:.1f}s (+{load_seconds:.1f}s loading the model)")
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results.to_dict(), indent=2) + "\n")
        print(f"wrote {out}")
    if card_folder is not None:
        write_card(card_folder, results, args.hub_model_id)
    return results


def write_card(folder: Path, results: sts.StsResults, hub_model_id: str | None = None) -> Path:
    """--write_card: the folder's run record with ``results`` added (and ``hub_model_id``), saved, and the card
    rendered from it. Returns the card."""
    record = RunRecord.load(folder).with_sts_results(results)
    if hub_model_id:
        record.hub_model_id = hub_model_id
    record.save(folder)
    card = write_model_card(folder, record=record)
    print(f"updated {card}")
    return card


def main(argv: Sequence[str] | None = None, defaults: dict | None = None):
    """Console entry point: a user error prints one line and exits with status 2 (``--traceback`` or
    ``SENTCSE_TRACEBACK=1`` for the traceback)."""
    return report_errors("sentcse-evaluate", lambda: run(argv, defaults), argv, {UsageError: 2})


def cli() -> int:
    """The ``sentcse-evaluate`` console script: ``main`` with exit status 0 after the table (``main`` returns the
    results, which a console script would take for an error)."""
    main()
    return 0


if __name__ == "__main__":
    main()
