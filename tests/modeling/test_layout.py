"""The package layout and its contracts: one installed name (``sentcse``), a complete package list, no import
cycle, checkpoints saved before the layout loading with identical embeddings, a method added through the registry
alone, config fields checked on construction and on change, and CLI flags generated from the chosen method."""

import ast
import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import save_tiny_backbone, tiny_backbone_config

from sentcse.modeling import SarcseConfig, SarcseModel, SimCseConfig
from sentcse.trainers.cli.arguments import parse_args

REPO = Path(__file__).resolve().parents[2]
LIBRARY = {"modeling": "sentcse.modeling", "trainers": "sentcse.trainers", "model_cards": "sentcse.model_cards"}
PRE_LAYOUT = REPO / "tests" / "data" / "pre_layout_checkpoints"


def test_setup_cfg_lists_every_library_package():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = {"sentcse"}
    for folder, name in LIBRARY.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *relative)))
    assert found == listed


def test_installed_name_is_sentcse_only(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    def run(code):
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)

    ok = run("import sentcse; from sentcse import SarcseModel, CseTrainer, StsEvaluator; print(sentcse.__file__)")
    assert ok.returncode == 0, ok.stderr[-2000:]
    for name in ("modeling", "trainers"):
        assert run(f"import {name}").returncode != 0, f"`import {name}` works outside the repository"


def _import_graph():
    """Edges between the library's modules (relative and absolute sentcse imports), by module name."""
    modules = {}
    for folder, package in LIBRARY.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            name = ".".join((package, *parts))
            if parts[-1] == "__init__":
                name = name[: -len(".__init__")]
            modules[name] = (path, parts[-1] == "__init__")
    graph = {}
    for name, (path, is_package) in modules.items():
        base = name if is_package else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    target = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
                edges.update(c for c in candidates if c in modules and c != name)
            elif isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
        graph[name] = edges
    return graph


def test_no_import_cycle_in_the_library():
    graph = _import_graph()
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph[node]):
            if target.startswith(node + "."):
                continue  # a package importing its own submodules is how packages are built
            if state.get(target) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(stack + [target])}")
            if target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert len(graph) > 30


def test_library_files_stay_small():
    sizes = {path: len(path.read_text().splitlines())
             for folder in ("modeling", "trainers") for path in (REPO / folder).rglob("*.py")}
    too_long = {str(path.relative_to(REPO)): lines for path, lines in sizes.items() if lines > 420}
    assert not too_long


@pytest.mark.parametrize("method", ["simcse", "sarcse", "recse"])
def test_checkpoints_saved_before_the_layout_give_identical_embeddings(method, device):
    """Loaded by today's package (no remote code), a pre-layout checkpoint embeds exactly as its own saved code does
    in this process (bit for bit), and as it did when it was saved on a CPU (to float rounding: thread counts
    differ; to 1e-5 on another device)."""
    from transformers import AutoModel
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    folder = PRE_LAYOUT / method
    expected = json.loads((folder / "expected_embeddings.json").read_text())
    package = AutoModel.from_pretrained(folder).to(device)
    assert type(package).__module__.startswith("sentcse.modeling")
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]["AutoModel"]
    saved_class = get_class_from_dynamic_module(auto_map, str(folder))  # the code files saved with the weights
    assert not saved_class.__module__.startswith("sentcse")
    saved_code = saved_class.from_pretrained(folder).to(device)
    got = package.encode(expected["sentences"])
    np.testing.assert_array_equal(got, saved_code.encode(expected["sentences"]))
    atol = 1e-6 if device.type == "cpu" else 1e-5
    np.testing.assert_allclose(got, np.asarray(expected["embeddings"], dtype=np.float32), rtol=1e-5, atol=atol)


# ------------------------------------------------------------------------------------------------ configs
def test_config_fields_are_checked_on_construction_and_on_change():
    from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

    with pytest.raises(StrictDataclassFieldValidationError, match="(?s)'pooler'.*expected one of .*got max"):
        SimCseConfig(pooler="max")
    with pytest.raises(StrictDataclassFieldValidationError, match="(?s)'cnn_channels'.*expected int, got float"):
        SarcseConfig(cnn_channels=2.5)
    config = SarcseConfig(max_length=16)
    assert config.decoder_length == 14  # derived default
    with pytest.raises(StrictDataclassFieldValidationError, match="(?s)'cnn_channels'.*must be >= 1, got 0"):
        config.cnn_channels = 0  # a field's own checks run on assignment
    assert config.cnn_channels == 128
    config.decoder_length = 2  # the cross-field rules run in validate(): save_pretrained and the model call it
    with pytest.raises(StrictDataclassClassValidationError, match="decoder_length must be >= the largest kernel"):
        config.validate()
    with pytest.raises(StrictDataclassClassValidationError, match="decoder_length must be >= the largest kernel"):
        SarcseModel(SarcseConfig(backbone_config=tiny_backbone_config(), max_length=16, decoder_length=2))
    config.kernel_sizes = [2, 3]
    config.decoder_length = 3
    assert SarcseConfig.from_dict(config.to_dict()).decoder_length == 3


