"""One run per output folder: what a run is (its fingerprint), which folder it may write, which checkpoint it
resumes, and the run sizes that would train nothing.

A run writes ``sentcse_run.json`` (its fingerprint and what it is made of) in its output folder and beside every
checkpoint. A folder that holds another run's model or checkpoints is refused unless ``--overwrite_output_dir``
(what the earlier run wrote there is deleted first; the user's own files stay, and a folder whose own files a run
would overwrite is refused) or a resume of that same run; a resume only picks checkpoints with this run's
fingerprint, so checkpoint rotation never sees, and never deletes, another run's.
"""

import dataclasses
import hashlib
import json
import logging
import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..cards.export import ST_FILES
from ..cards.files import CARD_FILE, CURVE_FILE, STS_RESULTS_FILE, TRAINER_STATE_FILE, TRAINING_INFO_FILE
from ..methods import checkpoint_file_names
from .arguments import UsageError

logger = logging.getLogger("sentcse.train")

RUN_FILE = "sentcse_run.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# What a run is: every TrainingArguments field but these, which change what is logged, saved, evaluated or
# uploaded, or where it runs, not what is trained; changing any other makes another run, whose checkpoints must
# not be mixed with this one's.
COSMETIC_TRAINING_FIELDS = frozenset({
    "output_dir", "resume_from_checkpoint", "local_rank", "use_cpu", "debug", "skip_memory_metrics", "use_cache",
    "do_train", "do_eval", "do_predict", "label_names", "length_column_name", "remove_unused_columns",
    "torch_empty_cache_steps", "logging_strategy", "logging_steps", "logging_first_step", "log_on_each_node",
    "logging_nan_inf_filter", "include_num_input_tokens_seen", "log_level", "log_level_replica", "disable_tqdm",
    "report_to", "run_name", "project", "trackio_space_id", "trackio_bucket_id", "trackio_static_space_id",
    "eval_strategy", "eval_steps", "eval_delay", "per_device_eval_batch_size", "prediction_loss_only", "eval_on_start",
    "eval_do_concat_batches", "eval_use_gather_object", "eval_accumulation_steps", "include_for_metrics",
    "batch_eval_metrics", "bf16_full_eval", "fp16_full_eval", "save_only_model", "save_strategy", "save_steps",
    "save_on_each_node", "save_total_limit", "enable_jit_checkpoint", "push_to_hub", "hub_token", "hub_private_repo",
    "hub_model_id", "hub_strategy", "hub_always_push", "hub_revision", "load_best_model_at_end",
    "metric_for_best_model", "greater_is_better", "restore_callback_states_from_checkpoint", "dataloader_num_workers",
    "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor",
    "dataloader_multiprocessing_context", "ddp_find_unused_parameters", "ddp_bucket_cap_mb", "ddp_broadcast_buffers",
    "ddp_static_graph", "ddp_backend", "ddp_timeout",
})
# The fields earlier sentcse versions fingerprinted: their checkpoints still resume.
LEGACY_TRAINING_FIELDS = ("seed", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
                          "max_steps", "num_train_epochs", "lr_scheduler_type", "warmup_steps", "weight_decay", "optim")
# Training fields added after checkpoints were fingerprinted with every field: left out at their defaults.
NEW_TRAINING_DEFAULTS = {"head_learning_rate": None, "head_warmup_steps": 0}
MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")
# What a run writes in its folder besides checkpoints, the code files and the tokenizer: what an overwrite deletes.
RUN_OUTPUTS = (*MODEL_FILES, RUN_FILE, CARD_FILE, CURVE_FILE, TRAINING_INFO_FILE, TRAINER_STATE_FILE, "training_args.bin",
               STS_RESULTS_FILE, *sorted(checkpoint_file_names()), *ST_FILES, "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "all_results.json", "train_results.json",
               "eval_results.json")


