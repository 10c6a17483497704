#!/usr/bin/env python
"""Train a sentcse model (SimCSE, SARCSE or reCSE) on unlabeled sentences.

    accelerate launch examples/train.py                      # offline default: SARCSE on the bundled data
    accelerate launch examples/train.py --method recse --backbone bert-base-uncased --train_file wiki1m.txt
    python examples/train.py config.yaml                      # every flag from a YAML/JSON file

Every model field of METHODS.md is a flag (see --help); so is every transformers TrainingArguments field.
The output folder is Hub-ready: config, safetensors, tokenizer, code files, token counts (SARCSE), logs, a model
card (README.md) with training_curve.png, and the sentence-transformers files (trainers/export.py).
--push_to_hub [--hub_model_id NAME] uploads that folder once, at the end (not at every save).
"""

import json
import logging
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import List, Optional

import sentcse.modeling as modeling
from transformers import HfArgumentParser, set_seed
from transformers.trainer_utils import get_last_checkpoint

from sentcse.trainers.data import TwoViewCollator, load_corpus
from sentcse.trainers.export import finish_output_folder
from sentcse.trainers.objectives.method import build_method_objective
from sentcse.trainers.presets import PRESETS, apply_preset
from sentcse.trainers.sts import DEV_TASK, StsEvaluator, format_table
from sentcse.trainers.token_frequency import corpus_fingerprint, count_tokens, load_token_counts, token_weights
from sentcse.trainers.trainer import CseTrainer, CseTrainingArguments

logger = logging.getLogger("sentcse.train")
DATA = Path(__file__).resolve().parent / "data"


@dataclass
class ModelArguments:
    """Which method, which backbone, and every config field (None keeps the config's documented default)."""

    method: str = field(default="sarcse", metadata={"help": "simcse | sarcse | recse"})
    backbone: str = field(default=str(DATA / "bert-mini-wiki"), metadata={"help": "encoder folder or Hub name"})
    preset: Optional[str] = field(default=None, metadata={"help": f"paper settings: {', '.join(PRESETS)}"})
    objective: Optional[str] = field(default=None, metadata={"help": "infonce arccon mpt met barlow_twins vicreg mhe mhs"})
    objective_variant: Optional[str] = field(default=None, metadata={"help": "orig | mod (barlow_twins vicreg mhe mhs)"})
    objective_kwargs: Optional[str] = field(default=None, metadata={"help": 'JSON, e.g. {"margin": 0.3, "ratio": 1.5}'})
    temperature: Optional[float] = None
    pooler: Optional[str] = field(default=None, metadata={"help": "cls cls_before_pooler avg avg_first_last avg_top2"})
    mlp_only_train: Optional[bool] = None
    mlp_activation: Optional[str] = field(default=None, metadata={"help": "tanh | tanh_first | none"})
    freeze_embeddings: Optional[bool] = None
    kernel_sizes: Optional[List[int]] = field(default=None, metadata={"help": "SARCSE TextCNN kernels (3 4 5)"})
    cnn_channels: Optional[int] = None
    embedding_source: Optional[str] = field(default=None, metadata={"help": "SARCSE: cnn | cls"})
    decoder_length: Optional[int] = None
    detach_target: Optional[bool] = None
    theta: Optional[float] = None
    beta: Optional[float] = None
    gamma: Optional[float] = None
    reshape_source: Optional[str] = field(default=None, metadata={"help": "reCSE: embeddings | last_hidden"})
    sqrt: Optional[str] = field(default=None, metadata={"help": "reCSE: signed | matrix"})
    sqrt_eps: Optional[float] = None
    newton_schulz_iterations: Optional[int] = None
    time_for_space: Optional[bool] = None
    reshape_chunk_size: Optional[int] = None
    reshape_temperature: Optional[float] = None
    lambda_dropout: Optional[float] = None
    length_buckets: Optional[int] = field(default=None, metadata={"help": "training forward in N length groups (4; 1: one padded batch)"})


@dataclass
class DataArguments:
    train_file: str = field(default=str(DATA / "wiki-sample-4k.txt.gz"), metadata={"help": ".txt/.gz or Hub dataset"})
    max_length: int = field(default=32, metadata={"help": "training sequence length (tokens)"})
    max_train_samples: Optional[int] = None
    dev_dir: str = field(default=str(DATA / "stsb"), metadata={"help": "folder with sts-dev.csv (model selection)"})
    sts_dir: Optional[str] = field(default=None, metadata={"help": "SentEval folder: print the 7-task table at the end"})
    skip_raw_eval: bool = field(default=False, metadata={"help": "do not score the raw backbone first"})