def test_unknown_config_keys_are_refused_and_older_files_still_load(caplog):
    with pytest.raises(ValueError, match=r"^thetta \(did you mean theta\?\): not a field of a sarcse config$"):
        SarcseConfig(thetta=0.2)
    with pytest.raises(ValueError, match=r"theta \(a field of sarcse; choose that method\): not a field of a simcse"):
        SimCseConfig(theta=0.5)
    with pytest.raises(ValueError, match="colour: not a field of a simcse config [(]its fields: pooler, "):
        SimCseConfig(colour="red")
    saved = {**SarcseConfig().to_dict(), "thetta": 0.2, "reshape_weight": 0.5}  # keys an older sentcse wrote
    with caplog.at_level("WARNING"):
        config = SarcseConfig.from_dict(saved)
    assert "ignoring reshape_weight, thetta" in caplog.text
    assert not hasattr(config, "thetta") and not hasattr(config, "reshape_weight") and config.theta == 0.1


def test_a_config_error_reads_as_one_line():
    from sentcse.trainers.errors import error_line

    with pytest.raises(Exception) as raised:
        SarcseConfig(theta=0)
    assert error_line(raised.value) == "theta must be in (0, 1], got 0"
    with pytest.raises(Exception) as raised:
        SarcseConfig(embedding_source="mean")
    assert error_line(raised.value) == ("Field 'embedding_source' expected one of ('cnn', 'cls'), got mean")
    with pytest.raises(Exception) as raised:
        SarcseConfig(max_length=4)
    assert error_line(raised.value).startswith("max_length must be >= 7 for SARCSE")  # the field given, not the derived


def test_config_docstrings_list_their_fields():
    from sentcse.modeling import ReCseConfig

    for config_class, fields in ((SimCseConfig, ("pooler", "temperature")),
                                 (SarcseConfig, ("theta", "decoder_activation")),
                                 (ReCseConfig, ("sqrt", "lambda_dropout"))):
        assert "{fields}" not in config_class.__doc__
        for field in fields:
            assert f"{field} (defaults to" in config_class.__doc__


def test_a_saved_field_of_another_method_is_dropped_on_load(caplog):
    saved = {**SimCseConfig().to_dict(), "theta": 0.5}  # older sentcse saved such flags into config.json
    with caplog.at_level("WARNING"):
        config = SimCseConfig.from_dict(saved)
    assert not hasattr(config, "theta") and "ignoring theta" in caplog.text


# ------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def backbone(tmp_path):
    return save_tiny_backbone(tmp_path / "backbone")


def test_flags_come_from_the_chosen_method(tmp_path, backbone, capsys):
    with pytest.raises(SystemExit) as stopped:
        _train(tmp_path, backbone, "--method", "simcse", "--theta", "0.5")
    assert stopped.value.code == 2
    assert "--method simcse has no flag --theta (a flag of --method sarcse)" in capsys.readouterr().err
    _, method_args, _, _, spec = parse_args(["--method", "sarcse", "--theta", "0.5", "--sts-dir", "d"])
    assert spec.name == "sarcse" and method_args.theta == 0.5


def test_a_preset_is_defaults_that_flags_override():
    _, method_args, _, training_args, _ = parse_args(["--method", "simcse", "--preset", "bert-mod-vicreg"])
    assert training_args.learning_rate == 1e-5 and method_args.objective == "vicreg"
    _, method_args, _, training_args, _ = parse_args(
        ["--method", "simcse", "--preset", "bert-mod-vicreg", "--learning_rate", "1e-6", "--objective_variant", "orig"])
    assert training_args.learning_rate == 1e-6 and method_args.objective_variant == "orig"
    assert training_args.per_device_train_batch_size == 128  # from the preset


def test_a_preset_with_another_objective_keeps_its_recipe_but_not_its_objective_settings():
    """--preset bert-mod-vicreg --objective mhe: MHE at its own defaults, not VICReg's ratio and variant; the preset's
    batch and learning rate stay; infonce (which has no variant) is accepted."""
    plain = parse_args(["--method", "simcse", "--objective", "mhe"])[1]
    _, method_args, _, training_args, _ = parse_args(["--method", "simcse", "--preset", "bert-mod-vicreg",
                                                      "--objective", "mhe"])
    assert method_args.objective == "mhe"
    for field in ("objective_kwargs", "objective_variant", "temperature"):  # as without the preset
        assert getattr(method_args, field) == getattr(plain, field), field
    assert training_args.per_device_train_batch_size == 128 and training_args.learning_rate == 1e-5
    _, method_args, _, _, _ = parse_args(["--method", "simcse", "--preset", "bert-mod-vicreg",
                                          "--objective", "infonce"])
    assert method_args.objective == "infonce"


