"""Runs never lose or mix a user's work, and bad input is met before the expensive part: one run per output
folder, resume only from this run's own checkpoints, incomplete checkpoints named, runs that would train nothing
refused, and every user error one line with exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentcse.trainers.cli.runs import RUN_FILE
from sentcse.trainers.cli.train import main
from cli_runs import SENTENCES, STSB, backbone, corpus, flags, user_error  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[3]


def test_a_folder_holding_a_run_is_refused_then_overwritten_on_request(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    main(flags(backbone, corpus, out))
    first = json.loads((out / RUN_FILE).read_text())["fingerprint"]
    assert "already holds a run" in user_error(capsys, flags(backbone, corpus, out, "--learning_rate", "1e-4"))
    assert (out / "model.safetensors").is_file()  # nothing was touched
    main(flags(backbone, corpus, out, "--learning_rate", "1e-4", "--overwrite_output_dir"))
    assert json.loads((out / RUN_FILE).read_text())["fingerprint"] != first
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]


def test_resume_picks_only_this_runs_checkpoints(tmp_path, backbone, corpus, capsys, caplog):
    out = tmp_path / "out"
    main(flags(backbone, corpus, out, "--save_total_limit", "3"))
    other = flags(backbone, corpus, out, "--max_steps", "2", "--resume_from_checkpoint", "last")
    message = user_error(capsys, other)
    assert "holds another run (other flags or data)" in message
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]  # none rotated away
    with caplog.at_level("INFO", logger="sentcse.train"):
        trainer = main(flags(backbone, corpus, out, "--save_total_limit", "3", "--resume_from_checkpoint", "last"))
    assert trainer.state.global_step == 4
    assert any("resuming from" in r.message and "checkpoint-4" in r.message for r in caplog.records)
    assert "does not exist" in user_error(capsys, flags(backbone, corpus, tmp_path / "nowhere", "--resume_from_checkpoint", "last"))


def test_an_incomplete_checkpoint_is_named_with_the_previous_one(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    main(flags(backbone, corpus, out, "--save_total_limit", "3"))
    weights = out / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    message = user_error(capsys, flags(backbone, corpus, out, "--save_total_limit", "3", "--resume_from_checkpoint", "last"))
    assert "checkpoint-4 is incomplete or corrupt (model.safetensors" in message
    assert "--resume_from_checkpoint " + str(out / "checkpoint-2") in message


@pytest.mark.parametrize("case, extra, expected", [
    ("one sentence", ["--max_train_samples", "1"], "fewer than one batch of 4"),
    ("no sample", ["--max_train_samples", "0"], "--max_train_samples must be >= 1, got 0"),
    ("zero steps", ["--max_steps", "-1", "--num_train_epochs", "0.1"], "make 0 optimizer steps"),
    ("temperature", ["--temperature", "0"], "temperature must be > 0, got 0.0"),
    ("objective", ["--objective", "simclr"], "unknown objective 'simclr'"),
    ("missing backbone", ["--backbone", "./no/such/folder"], "no folder"),
])
def test_degenerate_runs_and_bad_values_fail_before_training(tmp_path, backbone, corpus, capsys, case, extra, expected):
    out = tmp_path / "out"
    assert expected in user_error(capsys, flags(backbone, corpus, out, *extra))
    assert not out.exists()  # nothing was written


def test_a_traceback_only_when_asked(tmp_path, backbone, corpus):
    script = "from sentcse.trainers.cli.train import main; import sys; main(sys.argv[1:])"
    argv = flags(backbone, corpus, tmp_path / "out", "--temperature", "0")
    plain = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    shown = subprocess.run([sys.executable, "-c", script, *argv, "--traceback"], capture_output=True, text=True, timeout=120)
    assert shown.returncode != 0 and "Traceback" in shown.stderr


def test_push_to_hub_is_checked_before_training(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    message = user_error(capsys, flags(backbone, corpus, out, "--push_to_hub", "--hub_model_id", "me/model"))
    assert "offline mode is on" in message  # tests run with HF_HUB_OFFLINE=1
    assert not out.exists()


def test_input_files_fail_in_one_line(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    folder = tmp_path / "sentences"
    folder.mkdir()
    assert "is a folder; pass a .txt or .gz file" in user_error(capsys, flags(backbone, corpus, out, "--train_file", str(folder)))
    fake = tmp_path / "plain.gz"
    fake.write_text("not compressed\n")
    assert "is not gzip-compressed" in user_error(capsys, flags(backbone, corpus, out, "--train_file", str(fake)))
    assert "leaves no content token" in user_error(capsys, flags(backbone, corpus, out, "--max_length", "2"))
    config = tmp_path / "run.yaml"
    config.write_text("method: simcse\nbackbone: [unclosed\n")
    assert "run.yaml is not valid YAML/JSON" in user_error(capsys, [str(config)])
    assert not out.exists()


def test_the_trainers_dev_score_is_the_evaluators(tmp_path, backbone, corpus):
    """Model selection scores every STS-B dev pair, read as encode() reads it (no training-length cut)."""
    from sentcse.trainers.sts import DEV_TASK, StsEvaluator

    bundled = REPO / "examples" / "data" / "bert-mini-wiki-mlm50m"  # a real backbone: a random one ties its cosines
    trainer = main(flags(bundled, corpus, tmp_path / "out", "--max_length", "8", "--per_device_eval_batch_size", "7",
                         "--max_steps", "1", "--save_strategy", "no"))
    metrics = trainer.evaluate()
    expected = StsEvaluator(sts_dir=STSB, tasks=[DEV_TASK]).evaluate_task(trainer.model, DEV_TASK)
    assert metrics["eval_stsb_spearman"] == pytest.approx(expected.spearman, abs=1e-3)


def test_a_flag_at_its_default_is_the_same_run(tmp_path, backbone, corpus):
    out = tmp_path / "out"
    main(flags(backbone, corpus, out))
    trainer = main(flags(backbone, corpus, out, "--temperature", "0.05", "--resume_from_checkpoint", "last"))
    assert trainer.state.global_step == 4


def test_overwrite_keeps_files_that_are_not_the_runs(tmp_path, backbone, corpus):
    out = tmp_path / "out"
    main(flags(backbone, corpus, out))
    (out / "notes.txt").write_text("mine")
    main(flags(backbone, corpus, out, "--overwrite_output_dir"))
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.safetensors").is_file()


def launch_two_processes(tmp_path, argv, port: int):
    """``sentcse-train argv`` under ``accelerate launch`` with 2 CPU processes (gloo); the finished process."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
              "-m", "sentcse.trainers.cli.train", *argv]
    return subprocess.run(launch, capture_output=True, text=True, timeout=240, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_a_two_process_run_trains_evaluates_and_exits(tmp_path, backbone, corpus):
    """Under ``accelerate launch`` (2 processes, gloo): STS-B dev is scored on every evaluation, the folder is
    written, and both processes exit (gloo's teardown once hung a run at exit)."""
    out = tmp_path / "out"
    argv = flags(backbone, corpus, out, "--method", "recse", "--eval_strategy", "steps", "--eval_steps", "2",
                 "--load_best_model_at_end", "true", "--use_cpu", "true", "--logging_steps", "2")
    done = launch_two_processes(tmp_path, argv, 29547)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "eval_stsb_spearman" in e] == [2, 4]
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()


