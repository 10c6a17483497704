"""The training CLI's arguments: the method's config fields become flags, generated from the config class.

``--method NAME`` is read first; the parser then has exactly that method's config fields (a flag of another
method is an unknown argument), the data arguments and every ``TrainingArguments`` field. ``--preset`` values are
parser defaults, so a flag given explicitly wins. ``--objective_kwargs`` takes a YAML or JSON mapping.
"""

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from ...modeling.configuration_simcse import declared_fields, field_choices, principal_type
from ..errors import error_line
from ..methods import METHODS, Method, get_method
from ..presets import PRESETS, preset_defaults
from ..serving import EXPORT_FORMATS, PORTABLE_FOLDER
from ..trainer import CseTrainingArguments

# Where a launcher wants the exit status of a failed run (scripts/launch.sh: accelerate launch reports every
# failure of the script as status 1).
EXIT_STATUS_FILE = "SENTCSE_EXIT_STATUS_FILE"


class UsageError(ValueError):
    """A user error in the command line or config file: printed as one line, exit status 2."""


class RunStopped(RuntimeError):
    """Training stopped by the machine (the disk filled during a save): one line saying what was kept and how to
    continue."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: one line saying what was kept and how to continue."""


def report_errors(program: str, run, argv: Sequence[str] | None, errors: dict[type, int]):
    """``run()``; an error of one of ``errors``' types is printed as one line and exits with its status, and Ctrl-C
    as one line (what it says, e.g. what was kept) with status 130, unless the traceback is asked for
    (``--traceback`` or ``SENTCSE_TRACEBACK=1``)."""
    try:
        return run()
    except (*errors, KeyboardInterrupt) as error:
        arguments = list(sys.argv[1:] if argv is None else argv)
        if os.environ.get("SENTCSE_TRACEBACK", "") not in ("", "0") or "--traceback" in arguments:
            raise
        if isinstance(error, KeyboardInterrupt):
            print(f"{program}: {str(error) or 'interrupted'}", file=sys.stderr)
            status = 130  # the shell's status of a command stopped by SIGINT
        else:
            print(f"{program}: error: {error}", file=sys.stderr)
            status = next(status for kind, status in errors.items() if isinstance(error, kind))
        if os.environ.get(EXIT_STATUS_FILE):  # a launcher that loses the status (accelerate launch exits 1) reads it
            Path(os.environ[EXIT_STATUS_FILE]).write_text(f"{status}\n")
        raise SystemExit(status) from None


@dataclasses.dataclass
class RunArguments:
    method: str = dataclasses.field(default="sarcse", metadata={"help": "the method: " + ", ".join(METHODS)})
    backbone: str | None = dataclasses.field(default=None, metadata={"help": "encoder folder or Hub name"})
    preset: str | None = dataclasses.field(default=None, metadata={"help": "paper settings (defaults a flag "
                                              f"overrides): {', '.join(PRESETS)}"})
    overwrite_output_dir: bool = dataclasses.field(default=False, metadata={
        "help": "replace what --output_dir holds (another run's model and checkpoints are deleted first)"})
    export: str | None = dataclasses.field(default=None, metadata={
        "choices": list(EXPORT_FORMATS), "help": f"portable: after training, also write OUTPUT_DIR/{PORTABLE_FOLDER}, "
        "the model in its backbone's own architecture with sentence-transformers modules (loads without sentcse or "
        "trust_remote_code; as sentcse-export)"})
    traceback: bool = dataclasses.field(default=False, metadata={
        "help": "show the full traceback of a user error (also: SENTCSE_TRACEBACK=1)"})


@dataclasses.dataclass
class DataArguments:
    train_file: str | None = dataclasses.field(default=None, metadata={
        "help": ".txt/.gz file(s) (comma-separated, or a glob such as 'corpus/*.txt.gz') or a Hub dataset"})
    max_train_samples: int | None = dataclasses.field(default=None, metadata={"help": "use the first N sentences"})
    text_column: str = dataclasses.field(default="text", metadata={"help": "a Hub dataset's column of sentences"})
    streaming: bool = dataclasses.field(default=False, metadata={
        "help": "read the corpus as training goes instead of converting it to the datasets cache (needs --max_steps)"})
    shuffle_buffer_size: int = dataclasses.field(default=10_000, metadata={
        "help": "--streaming: sentences held in the shuffle buffer"})
    dev_dir: str | None = dataclasses.field(
        default=None, metadata={"help": "folder with sts-dev.csv for model selection (default: --sts_dir)"})
    dev_file: str | None = dataclasses.field(default=None, metadata={
        "help": "your own scored pairs for model selection instead of STS-B dev: a .tsv/.csv/.jsonl file or a Hub "
        "dataset (validation split) with columns sentence1, sentence2, score (0-1 or 0-5)"})
    sts_dir: str | None = dataclasses.field(default=None, metadata={"help": "SentEval folder: print the 7-task "
                                               "table at the end"})
    skip_raw_eval: bool = dataclasses.field(default=False, metadata={"help": "do not score the raw backbone first"})


