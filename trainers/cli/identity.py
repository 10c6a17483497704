"""What a run is: its description (method, backbone, corpus, config, the training fields that shape it) and the
fingerprint of that description, written into the run's record (``sentcse_run.json``) in its output folder and
beside every checkpoint. Two runs with one fingerprint are one run: its checkpoints resume each other; any other
run's never mix with them.
"""

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ..cards.files import RUN_FILE

# What a run is: every TrainingArguments field but these, which change what is logged, saved, evaluated or
# uploaded, where it runs or what memory it takes (gradient checkpointing recomputes the same numbers), not what
# is trained; changing any other makes another run, whose checkpoints must not be mixed with this one's.
# (Persistent loader workers change the data order: the description records them when they take effect.)
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
    "ddp_static_graph", "ddp_backend", "ddp_timeout", "activation_checkpointing", "activation_checkpointing_kwargs",
    "gradient_checkpointing", "gradient_checkpointing_kwargs",
})

# Fields earlier sentcse versions fingerprinted with the run (gradient checkpointing, and its newer name, off or on):
# their checkpoints still resume.
EARLIER_TRAINING_FIELDS = [
    {"activation_checkpointing": on, "activation_checkpointing_kwargs": None, "gradient_checkpointing": on,
     "gradient_checkpointing_kwargs": None} for on in (False, True)
]

# The fields earlier sentcse versions fingerprinted: their checkpoints still resume.
LEGACY_TRAINING_FIELDS = ("seed", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
                          "max_steps", "num_train_epochs", "lr_scheduler_type", "warmup_steps", "weight_decay", "optim")

# Training fields added after checkpoints were fingerprinted with every field: left out at their defaults.
NEW_TRAINING_DEFAULTS = {"head_learning_rate": None, "head_warmup_steps": 0}


def run_description(spec_name: str, backbone: str, data_args, config, training_args) -> dict[str, Any]:
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
    if persistent_loader_workers(training_args):  # the sampler orders the epochs: another order of the data
        description["persistent_workers"] = True
    return description


def persistent_loader_workers(training_args) -> bool:
    """Whether the data loader keeps its workers across epochs (they keep the copy of the dataset they started
    with, so the epochs' order must come from the Trainer's sampler)."""
    return bool(training_args.dataloader_persistent_workers and training_args.dataloader_num_workers > 0)


def fingerprint(description: dict[str, Any]) -> str:
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def accepted_fingerprints(description: dict[str, Any]) -> set:
    """This run's fingerprint, and those earlier sentcse versions gave the same run (fewer training fields, or
    those of ``EARLIER_TRAINING_FIELDS`` as well)."""
    training = description["training"]
    variants = [training, {name: training.get(name) for name in LEGACY_TRAINING_FIELDS}]
    variants += [{**training, **fields} for fields in EARLIER_TRAINING_FIELDS]
    return {fingerprint({**description, "training": fields}) for fields in variants}


def run_file_text(description: dict[str, Any], files: Iterable[str] = ()) -> str:
    """The run's record: fingerprint, description and the names of the files the run wrote in its folder."""
    record = {"fingerprint": fingerprint(description), "run": description, "files": sorted({RUN_FILE, *files})}
    return json.dumps(record, indent=2, default=str) + "\n"
