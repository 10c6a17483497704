"""Runs never lose or mix a user's work, and bad input is met before the expensive part: one run per output
folder, resume only from this run's own checkpoints, incomplete checkpoints named, runs that would train nothing
refused, and every user error one line with exit status 2."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_runs import STSB, dev_dir, during_training, flags, user_error

from sentcse.trainers.cards.files import RUN_FILE
from sentcse.trainers.cli.train import main

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
    nowhere = flags(backbone, corpus, tmp_path / "nowhere", "--resume_from_checkpoint", "last")
    assert "does not exist" in user_error(capsys, nowhere)


def test_an_incomplete_checkpoint_is_named_with_the_previous_one(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    main(flags(backbone, corpus, out, "--save_total_limit", "3"))
    weights = out / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    message = user_error(capsys, flags(backbone, corpus, out, "--save_total_limit", "3",
                                       "--resume_from_checkpoint", "last"))
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


def test_a_traceback_only_when_asked(tmp_path, backbone, corpus, capsys, monkeypatch):
    """A user error is one line and status 2 (as a command: test_the_installed_commands_exit_0_after_success_and_2_
    on_bad_input); with --traceback or SENTCSE_TRACEBACK=1 the error itself leaves ``main``, so the interpreter
    prints its traceback and exits 1."""
    from sentcse.trainers.cli.arguments import UsageError

    argv = flags(backbone, corpus, tmp_path / "out", "--temperature", "0")
    assert "temperature must be > 0, got 0.0" in user_error(capsys, argv)
    with pytest.raises(UsageError, match="temperature must be > 0, got 0.0"):
        main([*argv, "--traceback"])
    monkeypatch.setenv("SENTCSE_TRACEBACK", "1")
    with pytest.raises(UsageError, match="temperature must be > 0, got 0.0"):
        main(argv)
    assert "error:" not in capsys.readouterr().err  # the traceback instead of the one line


def test_push_to_hub_is_checked_before_training(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    message = user_error(capsys, flags(backbone, corpus, out, "--push_to_hub", "--hub_model_id", "me/model"))
    assert "offline mode is on" in message  # tests run with HF_HUB_OFFLINE=1
    assert not out.exists()


def test_input_files_fail_in_one_line(tmp_path, backbone, corpus, capsys):
    out = tmp_path / "out"
    folder = tmp_path / "sentences"
    folder.mkdir()
    assert "is a folder; pass a .txt or .gz file" in user_error(capsys, flags(backbone, corpus, out,
                                                                              "--train_file", str(folder)))
    fake = tmp_path / "plain.gz"
    fake.write_text("not compressed\n")
    assert "is not gzip-compressed" in user_error(capsys, flags(backbone, corpus, out, "--train_file", str(fake)))
    assert "leaves no content token" in user_error(capsys, flags(backbone, corpus, out, "--max_length", "2"))
    config = tmp_path / "run.yaml"
    config.write_text("method: simcse\nbackbone: [unclosed\n")
    assert "run.yaml is not valid YAML/JSON" in user_error(capsys, [str(config)])
    assert not out.exists()


def test_the_trainers_dev_score_is_the_evaluators(tmp_path, backbone, corpus):
    """Model selection scores every pair of --dev_dir (150 of STS-B dev here, cli_runs.dev_dir), read as encode()
    reads it (no training-length cut)."""
    from sentcse.trainers.sts import DEV_TASK, StsEvaluator

    bundled = REPO / "examples" / "data" / "bert-mini-wiki-mlm50m"  # a real backbone: a random one ties its cosines
    trainer = main(flags(bundled, corpus, tmp_path / "out", "--max_length", "8", "--per_device_eval_batch_size", "7",
                         "--max_steps", "1", "--save_strategy", "no"))
    metrics = trainer.state.log_history[-1]  # the final trainer.evaluate() of the run, on the saved weights
    assert "eval_stsb_spearman" in metrics and metrics["step"] == 1, trainer.state.log_history
    expected = StsEvaluator(sts_dir=dev_dir(), tasks=[DEV_TASK]).evaluate_task(trainer.model, DEV_TASK)
    assert expected.n_pairs == 150
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


def test_a_two_process_run_trains_evaluates_and_exits(two_process_launch):
    """Under ``accelerate launch`` (2 processes, gloo; job "evaluated" of the session's shared launch, the last,
    tests/conftest.py): STS-B dev is scored on every evaluation, the folder is written, and both processes exit as
    the command ends them (gloo's teardown once hung a run at exit)."""
    launch = two_process_launch
    out = launch.folder / "evaluated"
    assert launch.ok(), launch.output[-3000:]
    assert [launch.outcome("evaluated", rank)["exit"] for rank in (0, 1)] == [0, 0]
    state = json.loads((out / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "eval_stsb_spearman" in e] == [2, 4]
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()


def test_the_installed_commands_exit_0_after_success_and_2_on_bad_input(tmp_path, backbone, corpus):
    """``sentcse-train`` and ``sentcse-evaluate`` as installed (the console scripts beside this interpreter)."""
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts") if e.name.startswith("sentcse-")}
    assert scripts == {"sentcse-train": "sentcse.trainers.cli.train:cli",
                       "sentcse-evaluate": "sentcse.trainers.cli.evaluate:cli",
                       "sentcse-export": "sentcse.trainers.cli.export:cli"}, "reinstall sentcse (pip install -e .)"
    bin_dir, out = Path(sys.executable).parent, tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = subprocess.run([str(bin_dir / "sentcse-train"), *flags(backbone, corpus, out, "--max_steps", "2")],
                           capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    assert train.returncode == 0 and "object at 0x" not in train.stdout + train.stderr, train.stderr[-2000:]
    evaluate = subprocess.run([str(bin_dir / "sentcse-evaluate"), str(out), "--sts_dir", str(dev_dir()),
                               "--tasks", "stsb-dev"],
                              capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    assert evaluate.returncode == 0 and "StsResults(" not in evaluate.stdout + evaluate.stderr, evaluate.stderr[-2000:]
    bad = subprocess.run([str(bin_dir / "sentcse-train"),
                          *flags(backbone, corpus, tmp_path / "bad", "--temperature", "0")],
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
    (["--objective", "arccon", "--objective_kwargs", "{margin_degrees: big}"],
     "margin_degrees must be a number, got 'big'"),
])
def test_bad_values_are_one_line_before_any_model(tmp_path, backbone, corpus, capsys, extra, expected):
    out = tmp_path / "out"
    assert expected in user_error(capsys, flags(backbone, corpus, out, *extra))
    assert not out.exists()


def test_a_config_file_is_typed_as_the_command_line(tmp_path, backbone, corpus, capsys):
    """YAML reads 3e-5 as a string: a file's values go through the flags' own types and checks."""
    import yaml

    out = tmp_path / "out"
    values = {"method": "simcse", "backbone": str(backbone), "train_file": str(corpus), "dev_dir": str(dev_dir()),
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


def test_the_readme_launcher_keeps_the_scripts_exit_status(launcher_on_a_nul_corpus):
    """scripts/launch.sh (what scripts/train.sh runs): accelerate launch exits 1 on any failure of the script; the
    launcher exits with the script's own status 2 on bad input (a NUL-filled corpus: the session's shared run in
    tests/conftest.py), with the one line and no traceback."""
    folder, done, _ = launcher_on_a_nul_corpus
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert f"sentcse-train: error: corpus: {folder / 'corpus.txt'}: not text" in done.stderr
    assert "Traceback" not in done.stderr and "CalledProcessError" not in done.stderr


def test_a_resume_with_anything_that_shapes_training_changed_is_another_run(tmp_path, backbone, corpus, capsys):
    """Every TrainingArguments field is part of the run but the cosmetic ones (logging, saving, evaluation,
    uploads): another --data_seed (or max_grad_norm, Adam's betas, bf16, ...) is refused on resume, another
    --logging_steps resumes; a checkpoint fingerprinted by an earlier sentcse (fewer fields) still resumes."""
    from sentcse.trainers.cli import identity

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
    legacy = {**record["run"], "training": {k: record["run"]["training"][k] for k in identity.LEGACY_TRAINING_FIELDS}}
    assert identity.fingerprint(legacy) in identity.accepted_fingerprints(record["run"])


def test_a_streamed_corpus_of_short_sentences_trains_on_two_processes(two_process_launch):
    """accelerate reads a streamed (iterable) corpus on process 0 and concatenates the processes' batches: those
    of sentences of different lengths must still fit (they are padded to --max_length). Job "streamed" of the
    session's shared launch (tests/conftest.py)."""
    launch = two_process_launch
    state = launch.folder / "streamed" / "trainer_state.json"
    assert state.is_file(), launch.output[-3000:]
    assert json.loads(state.read_text())["global_step"] == 3
    assert [launch.outcome("streamed", rank)["exit"] for rank in (0, 1)] == [0, 0]


# ------------------------------------------------------------------ the output folder is the user's unless the run's
def contents(folder: Path) -> dict:
    """Every file under ``folder`` (links not followed) with its bytes, every link with its target."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(folder))] = ("link", os.readlink(path))
        elif path.is_file():
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


def test_files_added_during_a_run_stay_the_users(tmp_path, backbone, corpus, capsys, monkeypatch):
    """A file and a folder the user adds while the run trains are not the run's: a later --overwrite_output_dir
    keeps them. A file with a name the run writes (README.md) added during training stops the run before the final
    save, in one line naming it and the checkpoint to continue from; it is untouched, and the run continues once
    it is moved."""
    out = tmp_path / "out"

    def add():
        (out / "notes.txt").write_text("mine")
        (out / "plots").mkdir()
        (out / "plots" / "a.png").write_bytes(b"png")

    during_training(monkeypatch, 1, add)
    main(flags(backbone, corpus, out))
    files = json.loads((out / RUN_FILE).read_text())["files"]
    assert "notes.txt" not in files and "plots" not in files and {"model.safetensors", "README.md"} <= set(files)
    monkeypatch.undo()
    main(flags(backbone, corpus, out, "--overwrite_output_dir", "--seed", "3"))
    assert (out / "notes.txt").read_text() == "mine" and (out / "plots" / "a.png").read_bytes() == b"png"

    other = tmp_path / "other"
    during_training(monkeypatch, 3, lambda: (other / "README.md").write_text("my readme"))
    error = user_error(capsys, flags(backbone, corpus, other))
    assert error == (f"sentcse-train: error: output folder {other} holds files that are not a run's (README.md) and "
                     "that a run writes: move them; kept checkpoint-4 (step 4): run the same command with "
                     "--resume_from_checkpoint last to continue")
    assert (other / "README.md").read_text() == "my readme" and not (other / "model.safetensors").exists()
    monkeypatch.undo()
    (other / "README.md").rename(tmp_path / "my-readme.md")
    assert main(flags(backbone, corpus, other, "--resume_from_checkpoint", "last")).state.global_step == 4
    assert (other / "model.safetensors").is_file() and (tmp_path / "my-readme.md").read_text() == "my readme"


def test_ctrl_c_says_what_was_kept_and_a_resume_rescans_the_folder(tmp_path, backbone, corpus, capsys, monkeypatch):
    """Ctrl-C: one line with the checkpoint kept and the flag that continues, status 130, no traceback. Between
    the interruption and --resume_from_checkpoint last, the user's new README.md refuses the resume (untouched)
    and a notes.txt stays the user's through the resumed run and a later --overwrite_output_dir."""
    out = tmp_path / "out"

    def interrupt():
        raise KeyboardInterrupt

    during_training(monkeypatch, 3, interrupt)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(flags(backbone, corpus, out))
    err = capsys.readouterr().err
    assert stopped.value.code == 130 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == ("sentcse-train: interrupted at step 3: kept checkpoint-2 (step 2): run the "
                                            "same command with --resume_from_checkpoint last to continue")
    monkeypatch.undo()
    (out / "notes.txt").write_text("mine")
    (out / "README.md").write_text("my readme")
    resume = flags(backbone, corpus, out, "--resume_from_checkpoint", "last")
    assert "holds files that are not a run's (README.md) and that a run writes" in user_error(capsys, resume)
    assert (out / "README.md").read_text() == "my readme"
    (out / "README.md").rename(tmp_path / "my-readme.md")
    assert main(resume).state.global_step == 4
    assert "notes.txt" not in json.loads((out / RUN_FILE).read_text())["files"]
    main(flags(backbone, corpus, out, "--overwrite_output_dir", "--seed", "3"))
    assert (out / "notes.txt").read_text() == "mine"


def test_a_resume_into_another_folder_checks_it_as_a_fresh_run_does(tmp_path, backbone, corpus, capsys):
    """--resume_from_checkpoint FIRST/checkpoint-2 --output_dir OTHER: OTHER's README.md (the user's) refuses the
    run before anything is written; its notes.txt is never recorded as the run's, so an overwrite keeps it."""
    first, other = tmp_path / "first", tmp_path / "other"
    main(flags(backbone, corpus, first, "--save_total_limit", "3"))
    other.mkdir()
    (other / "README.md").write_text("my readme")
    (other / "notes.txt").write_text("mine")
    argv = flags(backbone, corpus, other, "--resume_from_checkpoint", str(first / "checkpoint-2"))
    assert "holds files that are not a run's (README.md) and that a run writes" in user_error(capsys, argv)
    assert contents(other) == {"README.md": b"my readme", "notes.txt": b"mine"}
    (other / "README.md").rename(tmp_path / "my-readme.md")
    assert main(argv).state.global_step == 4
    files = json.loads((other / RUN_FILE).read_text())["files"]
    assert "notes.txt" not in files and "model.safetensors" in files
    main(flags(backbone, corpus, other, "--overwrite_output_dir", "--seed", "3"))
    assert (other / "notes.txt").read_text() == "mine"


def test_a_folder_without_a_record_is_the_users(tmp_path, backbone, corpus, capsys):
    """A folder holding a model's files and a checkpoint-3/ of the user's, but no run record: refused, with or
    without --overwrite_output_dir, naming the files; nothing in it is touched."""
    out = tmp_path / "out"
    (out / "checkpoint-3").mkdir(parents=True)
    (out / "checkpoint-3" / "model.safetensors").write_bytes(b"my weights")
    for name in ("config.json", "README.md", "vocab.txt", "inputs.py", "notes.txt"):
        (out / name).write_text(f"my {name}")
    before = contents(out)
    for extra in ([], ["--overwrite_output_dir"]):
        error = user_error(capsys, flags(backbone, corpus, out, *extra))
        assert ("holds files that are not a run's (README.md, checkpoint-3, config.json, inputs.py, vocab.txt) and "
                "that a run writes: move them, or choose another --output_dir") in error, extra
        assert contents(out) == before


def test_links_and_hand_edited_records_cost_the_user_nothing(tmp_path, backbone, corpus, capsys):
    """A link named checkpoint-9 in a run's folder is no checkpoint of the run's: --overwrite_output_dir refuses
    (its target untouched). Files of the run replaced by links to the user's files are unlinked, never followed.
    A hand-edited record (files not a list of names, a path out of the folder, not JSON) is refused in one line,
    before anything is deleted."""
    out, mine = tmp_path / "out", tmp_path / "mine"
    main(flags(backbone, corpus, out))
    mine.mkdir()
    (mine / "data.txt").write_text("keep")
    (out / "checkpoint-9").symlink_to(mine, target_is_directory=True)
    before = contents(out)
    error = user_error(capsys, flags(backbone, corpus, out, "--overwrite_output_dir"))
    assert "holds files that are not a run's (checkpoint-9 (a link)) and that a run writes" in error
    assert contents(out) == before and (mine / "data.txt").read_text() == "keep"

    (out / "checkpoint-9").unlink()
    card = tmp_path / "card.md"
    card.write_text("keep")
    (out / "README.md").unlink()
    (out / "README.md").symlink_to(card)  # listed names of the run, now links to the user's
    shutil.rmtree(out / "checkpoint-4")
    (out / "checkpoint-4").symlink_to(mine, target_is_directory=True)
    main(flags(backbone, corpus, out, "--overwrite_output_dir", "--seed", "3"))
    assert card.read_text() == "keep" and (mine / "data.txt").read_text() == "keep"
    assert not (out / "README.md").is_symlink() and not (out / "checkpoint-4").is_symlink()

    record = json.loads((out / RUN_FILE).read_text())
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    for text, problem in ((json.dumps({**record, "files": "README.md"}), "its files are not a list of names"),
                          (json.dumps({**record, "files": ["../outside.txt"]}), "its files are not a list of names"),
                          (json.dumps({**record, "files": [1]}), "its files are not a list of names"),
                          (json.dumps({"files": []}), "no fingerprint"),
                          ("{not json", "not JSON")):
        (out / RUN_FILE).write_text(text)
        before = contents(out)
        error = user_error(capsys, flags(backbone, corpus, out, "--overwrite_output_dir"))
        assert f"output folder {out}: {RUN_FILE} is no run record ({problem}" in error
        assert contents(out) == before and outside.read_text() == "keep"


def test_what_a_resume_may_change(tmp_path, backbone, corpus, capsys):
    """Gradient checkpointing recomputes the same numbers: a run trains the same weights with it, and a resume
    may switch it on. Persistent loader workers order the data otherwise (the sampler's order): another run. A
    checkpoint without optimizer or random-generator state (--save_only_model) does not resume."""
    from safetensors.torch import load_file

    out, again = tmp_path / "out", tmp_path / "again"
    main(flags(backbone, corpus, out, "--save_total_limit", "3"))
    plain = load_file(out / "model.safetensors")
    main(flags(backbone, corpus, again, "--gradient_checkpointing", "true"))
    checkpointed = load_file(again / "model.safetensors")
    assert all(torch.equal(plain[name], checkpointed[name]) for name in plain)
    resumed = main(flags(backbone, corpus, out, "--save_total_limit", "3", "--gradient_checkpointing", "true",
                         "--resume_from_checkpoint", str(out / "checkpoint-2")))
    assert resumed.state.global_step == 4
    final = load_file(out / "model.safetensors")
    assert all(torch.equal(plain[name], final[name]) for name in plain)

    workers = ["--dataloader_num_workers", "1", "--dataloader_persistent_workers", "true"]
    error = user_error(capsys, flags(backbone, corpus, out, "--resume_from_checkpoint", "last", *workers))
    assert "holds another run (other flags or data)" in error

    only = tmp_path / "only"
    main(flags(backbone, corpus, only, "--save_only_model", "true"))
    error = user_error(capsys, flags(backbone, corpus, only, "--save_only_model", "true", "--resume_from_checkpoint",
                                     "last"))
    assert "checkpoint-4 holds no optimizer or random generator state (saved with --save_only_model)" in error


def test_a_checkpoint_fingerprinted_with_gradient_checkpointing_still_resumes(tmp_path, backbone, corpus):
    """Earlier sentcse versions fingerprinted gradient_checkpointing with the run: their checkpoints resume."""
    from sentcse.trainers.cli import identity

    out = tmp_path / "out"
    main(flags(backbone, corpus, out))
    record = json.loads((out / "checkpoint-4" / RUN_FILE).read_text())
    switched = {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": None,
                "activation_checkpointing": True, "activation_checkpointing_kwargs": None}
    earlier = {**record["run"], "training": {**record["run"]["training"], **switched}}
    assert not set(switched) & set(record["run"]["training"])
    assert identity.fingerprint(earlier) in identity.accepted_fingerprints(record["run"])


def test_a_streamed_runs_last_checkpoint_resumes(tmp_path, backbone):
    """The Trainer counts a stream of unknown length as one epoch of max_steps: the last checkpoint is at epoch 1.0
    exactly, before the stream wrapped (40 sentences, batch 4, 8 steps)."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"the cat number {i}\n" for i in range(40)))
    out = tmp_path / "out"
    argv = flags(backbone, corpus, out, "--streaming", "true", "--max_steps", "8", "--save_steps", "4")
    main(argv)
    assert json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())["epoch"] == 1.0
    assert main([*argv, "--resume_from_checkpoint", "last"]).state.global_step == 8


def test_a_config_file_then_flags(tmp_path, backbone, corpus, capsys):
    """``run.yaml --seed 43``: the flags after the file win over its values (as over a preset's); an error names
    the file only when the value is the file's."""
    import yaml

    values = {"method": "simcse", "backbone": str(backbone), "train_file": str(corpus), "dev_dir": str(dev_dir()),
              "output_dir": str(tmp_path / "out"), "per_device_train_batch_size": 4, "max_steps": 4, "seed": 42,
              "eval_strategy": "no", "load_best_model_at_end": False, "report_to": "none", "skip_raw_eval": True,
              "max_length": 16, "disable_tqdm": True, "learning_rate": "3e-5"}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(values))
    trainer = main([str(config), "--seed", "43", "--max-steps", "2", "--temperature", "0.1"])
    assert (trainer.args.seed, trainer.args.max_steps, trainer.state.global_step) == (43, 2, 2)
    assert trainer.args.learning_rate == 3e-5 and trainer.model.config.temperature == 0.1
    other = ["--output_dir", str(tmp_path / "other")]
    assert user_error(capsys, [str(config), *other, "--max_steps", "two"]) == (
        "sentcse-train: error: argument --max_steps/--max-steps: invalid int value: 'two'")
    assert user_error(capsys, [str(config), *other, "--no_such_flag", "1"]) == (
        "sentcse-train: error: --method simcse has no flag --no_such_flag; see --method simcse --help")
    config.write_text(yaml.safe_dump({**values, "max_steps": "two"}))
    assert user_error(capsys, [str(config), *other, "--seed", "43"]) == (
        f"sentcse-train: error: {config}: argument --max_steps/--max-steps: invalid int value: 'two'")
    assert main([str(config), *other, "--max_steps", "1"]).state.global_step == 1  # the flag replaces it


def test_a_disk_that_fills_during_a_save_says_what_was_kept(tmp_path, backbone, corpus, capsys, monkeypatch):
    """safetensors' own error for a full disk, at checkpoint-4's weights: one line naming the checkpoint kept and
    the flag that continues, exit status 1, no traceback; the run then continues from there."""
    from safetensors import SafetensorError
    from transformers import modeling_utils

    out = tmp_path / "out"
    saved = []

    def save_file(tensors, filename, metadata=None):
        saved.append(filename)
        if "checkpoint-4" not in str(filename):
            return real(tensors, filename, metadata=metadata)
        Path(filename).write_bytes(b"\0" * 100)  # what fitted
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                              '"No space left on device" })')

    real = modeling_utils.safe_save_file
    monkeypatch.setattr(modeling_utils, "safe_save_file", save_file)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(flags(backbone, corpus, out))
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        f"sentcse-train: error: no space left on the disk of {out} during a save: kept checkpoint-2 (step 2): free "
        "space, then run the same command with --resume_from_checkpoint last to continue")
    monkeypatch.undo()
    assert main(flags(backbone, corpus, out, "--resume_from_checkpoint", "last")).state.global_step == 4


def test_evaluate_names_a_broken_folder_in_one_line(tmp_path, capsys):
    """sentcse-evaluate on a folder with cut-short weights (safetensors or PyTorch) or a config.json that is no
    JSON object: one line, status 2. AutoModel on a hand-edited config.json names the field in its first line."""
    from tiny import tiny_model, tiny_tokenizer
    from transformers import AutoModel

    from sentcse.modeling import SimCseModel
    from sentcse.trainers.cli.evaluate import main as evaluate

    saved = tmp_path / "model"
    tiny_model(SimCseModel, tiny_tokenizer()).save_pretrained(saved)
    tiny_tokenizer().save_pretrained(saved)

    def broken(name, edit):
        folder = tmp_path / name
        shutil.copytree(saved, folder)
        edit(folder)
        return folder

    def cut(path):
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 9 // 10])

    def as_bin(folder):
        (folder / "model.safetensors").unlink()
        torch.save({"weight": torch.zeros(64, 64)}, folder / "pytorch_model.bin")
        cut(folder / "pytorch_model.bin")

    cases = {
        "safetensors": (lambda f: cut(f / "model.safetensors"), "model.safetensors: "),
        "bin": (as_bin, "pytorch_model.bin: not a complete PyTorch archive"),
        "json": (lambda f: (f / "config.json").write_text('{"model_type": "simcse", '),
                 "config.json is not valid JSON"),
        "list": (lambda f: (f / "config.json").write_text("[]"), "config.json holds no JSON object"),
    }
    for name, (edit, expected) in cases.items():
        folder = broken(name, edit)
        for extra in ([], ["--write_card"]):
            capsys.readouterr()
            with pytest.raises(SystemExit) as stopped:
                evaluate([str(folder), "--sts_dir", str(STSB), "--tasks", "stsb-dev", *extra])
            err = capsys.readouterr().err
            assert stopped.value.code == 2 and "Traceback" not in err, (name, err[-2000:])
            assert err.strip().splitlines()[-1].startswith(f"sentcse-evaluate: error: cannot load '{folder}': "
                                                           f"{expected}"), (name, err)

    edited = broken("temperature", lambda f: (f / "config.json").write_text(
        json.dumps({**json.loads((f / "config.json").read_text()), "temperature": 0})))
    with pytest.raises(ValueError) as refused:
        AutoModel.from_pretrained(str(edited), trust_remote_code=True)
    assert str(refused.value).splitlines()[0].startswith("temperature must be > 0, got 0 (a value of this simcse "
                                                         "config.json")