def _flag_type(annotation) -> Any:
    """The flag type of a config field: Optional[X] (None keeps the config's default), X the first type of a union
    (``float | int`` is a float); a choice is a string; a list stays a list of its element type; a mapping is a
    YAML / JSON string."""
    base = principal_type(annotation)
    if typing.get_origin(base) is typing.Literal:
        return type(typing.get_args(base)[0]) | None
    if typing.get_origin(base) is dict or base is dict:
        return str | None
    if typing.get_origin(base) is list or base is list:
        return list[(typing.get_args(base) or (str,))[0]]
    return base | None


def method_arguments(spec: Method) -> type:
    """A dataclass with one optional field per config field of ``spec``'s config (help from the config)."""
    fields = []
    for name, config_field in declared_fields(spec.config_class).items():
        metadata = {"help": spec.field_help(name)}
        choices = field_choices(config_field)
        if choices:
            metadata["choices"] = list(choices)
        fields.append((name, _flag_type(config_field.type), dataclasses.field(default=None, metadata=metadata)))
    arguments = dataclasses.make_dataclass(f"{spec.name.title()}Arguments", fields)
    arguments._argument_group_name = f"{spec.name} config (None keeps the config's default)"
    return arguments


def parse_objective_kwargs(value: Any) -> dict[str, Any]:
    if value is None or isinstance(value, dict):
        return dict(value or {})
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise UsageError(f"--objective_kwargs is not a YAML/JSON mapping ({error.__class__.__name__}): {value!r}; "
                         'write e.g. --objective_kwargs \'{"margin": 0.3}\'') from None
    if not isinstance(parsed, dict):
        raise UsageError(f"--objective_kwargs must be a mapping such as '{{\"margin\": 0.3}}', got {value!r}")
    return parsed


def config_kwargs(spec: Method, method_args) -> dict[str, Any]:
    """The config fields given on the command line (None keeps the config's default)."""
    values = {name: getattr(method_args, name) for name in declared_fields(spec.config_class)}
    values = {name: value for name, value in values.items() if value is not None}
    if "objective_kwargs" in values:
        values["objective_kwargs"] = parse_objective_kwargs(values["objective_kwargs"])
    return values


def _read_config_file(path: str) -> dict[str, Any]:
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path} is not valid YAML/JSON: {error_line(error)}") from None
    if not isinstance(values, dict):
        raise UsageError(f"{path} must hold a mapping of flag names to values")
    return values


def _file_argv(path: str, values: dict[str, Any], list_fields: set) -> list[str]:
    """A config file's values as flags, so that they are typed and checked as the command line's are (YAML reads
    ``3e-5`` as a string, and a mapping value would bypass argparse's types)."""
    argv: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        flag = f"--{key}"
        if isinstance(value, (list, tuple)):
            if key not in list_fields:
                raise UsageError(f"{path}: {key} takes one value, got the list {list(value)!r}")
            argv += [flag, *(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in value)]
        elif isinstance(value, dict):
            argv += [flag, json.dumps(value)]
        elif isinstance(value, bool):
            argv += [flag, str(value).lower()]
        else:
            argv += [flag, str(value)]
    return argv


def _list_fields(types) -> set:
    return {name for dtype in types for name, hint in typing.get_type_hints(dtype).items()
            if list in (typing.get_origin(hint), *map(typing.get_origin, typing.get_args(hint)))}


def _flag_name(argument: str) -> str | None:
    """``--max-steps=4`` -> ``max_steps``; None for what is no flag."""
    return argument[2:].split("=")[0].replace("-", "_") if argument.startswith("--") else None


def _raise_usage(message: str):
    raise UsageError(message)


