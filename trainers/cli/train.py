"""``sentcse-train``: train a sentcse model on unlabeled sentences (``examples/train.py`` calls this with the
bundled offline data as defaults).

A run has three phases. ``check`` reads and checks everything that can be checked cheaply, in this order: the
flags, the config values, the objective and its kwargs, the tokenizer and ``max_length``, the corpus and the run
size, the dev data, the output folder (one run per folder) and the checkpoint to resume; it returns a ``RunPlan``
that nothing changes afterwards. ``start`` scores the raw backbone, builds the model on the plan's config, writes
the run's record and builds the trainer; ``finish`` saves the model, scores it and writes the Hub-ready folder.
A user error prints one line and exits with status 2 (``--traceback`` or ``SENTCSE_TRACEBACK=1`` shows the
traceback).
"""

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, set_seed

from ...modeling.configuration_simcse import CONFIG_ERRORS, SimCseConfig
from ...modeling.inputs import (
    check_max_length,
    emulated_bf16_cpu,
    load_backbone_config,
    load_tokenizer,
)
from ..builder import build_trainer
from ..cards import HubAccessError, HubUploadError, check_hub_access, finish_output_folder
from ..cards.files import DEV_METRIC_KEY, RUN_FILE
from ..data import Corpus, CorpusError, EpochShuffled, load_corpus
from ..distributed import refuse_data_parallel
from ..errors import emulated_bf16_line, error_line
from ..guards import NonFiniteLossError
from ..methods import Method
from ..methods.objective import contrastive_from_config
from ..serving import PORTABLE_FOLDER, export_portable, portable_reading
from ..sts import (
    DEV_FILE_TASK,
    DEV_TASK,
    StsEvaluator,
    available_tasks,
    format_table,
    load_pairs_file,
    raw_backbone_results,
    sts_pairs_dataset,
)
from ..trainer import CseTrainer, CseTrainingArguments
from .arguments import (
    DataArguments,
    Interrupted,
    RunArguments,
    RunStopped,
    UsageError,
    check_run_size,
    check_training_values,
    config_kwargs,
    parse_args,
    report_errors,
)
from .checkpoints import checkpoint_step
from .identity import persistent_loader_workers, run_description, run_file_text
from .output_folder import (
    claim_final_outputs,
    decided_by_main,
    disk_full,
    kept_checkpoint,
    prepare_output_folder,
    record_run_files,
    run_names,
    tensorboard_names,
    write_run_files,
)

logger = logging.getLogger("sentcse.train")


def _checked(what: str, build):
    """``build()``, with a ValueError / OSError of bad input turned into a one-line user error that names ``what``
    once (a message of the library's that begins with it is kept as it is)."""
    try:
        return build()
    except UsageError:
        raise
    except (*CONFIG_ERRORS, OSError, EOFError) as error:
        line = error_line(error)
        raise UsageError(line if line.startswith(f"{what} ") else f"{what}: {line}") from error