def run_description(spec_name: str, backbone: str, data_args, config, training_args) -> Dict[str, Any]:
    """The run's identity: method, backbone, corpus, every config field (as resolved, so a flag spelled at its
    default makes no other run) and the training fields that shape it."""
    from ...modeling.configuration_simcse import declared_fields

    description = {
        "method": spec_name,
        "backbone": str(backbone),
        "train_file": str(data_args.train_file),
        "max_train_samples": data_args.max_train_samples,
        "config": {name: getattr(config, name) for name in sorted(declared_fields(type(config)))},
        "training": {f.name: getattr(training_args, f.name) for f in dataclasses.fields(training_args)
                     if f.name not in COSMETIC_TRAINING_FIELDS},
        "processes": int(training_args.world_size),
    }
    for name, default in NEW_TRAINING_DEFAULTS.items():  # at its default, a newer field keeps older fingerprints
        if description["training"].get(name) == default:
            del description["training"][name]
    if data_args.text_column != "text":  # another column is other data (the default keeps older fingerprints)
        description["text_column"] = data_args.text_column
    if data_args.streaming:  # another order of the data (a converted run's fingerprint is as before)
        description["streaming"] = {"shuffle_buffer_size": data_args.shuffle_buffer_size}
    return description


def decided_by_main(training_args, decide: Callable[[], Any]) -> Any:
    """``decide()`` run on the main process alone; its result, or its UsageError, reaches every process (so a
    refusal stops them all, and none of them reads a folder that the main process is writing)."""
    if training_args.world_size == 1:
        return decide()
    from accelerate.utils import broadcast_object_list

    outcome, failure = [None], None
    if training_args.process_index == 0:
        try:
            outcome = [("ok", decide())]
        except UsageError as error:
            outcome = [("error", str(error))]
        except Exception as error:  # noqa: BLE001  (the others are told, then it propagates here)
            outcome, failure = [("error", f"the main process stopped: {type(error).__name__}: {error}")], error
    broadcast_object_list(outcome, from_process=0)
    if failure is not None:
        raise failure
    kind, value = outcome[0]
    if kind == "error":
        raise UsageError(value)
    return value


def fingerprint(description: Dict[str, Any]) -> str:
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def accepted_fingerprints(description: Dict[str, Any]) -> set:
    """This run's fingerprint, and the one an earlier sentcse gave the same run (fewer training fields)."""
    legacy = {**description, "training": {name: description["training"].get(name) for name in LEGACY_TRAINING_FIELDS}}
    return {fingerprint(description), fingerprint(legacy)}


def run_file_text(description: Dict[str, Any], user_files: List[str] = (), files: Optional[List[str]] = None) -> str:
    """The run's record: fingerprint, description, the user's files found in the folder, and (at the end) the files
    the run wrote."""
    record = {"fingerprint": fingerprint(description), "run": description, "user_files": list(user_files)}
    if files is not None:
        record["files"] = files
    return json.dumps(record, indent=2, default=str) + "\n"