def test_the_installed_commands_exit_0_after_success_and_2_on_bad_input(tmp_path, backbone, corpus):
    """``sentcse-train`` and ``sentcse-evaluate`` as installed (the console scripts beside this interpreter)."""
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts") if e.name.startswith("sentcse-")}
    assert scripts == {"sentcse-train": "sentcse.trainers.cli.train:cli",
                       "sentcse-evaluate": "sentcse.trainers.cli.evaluate:cli"}, "reinstall sentcse (pip install -e .)"
    bin_dir, out = Path(sys.executable).parent, tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = subprocess.run([str(bin_dir / "sentcse-train"), *flags(backbone, corpus, out, "--max_steps", "2")],
                           capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    assert train.returncode == 0 and "object at 0x" not in train.stdout + train.stderr, train.stderr[-2000:]
    evaluate = subprocess.run([str(bin_dir / "sentcse-evaluate"), str(out), "--sts_dir", str(STSB), "--tasks", "stsb-dev"],
                              capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    assert evaluate.returncode == 0 and "StsResults(" not in evaluate.stdout + evaluate.stderr, evaluate.stderr[-2000:]
    bad = subprocess.run([str(bin_dir / "sentcse-train"), *flags(backbone, corpus, tmp_path / "bad", "--temperature", "0")],
                         capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-2000:]


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_model(tmp_path, backbone, corpus, capsys):
    """/sys is a read-only filesystem even for root: a folder there fails before the backbone is loaded."""
    error = user_error(capsys, flags(backbone, corpus, "/sys/sentcse-test-output"))
    assert "--output_dir /sys/sentcse-test-output cannot be written" in error


@pytest.mark.parametrize("extra, expected", [
    (["--learning_rate", "nan"], "--learning_rate must be a finite number > 0, got nan"),
    (["--learning_rate", "-1"], "--learning_rate must be a finite number > 0, got -1.0"),
    (["--per_device_train_batch_size", "1"], "--per_device_train_batch_size x processes must be >= 2"),
    (["--max_steps", "0"], "--max_steps must be >= 1"),
    (["--max_steps", "two"], "argument --max_steps/--max-steps: invalid int value: 'two'"),
    (["--objective", "arccon", "--objective_kwargs", "{margin_degrees: big}"], "margin_degrees must be a number, got 'big'"),
])
def test_bad_values_are_one_line_before_any_model(tmp_path, backbone, corpus, capsys, extra, expected):
    out = tmp_path / "out"
    assert expected in user_error(capsys, flags(backbone, corpus, out, *extra))
    assert not out.exists()


def test_a_config_file_is_typed_as_the_command_line(tmp_path, backbone, corpus, capsys):
    """YAML reads 3e-5 as a string: a file's values go through the flags' own types and checks."""
    import yaml

    out = tmp_path / "out"
    values = {"method": "simcse", "backbone": str(backbone), "train_file": str(corpus), "dev_dir": str(STSB),
              "output_dir": str(out), "per_device_train_batch_size": 4, "max_steps": 4, "eval_strategy": "no",
              "load_best_model_at_end": False, "report_to": "none", "skip_raw_eval": True, "max_length": 16,
              "disable_tqdm": True, "learning_rate": "3e-5", "objective_kwargs": {}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(values))
    trainer = main([str(config)])
    assert trainer.args.learning_rate == 3e-5 and trainer.args.max_steps == 4 and trainer.state.global_step == 4
    for key, value, expected in (("max_steps", "two", "run.yaml: argument --max_steps/--max-steps: invalid int value"),
                                 ("per_device_train_batch_size", [8, 16], "run.yaml: per_device_train_batch_size takes "
                                                                          "one value, got the list [8, 16]"),
                                 ("objective_kwargs", [1, 2], "run.yaml: objective_kwargs takes one value"),
                                 ("no_such_flag", 1, "run.yaml: --method simcse has no flag --no_such_flag")):
        config.write_text(yaml.safe_dump({**values, "output_dir": str(tmp_path / "other"), key: value}))
        assert expected in user_error(capsys, [str(config)])


def test_a_users_own_files_are_never_overwritten_or_deleted(tmp_path, backbone, corpus, capsys):
    """A folder holding only the user's README.md / config_sentence_transformers.json is refused (a run writes
    both); --overwrite_output_dir deletes what the earlier run wrote, never a file the user put there, before the
    run or after it, and refuses where the user's file has a name the run writes."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("my notes")
    (out / "config_sentence_transformers.json").write_text("{}")
    error = user_error(capsys, flags(backbone, corpus, out))
    assert "holds files that are not a run's (README.md, config_sentence_transformers.json)" in error
    assert (out / "README.md").read_text() == "my notes" and sorted(p.name for p in out.iterdir()) == [
        "README.md", "config_sentence_transformers.json"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("before")
    main(flags(backbone, corpus, other))
    (other / "eval_notes.json").write_text("after")  # added by the user once the run had finished
    main(flags(backbone, corpus, other, "--overwrite_output_dir", "true", "--seed", "3"))
    assert (other / "notes.txt").read_text() == "before" and (other / "eval_notes.json").read_text() == "after"
    assert json.loads((other / "sentcse_run.json").read_text())["run"]["training"]["seed"] == 3
    (other / "vocab.txt").write_text("mine")  # a name a run writes
    error = user_error(capsys, flags(backbone, corpus, other, "--overwrite_output_dir", "true"))
    assert "holds files that are not a run's (vocab.txt)" in error and (other / "vocab.txt").read_text() == "mine"
    assert (other / "model.safetensors").is_file()  # refused before deleting anything


def test_the_readme_launcher_keeps_the_scripts_exit_status(tmp_path):
    """scripts/launch.sh (what scripts/train.sh runs): accelerate launch exits 1 on any failure of the script; the
    launcher exits with the script's own status 2 on bad input, with the one line and no traceback."""
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(REPO / "scripts" / "launch.sh"), "--temperature", "0", "--output_dir",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "sentcse-train: error: --method sarcse: temperature must be > 0, got 0.0" in done.stderr
    assert "Traceback" not in done.stderr and "CalledProcessError" not in done.stderr


def test_a_resume_with_anything_that_shapes_training_changed_is_another_run(tmp_path, backbone, corpus, capsys):
    """Every TrainingArguments field is part of the run but the cosmetic ones (logging, saving, evaluation,
    uploads): another --data_seed (or max_grad_norm, Adam's betas, bf16, ...) is refused on resume, another
    --logging_steps resumes; a checkpoint fingerprinted by an earlier sentcse (fewer fields) still resumes."""
    from sentcse.trainers.cli import runs

    out = tmp_path / "out"
    main(flags(backbone, corpus, out, "--max_steps", "2"))
    for extra in (["--data_seed", "5"], ["--max_grad_norm", "0.5"], ["--adam_beta2", "0.99"]):
        error = user_error(capsys, flags(backbone, corpus, out, "--max_steps", "2", "--resume_from_checkpoint", "last",
                                         *extra))
        assert "holds another run (other flags or data)" in error, (extra, error)
    trainer = main(flags(backbone, corpus, out, "--max_steps", "2", "--resume_from_checkpoint", "last",
                         "--logging_steps", "7"))
    assert trainer.state.global_step == 2
    record = json.loads((out / "checkpoint-2" / RUN_FILE).read_text())
    legacy = {**record["run"], "training": {k: record["run"]["training"][k] for k in runs.LEGACY_TRAINING_FIELDS}}
    assert runs.fingerprint(legacy) in runs.accepted_fingerprints(record["run"])


def test_a_streamed_corpus_of_short_sentences_trains_on_two_processes(tmp_path, backbone):
    """accelerate reads a streamed (iterable) corpus on process 0 and concatenates the processes' batches: those
    of sentences of different lengths must still fit (they are padded to --max_length)."""
    corpus = tmp_path / "short.txt"
    corpus.write_text("".join(f"{'the big ' * (i % 5)}cat {i}\n" for i in range(64)))
    out = tmp_path / "out"
    argv = flags(backbone, corpus, out, "--streaming", "true", "--max_length", "64", "--use_cpu", "true",
                 "--max_steps", "3", "--save_steps", "3")
    done = launch_two_processes(tmp_path, argv, 29549)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3