def _train(tmp_path, backbone, *flags):
    from cli_runs import dev_dir

    from sentcse.trainers.cli.train import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the {a} {b} sat on the mat"
                                for a in "big small red blue".split() for b in "cat dog".split()))
    return main([
        "--backbone", str(backbone), "--train_file", str(corpus), "--dev_dir", str(dev_dir()),
        "--output_dir", str(tmp_path / "out"), "--per_device_train_batch_size", "4", "--max_steps", "1",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--report_to", "none",
        "--skip_raw_eval", "--max_length", "16", "--disable_tqdm", "true", "--logging_steps", "1",
        "--lr_scheduler_type", "constant", "--warmup_steps", "0", *flags,
    ])


def test_a_preset_trains_at_the_explicit_learning_rate(tmp_path, backbone):
    trainer = _train(tmp_path, backbone, "--method", "simcse", "--preset", "bert-mod-vicreg", "--learning_rate", "1e-6",
                     "--per_device_train_batch_size", "4")
    logged = [entry for entry in trainer.state.log_history if "learning_rate" in entry]
    assert logged and logged[0]["learning_rate"] == pytest.approx(1e-6)
    assert trainer.model.config.objective == "vicreg" and trainer.model.config.freeze_embeddings


def test_the_temperature_has_one_home(tmp_path, backbone, capsys):
    """--temperature is what trains and what config.json says, with a preset too; objective_kwargs may not set it;
    a config.json of an older sentcse that put it in objective_kwargs loads with that value (the one it trained at)."""
    from sentcse.modeling import SimCseConfig

    trainer = _train(tmp_path, backbone, "--method", "simcse", "--preset", "bert-mod-vicreg", "--temperature", "0.1",
                     "--per_device_train_batch_size", "4")
    assert trainer.loss.contrastive.temperature == 0.1 == trainer.model.config.temperature
    assert "temperature" not in trainer.model.config.objective_kwargs
    with pytest.raises(SystemExit) as stopped:
        _train(tmp_path, backbone, "--method", "simcse", "--objective_kwargs", "temperature: 0.2")
    assert stopped.value.code == 2 and "objective_kwargs must not set temperature" in capsys.readouterr().err
    old = SimCseConfig.from_dict({"objective": "vicreg", "objective_variant": "mod", "temperature": 0.1,
                                  "objective_kwargs": {"temperature": 0.05, "ratio": 1.5}})
    assert old.temperature == 0.05 and old.objective_kwargs == {"ratio": 1.5}


def test_objective_kwargs_errors_name_the_flag_and_the_valid_keys(tmp_path, backbone, capsys):
    for kwargs, expected in (("{margin: [", "--objective_kwargs is not a YAML/JSON mapping"),
                             ("{marg: 0.3}", "no hyperparameter 'marg'; valid: margin")):
        with pytest.raises(SystemExit) as stopped:
            _train(tmp_path, backbone, "--method", "simcse", "--objective", "mpt", "--objective_kwargs", kwargs)
        assert stopped.value.code == 2 and expected in capsys.readouterr().err
    trainer = _train(tmp_path, backbone, "--method", "simcse", "--objective", "mpt",
                     "--objective_kwargs", "margin: 0.3")
    assert trainer.loss.contrastive.margin == 0.3


def test_a_method_added_through_the_registry_trains_through_the_cli(tmp_path, backbone):
    """A method added as one package (tests/toy_method/: config, model, loss term, ``Method``) and one
    ``register_method`` call trains through sentcse-train, saves its own file beside the weights, and its card
    names that file."""
    from toy_method import STATS_FILE, TOY

    from sentcse.trainers.methods import METHODS, register_method

    register_method(TOY)
    try:
        trainer = _train(tmp_path, backbone, "--method", "toy-cse", "--norm_weight", "0.25")
        assert type(trainer.model).__name__ == "ToyModel" and trainer.model.config.norm_weight == 0.25
        logged = next(entry for entry in trainer.state.log_history if "loss" in entry)
        assert {"loss/infonce", "loss/norm"} <= set(logged)
        config = json.loads((tmp_path / "out" / "config.json").read_text())
        assert config["model_type"] == "toy-cse" and config["norm_weight"] == 0.25
        card = (tmp_path / "out" / "README.md").read_text()
        assert "ToyCSE" in card
        assert json.loads((tmp_path / "out" / STATS_FILE).read_text()) == {"sentences": 8}
        assert f"Saved beside the weights: `{STATS_FILE}`, the number of corpus sentences" in card
        assert "token_counts.json" not in card
    finally:
        METHODS.pop("toy-cse")
    assert torch.isfinite(torch.tensor(logged["loss"]))


def test_the_tests_mirror_the_source_tree():
    """Each test file sits in the folder of the source it tests (tests/modeling/ for modeling/, tests/trainers/sts/
    for trainers/sts/, ...); the top of tests/ holds only the shared helpers."""
    tests = REPO / "tests"
    files = sorted(tests.rglob("test_*.py"))
    assert files
    for path in files:
        source = REPO / path.parent.relative_to(tests)
        assert path.parent != tests, f"{path.name} belongs in the folder of the source it tests"
        assert (source / "__init__.py").is_file(), (
            f"{path.relative_to(REPO)}: no source package {source.relative_to(REPO)}")
