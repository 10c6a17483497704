"""Degenerate input met as a new user meets it: a NUL-filled corpus, a sentence column of numbers, dev scores that
are all equal, loss weights that train nothing, a length SARCSE cannot rebuild, an STS folder without the tasks.
Each is one line and exit status 2 from the command, before any model loads (a partial STS folder is scored for
what it has, and said so before training)."""

import logging

import pytest
from cli_runs import STSB, flags, user_error

from sentcse.modeling.modeling_simcse import CsePreTrainedModel
from sentcse.trainers.cli import evaluate as evaluate_cli
from sentcse.trainers.cli.train import main


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a model is built: every refusal here comes before."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was refused")

    monkeypatch.setattr(CsePreTrainedModel, "from_backbone", classmethod(refuse))  # every method's models


def nul_file(path, size):
    with open(path, "wb") as handle:
        handle.truncate(size)  # every byte NUL
    return path


def test_a_nul_filled_corpus_is_one_line_from_examples_train(launcher_on_a_nul_corpus):
    """The user's command (scripts/launch.sh: accelerate launch examples/train.py; the session's shared run in
    tests/conftest.py) on a real NUL-filled file: one line, exit 2, in the seconds the interpreters take to start,
    whatever the file's size (it is judged on a sample, not read as one line)."""
    folder, done, seconds = launcher_on_a_nul_corpus
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"sentcse-train: error: corpus: {folder / 'corpus.txt'}: not text: 100% of its bytes are control characters "
        "such as NUL (in a 1 MiB sample); pass a UTF-8 text file with one sentence per line")
    assert seconds < 120 and not (folder / "out").exists()


@pytest.mark.parametrize("streaming", [False, True], ids=["converted", "streaming"])
def test_a_nul_filled_corpus_is_refused_before_any_model(tmp_path, backbone, capsys, no_model, streaming):  # noqa: F811
    corpus = nul_file(tmp_path / "corpus.txt", 8 << 20)
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out", *(["--streaming"] if streaming else [])))
    assert line.endswith("corpus.txt: not text: 100% of its bytes are control characters such as NUL (in a 1 MiB "
                         "sample); pass a UTF-8 text file with one sentence per line")


def test_a_sentence_column_of_numbers_is_named_with_file_row_and_column(tmp_path, backbone, capsys, no_model):  # noqa: F811
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "the cat sat"}\n{"text": 12}\n{"text": "the dog ran"}\n')
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out"))
    assert line == (f"sentcse-train: error: corpus: {corpus}: row 2 of column 'text' holds 12 of type int, not text; "
                    "pass --text_column with the sentence column")


def write_constant_pairs(path):
    path.write_text("sentence1\tsentence2\tscore\n" + "".join(f"the cat {i}\tthe dog {i}\t2.5\n" for i in range(12)))
    return path