def parse_args(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """``(run_args, method_args, data_args, training_args, spec)`` from the command line: flags, or a YAML/JSON
    file first and then flags, which win over the file's values (``run.yaml --seed 43``).

    ``defaults`` are argument defaults below presets, the file and flags (examples/train.py passes its bundled
    data)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    file_values, flags = None, argv
    if argv and argv[0].endswith((".json", ".yaml", ".yml")) and not argv[0].startswith("-"):
        given = set(map(_flag_name, argv[1:]))  # a flag after the file replaces the file's value
        file_values = {key: value for key, value in _read_config_file(argv[0]).items()
                       if str(key).replace("-", "_") not in given}
        flags = argv[1:]
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--method", default=None)
    probe.add_argument("--preset", default=None)
    probe.add_argument("--objective", default=None)
    first = {key: value for key, value in vars(probe.parse_known_args(flags)[0]).items() if value is not None}
    if file_values is not None:
        first = {**{key: file_values.get(key) for key in ("method", "preset", "objective")}, **first}
    method = first.get("method") or (defaults or {}).get("method") or RunArguments.method
    if method not in METHODS:
        raise UsageError(f"--method must be one of {sorted(METHODS)}, got {method!r}")
    spec = get_method(method)
    types = (RunArguments, method_arguments(spec), DataArguments, CseTrainingArguments)
    parser = HfArgumentParser(types)
    parser.error = _raise_usage  # a bad flag value is one line, not argparse's usage block
    merged = dict(defaults or {})
    preset = {}
    if first.get("preset"):
        if first["preset"] not in PRESETS:
            raise UsageError(f"--preset must be one of {sorted(PRESETS)}, got {first['preset']!r}")
        preset = preset_defaults(first["preset"])
        if first.get("objective") not in (None, preset["objective"]):
            # another objective: the preset's hyperparameters are its own objective's (a recipe's other rows stay)
            preset = {key: value for key, value in preset.items() if key not in PRESET_OBJECTIVE_FIELDS}
        merged.update(preset)
    file_argv = [] if file_values is None else _file_argv(argv[0], file_values, _list_fields(types))

    def source(message: str, flag: str | None = None) -> str:
        """The config file's name before an error of one of its values (``flag``, else the first the message
        names)."""
        if file_values is None:
            return message
        named = _flag_name(flag or next(iter(re.findall(r"--[\w-]+", message)), ""))
        from_file = named in map(_flag_name, file_argv) if named else not flags
        return f"{argv[0]}: {message}" if from_file else message

    known = {f.name for dtype in types for f in dataclasses.fields(dtype)}
    parser.set_defaults(**{key: value for key, value in merged.items() if key in known})
    try:
        *parsed, remaining = parser.parse_args_into_dataclasses(args=[*file_argv, *flags],
                                                                 return_remaining_strings=True)
    except UsageError as error:
        raise UsageError(source(str(error))) from None
    except ValueError as error:  # a TrainingArguments rule, e.g. save_steps not a multiple of eval_steps
        raise UsageError(source(error_line(error))) from None
    if remaining:
        raise UsageError(source(_unknown_flags_message(remaining, spec), remaining[0].split("=")[0]))
    _merge_preset_objective_kwargs(parsed[1], preset)
    return (*parsed, spec)


# What a preset sets for its own objective, and drops when --objective names another
PRESET_OBJECTIVE_FIELDS = frozenset({"objective", "objective_variant", "objective_kwargs", "temperature"})


def _merge_preset_objective_kwargs(method_args, preset: dict[str, Any]) -> None:
    """``--objective_kwargs`` on a preset changes the preset's hyperparameters one by one (for its objective)."""
    ours = method_args.objective_kwargs
    if not preset or ours is preset.get("objective_kwargs") or method_args.objective != preset.get("objective"):
        return
    method_args.objective_kwargs = {**preset["objective_kwargs"], **parse_objective_kwargs(ours)}


def _unknown_flags_message(remaining: Sequence[str], spec: Method) -> str:
    flags = [arg for arg in remaining if arg.startswith("--")] or list(remaining)
    owners = {}
    for flag in flags:
        name = flag[2:].split("=")[0].replace("-", "_")
        owners[flag] = [other.name for other in METHODS.values() if name in declared_fields(other.config_class)]
    notes = [f"{flag} (a flag of --method {' / '.join(methods)})" if methods else flag
             for flag, methods in owners.items()]
    return f"--method {spec.name} has no flag {', '.join(notes)}; see --method {spec.name} --help"


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
            f"{batches} batch(es) x {training_args.num_train_epochs} epoch(s) / "
            f"{training_args.gradient_accumulation_steps} accumulation steps make 0 optimizer steps: raise "
            "--num_train_epochs or set --max_steps"
        )


def check_training_values(training_args) -> None:
    """Values the Trainer would take and fail on (or quietly reinterpret) only once training runs."""
    rate = training_args.learning_rate
    if not (math.isfinite(rate) and rate > 0):
        raise UsageError(f"--learning_rate must be a finite number > 0, got {rate}")
    if training_args.per_device_train_batch_size * training_args.world_size < 2:
        raise UsageError("--per_device_train_batch_size x processes must be >= 2: the other sentences of a batch are "
                         "the negatives (SimCSE uses 64)")
    if training_args.dataloader_persistent_workers and training_args.dataloader_num_workers == 0:
        raise UsageError("--dataloader_persistent_workers keeps the loader's worker processes, and there are none: "
                         "add --dataloader_num_workers N, or drop --dataloader_persistent_workers")
    if training_args.max_steps == 0:
        raise UsageError("--max_steps must be >= 1 (or -1, the default: train --num_train_epochs)")