@dataclasses.dataclass(frozen=True)
class DevData:
    """The scored pairs that select the checkpoint: their task name, how the log names them, their evaluator (it
    also scores the raw backbone) and the pairs as the Trainer's eval dataset."""

    task: str
    name: str
    evaluator: StsEvaluator
    pairs: Any


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What ``check`` decided before anything expensive; ``start`` and ``finish`` read it and change nothing."""

    method: Method
    run_args: RunArguments
    data_args: DataArguments
    training_args: CseTrainingArguments  # as the Trainer takes them (its own push to the Hub off)
    config: SimCseConfig  # the method's config (a subclass for SARCSE / reCSE), on the backbone's config
    tokenizer: Any
    corpus: Corpus
    corpus_seconds: float  # reading the corpus (its conversion on a first run, a cache read after)
    train_dataset: Any
    dev: DevData
    sts_evaluator: StsEvaluator | None  # the final table's tasks (--sts_dir)
    description: dict[str, Any]  # the run's identity (identity.run_description)
    names: tuple[str, ...]  # names this run writes beyond every run's: its tokenizer's files, the portable export
    resume: str | None  # the checkpoint to resume from
    owned: tuple[str, ...]  # the names in the output folder that are this run's (a resume's)
    push_to_hub: bool  # the finished folder is pushed once, by finish_output_folder
    repo_id: str | None

    @property
    def output_dir(self) -> Path:
        return Path(self.training_args.output_dir)

    @property
    def pad_to_max_length(self) -> bool:
        """A streamed corpus on several processes is read by process 0 and its batches concatenated: one length."""
        return self.corpus.streaming and self.training_args.world_size > 1


@dataclasses.dataclass(frozen=True)
class Started:
    """What ``start`` made: the trainer, the raw backbone's dev scores, the run's files in its folder so far and
    the glob patterns of every name the run may write there."""

    trainer: CseTrainer
    raw_scores: dict[str, float]
    files: tuple[str, ...]
    patterns: tuple[str, ...]


def check(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> RunPlan:
    """Parse ``argv`` and check everything before the model loads; raises ``UsageError`` for bad input."""
    run_args, method_args, data_args, training_args, spec = parse_args(argv, defaults)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if not run_args.backbone:
        raise UsageError("--backbone is required: an encoder folder or a Hub model name")
    if not data_args.train_file:
        raise UsageError("--train_file is required: a .txt/.gz file with one sentence per line, or a Hub dataset")
    _checked("processes", lambda: refuse_data_parallel(training_args))
    check_training_values(training_args)
    if training_args.bf16 and training_args.device.type == "cpu" and emulated_bf16_cpu():
        raise UsageError(emulated_bf16_line("--bf16", "drop --bf16 to train in fp32"))
    dev_dir = data_args.dev_dir or data_args.sts_dir
    if dev_dir is None and data_args.dev_file is None:
        raise UsageError("pass --dev_dir (a folder with sts-dev.csv), --sts_dir (SentEval data) or --dev_file "
                         "(your own scored pairs) for model selection")
    backbone_config = _checked("--backbone", lambda: load_backbone_config(run_args.backbone))
    config = _checked(f"--method {spec.name}", lambda: spec.config_class(
        backbone_config=backbone_config, **config_kwargs(spec, method_args)))
    _checked(f"--objective {config.objective}", lambda: contrastive_from_config(config))
    if run_args.export:  # a reading the portable folder cannot hold is refused before anything runs
        _checked(f"--export {run_args.export}", lambda: portable_reading(config))

    tokenizer = _checked("--backbone tokenizer", lambda: load_tokenizer(run_args.backbone, None, backbone_config))
    if config.max_length is not None:
        _checked("--max_length", lambda: check_max_length(config.max_length, tokenizer))
    if data_args.streaming and training_args.max_steps <= 0:
        raise UsageError("--streaming reads a corpus of unknown length: set --max_steps (the number of optimizer "
                         "steps)")
    with training_args.main_process_first(desc="corpus conversion"):  # the others read the converted cache
        reading = time.perf_counter()
        corpus = _checked("corpus", lambda: load_corpus(
            data_args.train_file, data_args.max_train_samples, data_args.text_column, streaming=data_args.streaming,
            shuffle_buffer_size=data_args.shuffle_buffer_size, seed=training_args.data_seed or training_args.seed))
        corpus_seconds = time.perf_counter() - reading
    if corpus.streaming:
        logger.info("corpus %s: streamed (shuffle buffer %d sentences; opened in %.1f s)", corpus.source,
                    data_args.shuffle_buffer_size, corpus_seconds)
    else:
        logger.info("corpus %s: %d sentences, %d blank lines skipped (read in %.1f s)", corpus.source,
                    corpus.num_sentences, corpus.blank_lines, corpus_seconds)
        check_run_size(corpus.num_sentences, training_args)
    dev = check_dev_data(data_args, dev_dir)
    sts_evaluator = None
    if data_args.sts_dir:  # the final table's tasks, read now; a folder with some of them scores those, said here
        tasks, missing = _checked("--sts_dir", lambda: available_tasks(data_args.sts_dir))
        if missing:
            logger.warning("--sts_dir %s lacks %s: the table after training scores %s only", data_args.sts_dir,
                           ", ".join(missing), ", ".join(tasks))
        sts_evaluator = StsEvaluator(sts_dir=data_args.sts_dir, tasks=tasks)

    output_dir = Path(training_args.output_dir)
    description = run_description(spec.name, run_args.backbone, data_args, config, training_args)
    names = (*getattr(tokenizer, "vocab_files_names", {}).values(), *([PORTABLE_FOLDER] if run_args.export else []))

    def hub_and_output_folder():
        """Before any training, on the main process (it alone uploads and writes the folder)."""
        repo_id = None
        if training_args.push_to_hub:
            try:
                repo_id = check_hub_access(training_args.hub_model_id, training_args.output_dir,
                                           token=training_args.hub_token, private=training_args.hub_private_repo)
            except HubAccessError as error:
                raise UsageError(str(error)) from None
        return repo_id, prepare_output_folder(output_dir, description, run_args.overwrite_output_dir,
                                              training_args.resume_from_checkpoint, names)

    repo_id, (resume, owned) = decided_by_main(training_args, hub_and_output_folder)
    train_dataset, trainer_fields = training_data(corpus, training_args, resume)
    # The finished folder (card, plot, sentence-transformers files) is pushed once at the end by
    # finish_output_folder; the Trainer's own push (a commit per save, its own README) stays off.
    return RunPlan(
        method=spec, run_args=run_args, data_args=data_args,
        training_args=dataclasses.replace(training_args, push_to_hub=False, **trainer_fields), config=config,
        tokenizer=tokenizer, corpus=corpus, corpus_seconds=corpus_seconds, train_dataset=train_dataset, dev=dev,
        sts_evaluator=sts_evaluator, description=description, names=names, resume=resume, owned=tuple(owned),
        push_to_hub=training_args.push_to_hub, repo_id=repo_id)


def check_dev_data(data_args: DataArguments, dev_dir: str | None) -> DevData:
    """The dev pairs, read now: ``--dev_file`` (the user's scored pairs), else STS-B dev from ``dev_dir``."""
    if data_args.dev_file:
        task, name = DEV_FILE_TASK, f"dev pairs ({Path(data_args.dev_file).name})"
        evaluator = StsEvaluator(pairs=_checked("--dev_file", lambda: load_pairs_file(data_args.dev_file)))
    else:
        task, name = DEV_TASK, "STS-B dev"
        evaluator = StsEvaluator(sts_dir=dev_dir, tasks=[DEV_TASK])
    return DevData(task, name, evaluator, sts_pairs_dataset(_checked("--dev_dir", evaluator.load)[task]))


def training_data(corpus: Corpus, training_args: CseTrainingArguments, resume: str | None):
    """The dataset the Trainer reads, and the training fields that go with it."""
    fields = {}
    dataset = corpus.dataset
    # Persistent loader workers keep the copy of the dataset they started with, so there the epoch's order must
    # come from the Trainer's sampler (in the main process).
    if not corpus.streaming and training_args.train_sampling_strategy == "random" and not persistent_loader_workers(
            training_args):
        # The same shuffling each epoch, without the sampler's Python list of every index.
        dataset = EpochShuffled(corpus.dataset, training_args.data_seed or training_args.seed)
        fields["train_sampling_strategy"] = "sequential"
    if resume and corpus.streaming and checkpoint_step(Path(resume)) >= training_args.max_steps:
        # the stream's last checkpoint: nothing is left to train, where the Trainer would begin a second pass for
        # one more step; an empty stream ends that pass at once (each process reads its own: nothing to dispatch)
        logger.info("%s is this run's last step: nothing is left to train", Path(resume).name)
        dataset = corpus.dataset.take(0)
        fields["accelerator_config"] = dataclasses.replace(training_args.accelerator_config, dispatch_batches=False)
    return dataset, fields


def start(plan: RunPlan, callbacks: Iterable[TrainerCallback] = ()) -> Started:
    """Score the raw backbone, build the model on the plan's config, write the run's record and its method's files
    into the folder, and build the trainer (no step taken yet)."""
    args = plan.training_args
    set_seed(args.seed)
    raw_scores = {}
    if not plan.data_args.skip_raw_eval and args.should_log:
        raw_scores = {label: results[plan.dev.task].spearman
                      for label, results in raw_backbone_results(plan.run_args.backbone, plan.dev.evaluator).items()}
        print(f"{plan.dev.name} before training (raw backbone): {format_raw_scores(raw_scores)}")

    model = plan.method.model_class.from_backbone(plan.run_args.backbone, tokenizer=plan.tokenizer, config=plan.config)
    # The main process prepares first and writes what it made (SARCSE's token counts) into the folder, where the
    # others (on a shared filesystem) find it instead of counting the corpus again.
    with args.main_process_first(local=False, desc="corpus statistics"):
        # streamed: its first sentences
        resources = plan.method.prepare(model.config, plan.corpus.sentences, plan.tokenizer, plan.output_dir)
        # the record names the run's files in the folder: what it resumed with, its method's files, its logs
        files = sorted({RUN_FILE, *plan.owned, *resources.checkpoint_files, *tensorboard_names(args)})
        run_record = run_file_text(plan.description, files)
        if args.should_save:
            write_run_files(plan.output_dir, {**resources.checkpoint_files, RUN_FILE: run_record}, plan.owned)
    trainer = build_trainer(model, args, plan.train_dataset, tokenizer=plan.tokenizer, eval_dataset=plan.dev.pairs,
                            pad_to_max_length=plan.pad_to_max_length, resources=resources,
                            checkpoint_files={RUN_FILE: run_record}, callbacks=callbacks)
    return Started(trainer, raw_scores, tuple(files), tuple(run_names([*plan.names, *resources.checkpoint_files])))


def finish(plan: RunPlan, started: Started) -> None:
    """After training: save the model into the folder (never over a file of the user's), score it on the dev
    pairs and ``--sts_dir``, write the card and the sentence-transformers files, export, push, record the run's
    files."""
    trainer, output_dir, description, patterns = started.trainer, plan.output_dir, plan.description, started.patterns
    decided_by_main(plan.training_args, lambda: claim_final_outputs(output_dir, description, started.files, patterns))
    trainer.save_model(plan.training_args.output_dir)
    trainer.save_state()
    files = started.files
    if trainer.is_world_process_zero():
        files = record_run_files(output_dir, description, files, patterns)
    dev = trainer.evaluate()  # as the saved weights are (CseTrainer.train ends the mixed-precision wrapper)
    if not trainer.is_world_process_zero():
        return
    raw = f" (raw backbone: {format_raw_scores(started.raw_scores)})" if started.raw_scores else ""
    print(f"{plan.dev.name} after training (best checkpoint): {dev[DEV_METRIC_KEY]:.2f}{raw}")
    results = None
    if plan.sts_evaluator is not None:
        results = plan.sts_evaluator.evaluate(trainer.model)
        print(format_table(results))
    data_args = plan.data_args
    summary = {"method": plan.method.name, "backbone": plan.run_args.backbone, "preset": plan.run_args.preset,
               "train_file": data_args.train_file, "n_sentences": plan.corpus.num_sentences,
               **({"dev_file": data_args.dev_file} if data_args.dev_file else {}),
               **({"raw_backbone_dev": started.raw_scores} if started.raw_scores else {})}
    try:  # only the run's own files are rewritten, made readable and uploaded
        card = finish_output_folder(trainer, run=summary, final_eval=dev, push_to_hub=plan.push_to_hub,
                                    repo_id=plan.repo_id, files=patterns, results=results)
        if plan.run_args.export:
            portable = export_portable(output_dir, output_dir / PORTABLE_FOLDER, overwrite=True)
            print(f"Portable folder: {portable} (SentenceTransformer(path); no sentcse, no trust_remote_code)")
    finally:  # also when the upload failed: the folder is complete
        record_run_files(output_dir, description, files, patterns)
    print(f"Saved to {output_dir.resolve()} with its model card {card.name} (AutoModel.from_pretrained"
          "(path, trust_remote_code=True) or SentenceTransformer(path, trust_remote_code=True))")


def run(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None,
        callbacks: Iterable[TrainerCallback] = ()) -> CseTrainer:
    """Check, train, finish: the Hub-ready folder; returns the trainer. Raises ``UsageError`` for bad input.
    ``callbacks`` join the trainer's (a benchmark's step timer, a test acting during the run)."""
    plan = check(argv, defaults)
    started = start(plan, callbacks)
    trainer = started.trainer
    try:
        trainer.train(resume_from_checkpoint=plan.resume)
        finish(plan, started)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted at step {trainer.state.global_step}: "
                          f"{kept_checkpoint(plan.output_dir, plan.description)}") from None
    except Exception as error:
        if not disk_full(error, plan.output_dir):
            raise
        raise RunStopped(f"no space left on the disk of {plan.output_dir} during a save: "
                         f"{kept_checkpoint(plan.output_dir, plan.description, 'free space, then ')}") from error
    return trainer