def config_kwargs(args: ModelArguments, max_length: int) -> dict:
    """The model config fields set on the command line (None = the config's default)."""
    skip = {"method", "backbone", "preset", "objective_kwargs"}
    kwargs = {f.name: getattr(args, f.name) for f in fields(args) if f.name not in skip and getattr(args, f.name) is not None}
    if args.objective_kwargs:
        kwargs["objective_kwargs"] = json.loads(args.objective_kwargs)
    kwargs["max_length"] = max_length
    return kwargs


def parse_args(argv=None):
    parser = HfArgumentParser((ModelArguments, DataArguments, CseTrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        reader = parser.parse_json_file if argv[0].endswith(".json") else parser.parse_yaml_file
        return reader(str(Path(argv[0]).resolve()))
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv=None):
    model_args, data_args, training_args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if model_args.method not in modeling.MODEL_CLASSES:
        raise SystemExit(f"--method must be one of {sorted(modeling.MODEL_CLASSES)}, got {model_args.method!r}")
    if model_args.preset:
        apply_preset(model_args.preset, model_args, training_args)
    # The finished folder (card, plot, sentence-transformers files) is pushed once at the end by
    # finish_output_folder; the Trainer's own push (a commit per save, its own README) stays off.
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    set_seed(training_args.seed)
    model_class = modeling.MODEL_CLASSES[model_args.method]
    dev_evaluator = StsEvaluator(sts_dir=data_args.dev_dir, tasks=[DEV_TASK])
    dev_evaluator.load()  # a missing dev file fails now, not after training

    if not data_args.skip_raw_eval and training_args.should_log:
        raw = modeling.SimCseModel.from_backbone(model_args.backbone, pooler="avg")
        print(f"STS-B dev before training (raw backbone, mean pooling): {dev_evaluator.evaluate_task(raw, DEV_TASK).spearman:.2f}")
        del raw

    model = model_class.from_backbone(model_args.backbone, **config_kwargs(model_args, data_args.max_length))
    tokenizer = model.get_tokenizer()
    corpus = load_corpus(data_args.train_file, data_args.max_train_samples)
    logger.info("corpus %s: %d sentences, %d blank lines skipped", corpus.source, len(corpus.sentences), corpus.blank_lines)

    counts, fingerprint, weights = None, "", None
    if model_args.method == "sarcse":
        fingerprint = corpus_fingerprint(corpus.sentences, tokenizer, data_args.max_length)
        counts = load_token_counts(training_args.output_dir, fingerprint)
        if counts is None:
            counts = count_tokens(corpus.sentences, tokenizer, data_args.max_length)
        weights = token_weights(counts, len(tokenizer), model.config.theta)

    resume = training_args.resume_from_checkpoint
    if resume in ("last", "true", "True"):
        resume = get_last_checkpoint(training_args.output_dir)
        if resume is None:
            raise SystemExit(f"--resume_from_checkpoint {training_args.resume_from_checkpoint}: no checkpoint in {training_args.output_dir}")

    trainer = CseTrainer(
        model=model,
        args=training_args,
        train_dataset=corpus.to_dataset(),
        data_collator=TwoViewCollator(tokenizer, data_args.max_length),
        processing_class=tokenizer,
        objective=build_method_objective(model.config, weights),
        dev_evaluator=dev_evaluator,
        token_counts=counts,
        token_counts_fingerprint=fingerprint,
    )
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    dev = trainer.evaluate()
    if trainer.is_world_process_zero():
        print(f"STS-B dev after training (best checkpoint): {dev['eval_stsb_spearman']:.2f}")
        if data_args.sts_dir:
            results = StsEvaluator(sts_dir=data_args.sts_dir).evaluate(trainer.model)
            (Path(training_args.output_dir) / "sts_results.json").write_text(json.dumps(results.to_dict(), indent=2))
            print(format_table(results))
        run = {"method": model_args.method, "backbone": model_args.backbone, "preset": model_args.preset,
               "train_file": data_args.train_file, "n_sentences": len(corpus.sentences)}
        card = finish_output_folder(trainer, run=run, final_eval=dev, push_to_hub=push_to_hub)
        print(f"Saved to {Path(training_args.output_dir).resolve()} with its model card {card.name} (AutoModel.from_pretrained"
              "(path, trust_remote_code=True) or SentenceTransformer(path, trust_remote_code=True))")
    return trainer


if __name__ == "__main__":
    main().accelerator.end_training()  # also tears down the process group of a multi-process run