def test_dev_scores_all_equal_are_refused_by_train_and_evaluate(tmp_path, backbone, corpus, capsys, no_model):  # noqa: F811
    dev = write_constant_pairs(tmp_path / "pairs.tsv")
    expected = (f"--dev_file {dev}: every pair scores 2.5; scores that are all equal cannot rank a model (Spearman "
                "is undefined): pass pairs with different scores")
    argv = flags(backbone, corpus, tmp_path / "out", "--dev_file", str(dev))
    assert user_error(capsys, argv) == f"sentcse-train: error: {expected}"  # the flag named once, as evaluate does
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as stopped:  # a model folder that does not exist: refused before it is looked at
        evaluate_cli.main([str(tmp_path / "no-model"), "--dev_file", str(dev)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.strip() == f"sentcse-evaluate: error: {expected}"


@pytest.mark.parametrize("extra, expected", [
    (["--method", "recse", "--reshape_weight", "0", "--lambda_dropout", "0"],
     "--method recse: reshape_weight and lambda_dropout are both 0, so no loss term trains the encoder: set one of "
     "them > 0"),
    (["--method", "recse", "--reshape_weight", "inf"], "--method recse: reshape_weight must be finite, got inf"),
    (["--method", "recse", "--lambda_dropout", "inf"], "--method recse: lambda_dropout must be finite, got inf"),
    (["--method", "sarcse", "--beta", "inf"], "--method sarcse: beta must be finite, got inf"),
    (["--temperature", "inf"], "--method simcse: temperature must be finite, got inf"),
    (["--method", "sarcse", "--max_length", "1"],
     "--method sarcse: max_length must be >= 7 for SARCSE (its decoder rebuilds max_length - 2 tokens, at least the "
     "largest kernel size 5), got 1; raise max_length or set decoder_length"),
], ids=["recse-no-term", "recse-inf-reshape", "recse-inf-dropout", "sarcse-inf-beta", "inf-temperature",
        "sarcse-max-length-1"])
def test_weights_and_lengths_that_cannot_train_are_one_line(tmp_path, backbone, corpus, capsys, no_model, extra,  # noqa: F811
                                                            expected):
    argv = flags(backbone, corpus, tmp_path / "out")
    at = argv.index("--max_length")
    argv = argv[:at] + argv[at + 2:] + ["--max_length", "16"]  # a case's own --max_length comes later and wins
    assert user_error(capsys, [*argv, *extra]) == f"sentcse-train: error: {expected}"


def test_an_sts_dir_without_the_tasks_is_refused_before_training(tmp_path, backbone, corpus, capsys, no_model):  # noqa: F811
    empty = tmp_path / "senteval"
    empty.mkdir()
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out", "--sts_dir", str(empty)))
    assert line.startswith("sentcse-train: error: --sts_dir: STS task STS12: folder STS12-en-test not found")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sts-dev.csv").write_text((STSB / "sts-dev.csv").read_text())
    (broken / "sts-test.csv").write_text("main-news\tMSRpar\t2012test\t0001\t5.0\tonly one sentence\n")
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out", "--sts_dir", str(broken)))
    assert line.endswith("sts-test.csv: row 1 has 6 fields, expected at least 7")


def test_a_partial_sts_dir_is_said_before_training_and_scored_for_what_it_has(tmp_path, backbone, corpus, caplog,  # noqa: F811
                                                                              capsys):
    """examples/data/stsb holds STS-B dev and test only: the run says so before training, then scores those two."""
    import json

    from sentcse.trainers import trainer as trainer_module

    trained = []
    original = trainer_module.CseTrainer.train
    monkey = pytest.MonkeyPatch()
    monkey.setattr(trainer_module.CseTrainer, "train", lambda self, *a, **k: trained.append(
        "sts_dir" in caplog.text and "lacks" in caplog.text) or original(self, *a, **k))
    try:
        with caplog.at_level(logging.WARNING, logger="sentcse.train"):
            main(flags(backbone, corpus, tmp_path / "out", "--sts_dir", str(STSB)))
    finally:
        monkey.undo()
    assert trained == [True]  # said before training began
    assert (f"--sts_dir {STSB} lacks STS12, STS13, STS14, STS15, STS16, SICKRelatedness: the table after training "
            "scores STSBenchmark, STSBenchmark-dev only") in caplog.text
    results = json.loads((tmp_path / "out" / "sts_results.json").read_text())
    assert set(results["tasks"]) == {"STSBenchmark", "STSBenchmark-dev"} and results["avg"] is None
    assert "STS-B dev" in capsys.readouterr().out


def test_persistent_workers_without_workers_are_refused_before_any_model(tmp_path, backbone, corpus, capsys, no_model):
    """The data loader would raise only after the model loaded; the flags say it first."""
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out", "--dataloader_persistent_workers", "true"))
    assert line == ("sentcse-train: error: --dataloader_persistent_workers keeps the loader's worker processes, and "
                    "there are none: add --dataloader_num_workers N, or drop --dataloader_persistent_workers")
    assert not (tmp_path / "out").exists()