def format_raw_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{score:.2f} ({label})" for label, score in scores.items())


def main(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> CseTrainer:
    """Console entry point: a user error prints one line and exits with status 2; a non-finite loss (what is on
    disk), a failed upload (the complete folder and the command that retries it) or a disk that filled during a save
    (the checkpoint kept and the flag that resumes it) one line and status 1; a bad line that a streamed corpus meets
    during training, one line and status 2; Ctrl-C one line (what was kept) and status 130."""
    errors = {UsageError: 2, CorpusError: 2, NonFiniteLossError: 1, HubUploadError: 1, RunStopped: 1}
    trainer = report_errors("sentcse-train", lambda: run(argv, defaults), argv, errors)
    end_processes(trainer)
    return trainer


def cli() -> int:
    """The ``sentcse-train`` console script: ``main`` with exit status 0 after a complete run (a console script
    exits with what its function returns, and ``main`` returns the trainer)."""
    main()
    return 0


def end_processes(trainer) -> None:
    """Tear down the process group of a multi-process run, once gloo's worker threads are idle.

    After the last collective, a worker thread still frees that collective's tensors, which needs the GIL; if the
    process group's destructor (it joins those threads) runs first while holding the GIL, the process hangs at
    exit. A barrier, then a short wait that releases the GIL, lets the workers finish."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        time.sleep(0.2)
    trainer.accelerator.end_training()


if __name__ == "__main__":
    main()