def _read_fingerprint(folder: Path) -> Optional[str]:
    try:
        return json.loads((folder / RUN_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def checkpoints(folder: Path) -> Dict[int, Path]:
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = CHECKPOINT.match(path.name)
            if match and path.is_dir():
                found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def written_by_runs() -> set:
    """Every top-level name a run may write in its folder (outputs, the model's code files, TensorBoard runs)."""
    from ... import modeling  # the code files save_pretrained copies are the model package's own modules

    code = {path.name for path in Path(modeling.__file__).parent.glob("*.py")} - {"__init__.py"}
    return {*RUN_OUTPUTS, *code, "runs"}


def _read_run_file(folder: Path) -> Dict[str, Any]:
    try:
        record = json.loads((folder / RUN_FILE).read_text())
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def holds_a_run(folder: Path) -> bool:
    """A saved model or checkpoints (a run stopped before its first checkpoint left nothing worth keeping)."""
    return folder.is_dir() and (bool(checkpoints(folder)) or any((folder / name).exists() for name in MODEL_FILES))


def prepare_output_folder(folder: Path, description: Dict[str, Any], overwrite: bool,
                          resume: Optional[str]) -> Tuple[Optional[str], List[str]]:
    """Check the output folder for this run (on the main process: ``decided_by_main``); returns the checkpoint to
    resume from (None: start fresh) and the user's own files in the folder, which no run writes or deletes.
    ``overwrite`` deletes what the previous run wrote there (its record of its files; never the user's).

    ``resume``: None, "last" (this run's newest checkpoint) or a checkpoint folder."""
    mine = accepted_fingerprints(description)
    check_writable(folder)
    if overwrite and resume:
        raise UsageError("--overwrite_output_dir and --resume_from_checkpoint contradict each other: choose one")
    if folder.resolve() == Path(description["backbone"]).expanduser().resolve():
        raise UsageError(f"--output_dir {folder} is the backbone's folder: choose another --output_dir")
    previous = _read_run_file(folder)
    held = holds_a_run(folder)
    if resume:
        if held and previous.get("fingerprint") not in (*mine, None):
            raise UsageError(f"output folder {folder} holds another run (other flags or data): resume into that run's "
                             "own folder, or choose another --output_dir")
        point = _resume_point(folder, mine, resume)
        if description.get("streaming"):
            refuse_a_wrapped_stream(Path(point))
        return point, list(previous.get("user_files") or [])
    if held and not overwrite:
        same = " (the same run: add --resume_from_checkpoint last to continue it)" if previous.get("fingerprint") in mine else ""
        raise UsageError(
            f"output folder {folder} already holds a run's model or checkpoints{same}; pass --overwrite_output_dir "
            "to replace it, --resume_from_checkpoint last to continue it, or choose another --output_dir"
        )
    existing = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
    stale = set()
    if previous or held:  # an earlier run (perhaps stopped before its first checkpoint)
        written = previous.get("files")
        stale = set(written) if written is not None else written_by_runs() | {RUN_FILE}
        stale |= {path.name for path in checkpoints(folder).values()}
        stale = (stale & existing) - set(previous.get("user_files") or [])
    user_files = sorted(existing - stale)
    clashes = sorted(set(user_files) & written_by_runs())
    if clashes:
        raise UsageError(f"output folder {folder} holds files that are not a run's ({', '.join(clashes)}) and that a run "
                         "writes: move them, or choose another --output_dir")
    if stale:
        logger.warning("--overwrite_output_dir: deleting the previous run in %s (%d files; yours stay)", folder, len(stale))
        for name in stale:
            path = folder / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return None, user_files


def check_writable(folder: Path) -> None:
    """The output folder (or, before it exists, its nearest existing parent) takes a file: found now, not at the
    first file a run writes (a read-only mount or a folder without write permission)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as error:
        raise UsageError(f"--output_dir {folder} cannot be written ({error.strerror or error}): choose a writable "
                         "folder") from None


def record_run_files(folder: Path, description: Dict[str, Any], user_files: List[str]) -> None:
    """At the end of a run: its record names every file it wrote (what a later --overwrite_output_dir deletes)."""
    written = sorted({path.name for path in folder.iterdir()} - set(user_files))
    (folder / RUN_FILE).write_text(run_file_text(description, user_files, written))


def _resume_point(folder: Path, mine: set, resume: str) -> str:
    if resume.lower() in ("last", "true"):
        if not folder.is_dir():
            raise UsageError(f"--resume_from_checkpoint {resume}: output folder {folder} does not exist; check "
                             "--output_dir (the folder of the run to continue)")
        own = {step: path for step, path in checkpoints(folder).items() if _read_fingerprint(path) in mine}
        if not own:
            others = len(checkpoints(folder))
            why = f" ({others} checkpoint(s) there belong to another run: other flags or data)" if others else ""
            raise UsageError(f"--resume_from_checkpoint {resume}: no checkpoint of this run in {folder}{why}; run "
                             "with the same flags as the interrupted run, or without --resume_from_checkpoint")
        step, path = next(reversed(own.items()))
    else:
        path = Path(resume)
        if not path.is_dir():
            raise UsageError(f"--resume_from_checkpoint {resume}: no checkpoint folder there")
        if _read_fingerprint(path) not in (*mine, None):
            raise UsageError(f"--resume_from_checkpoint {resume}: that checkpoint belongs to another run (other "
                             "flags or data); resume it with its own flags")
        match = CHECKPOINT.match(path.name)
        step = int(match.group(1)) if match else None
    check_checkpoint(path)
    logger.info("resuming from %s (step %s)", path, step)
    return str(path)


def refuse_a_wrapped_stream(checkpoint: Path) -> None:
    """A streamed corpus of unknown length resumes by skipping the checkpoint's number of batches of its FIRST
    pass: exact until the stream first wrapped (the Trainer's epoch reached 1), not after."""
    try:
        epoch = float(json.loads((checkpoint / TRAINER_STATE_FILE).read_text()).get("epoch") or 0)
    except (OSError, ValueError):
        return
    if epoch >= 1:
        raise UsageError(f"--resume_from_checkpoint: {checkpoint.name} of this streamed run was written after the stream "
                         f"passed the end of its corpus (epoch {epoch:.2f}); a resumed stream would replay its first "
                         "pass instead: start the run again, or train without --streaming (exact resume)")


def check_checkpoint(path: Path) -> None:
    """Fail with one line, naming the file, when a checkpoint is incomplete or corrupt (a run killed mid-save)."""
    from safetensors import safe_open

    problem = None
    state = path / TRAINER_STATE_FILE
    try:
        json.loads(state.read_text())
    except (OSError, ValueError) as error:
        problem = f"{state.name}: {error.__class__.__name__}"
    weights = sorted(path.glob("*.safetensors"))
    if problem is None and not weights:
        problem = "no model.safetensors"
    for file in weights if problem is None else ():
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)
        except Exception as error:  # safetensors raises its own error type for a truncated file
            problem = f"{file.name}: {error}"
            break
    if problem is None:
        return
    earlier = [p for step, p in checkpoints(path.parent).items() if p != path and step < _step(path)]
    hint = f"resume from the previous one: --resume_from_checkpoint {earlier[-1]}" if earlier else "start the run again"
    raise UsageError(f"checkpoint {path} is incomplete or corrupt ({problem}); {hint}")


def _step(path: Path) -> int:
    match = CHECKPOINT.match(path.name)
    return int(match.group(1)) if match else math.inf


def check_run_size(sentences: int, training_args) -> None:
    """A run that would train nothing is an error before training."""
    batch = training_args.per_device_train_batch_size * training_args.world_size
    batches = sentences // batch if training_args.dataloader_drop_last else math.ceil(sentences / batch)
    if batches == 0:
        raise UsageError(
            f"the corpus has {sentences} sentence(s), fewer than one batch of {batch} (per device x processes) with "
            "dataloader_drop_last: add sentences or lower --per_device_train_batch_size"
        )
    if training_args.max_steps > 0:
        return
    steps = math.floor(batches / training_args.gradient_accumulation_steps * training_args.num_train_epochs)
    if steps < 1:
        raise UsageError(
            f"{batches} batch(es) x {training_args.num_train_epochs} epoch(s) / {training_args.gradient_accumulation_steps} "
            "accumulation steps make 0 optimizer steps: raise --num_train_epochs or set --max_steps"
        )


def check_training_values(training_args) -> None:
    """Values the Trainer would take and fail on (or quietly reinterpret) only once training runs."""
    rate = training_args.learning_rate
    if not (math.isfinite(rate) and rate > 0):
        raise UsageError(f"--learning_rate must be a finite number > 0, got {rate}")
    if training_args.per_device_train_batch_size * training_args.world_size < 2:
        raise UsageError("--per_device_train_batch_size x processes must be >= 2: the other sentences of a batch are "
                         "the negatives (SimCSE uses 64)")
    if training_args.max_steps == 0:
        raise UsageError("--max_steps must be >= 1 (or -1, the default: train --num_train_epochs)")
