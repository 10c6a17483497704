"""``sentcse-export`` and ``sentcse-train --export portable``: the portable folder from the command line; bad input
(no sentcse folder, a folder with files, a reading the folder cannot hold) refused in one line, exit status 2,
before anything is trained or written."""

import json

import numpy as np
import pytest
import torch
from cli_runs import flags, user_error
from tiny import tiny_model, tiny_tokenizer

from sentcse.modeling import SarcseModel, SimCseModel
from sentcse.trainers.cli.export import main as export_main
from sentcse.trainers.cli.train import main as train_main
from sentcse.trainers.serving import PORTABLE_FOLDER

pytestmark = pytest.mark.usefixtures("single_thread")
SENTENCES = ["the cat sat on the mat", "a dog", ""]


def _saved(folder, model_class=SimCseModel, **config):
    torch.manual_seed(0)
    model = tiny_model(model_class, tiny_tokenizer(), **config)
    model.save_pretrained(folder)
    model.get_tokenizer().save_pretrained(folder)
    return model


def _export_error(capsys, argv) -> str:
    # refused before the model is read
    return user_error(capsys, argv, export_main, "sentcse-export", absent=("Loading weights",))


def test_sentcse_export_writes_a_folder_that_embeds_as_encode(tmp_path, capsys):
    from sentence_transformers import SentenceTransformer

    model = _saved(tmp_path / "trained")
    out = export_main([str(tmp_path / "trained"), "--to", str(tmp_path / "out")])
    assert out == tmp_path / "out" and "Saved the portable folder" in capsys.readouterr().out
    got = SentenceTransformer(str(out), device="cpu").encode(SENTENCES)
    assert np.abs(got - model.encode(SENTENCES)).max() <= 1e-5
    assert "already holds files" in _export_error(capsys, [str(tmp_path / "trained"), "--to", str(out)])
    export_main([str(tmp_path / "trained"), "--to", str(out), "--overwrite"])
    assert (out / "modules.json").is_file()


def test_sentcse_export_refuses_bad_input_in_one_line(tmp_path, capsys):
    _saved(tmp_path / "sarcse", SarcseModel, embedding_source="cnn")
    line = _export_error(capsys, [str(tmp_path / "sarcse"), "--to", str(tmp_path / "out")])
    assert "embedding_source cnn" in line and "torch.onnx.export" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert "holds no sentcse model" in _export_error(capsys, [str(tmp_path / "plain"), "--to", str(tmp_path / "o2")])
    _saved(tmp_path / "simcse")
    assert "holds the trained folder" in _export_error(capsys, [str(tmp_path / "simcse"), "--to", str(tmp_path)])


def test_train_with_export_portable_writes_the_folder_inside_the_run(tmp_path, backbone, corpus, capsys):  # noqa: F811
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "run"
    trainer = train_main(flags(backbone, corpus, out, "--export", "portable"))
    portable = out / PORTABLE_FOLDER
    assert f"Portable folder: {portable}" in capsys.readouterr().out
    got = SentenceTransformer(str(portable), device="cpu").encode(SENTENCES)
    assert np.abs(got - trainer.model.encode(SENTENCES)).max() <= 1e-5
    assert PORTABLE_FOLDER in json.loads((out / "sentcse_run.json").read_text())["files"]  # --overwrite_output_dir's


def test_train_refuses_an_export_its_reading_cannot_hold_before_training(tmp_path, backbone, corpus, capsys):  # noqa: F811
    argv = flags(backbone, corpus, tmp_path / "run", "--export", "portable")
    argv[argv.index("simcse")] = "sarcse"
    line = user_error(capsys, argv + ["--embedding_source", "cnn"])
    assert "--export portable: sarcse (embedding_source cnn)" in line and "torch.onnx.export" in line
    assert not (tmp_path / "run").exists()
