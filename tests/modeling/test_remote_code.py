"""Remote code without questions: a saved folder loads with ``AutoModel.from_pretrained(folder,
trust_remote_code=True)`` and ``encode`` works in a process that cannot import sentcse, with stdin closed, without
"Do you wish to run the custom code?" (the tokenizer is loaded with the same flag), whichever way the tokenizer was
saved; ``AutoTokenizer.from_pretrained(folder, trust_remote_code=True)`` neither (transformers reads config.json
before the tokenizer files, so the flag is needed there too); and ``load_encoder`` never asks either."""

import builtins
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from tiny import save_tiny_backbone, tiny_model, tiny_tokenizer

from sentcse.modeling import SarcseModel, SimCseModel

README_SENTENCES = ["A man is playing a guitar.", "Someone plays music."]
PROMPT = "Do you wish to run the custom code"

# Run with ``python -I`` (no PYTHONPATH, no user site, no script folder on sys.path); the editable install's finder
# would still import sentcse, so a meta-path finder refuses it. builtins.input is wrapped to record who asked.
SCRIPT = textwrap.dedent(
    f"""
    import builtins, importlib.abc, json, sys

    HIDDEN = ("sentcse", "modeling", "trainers")
    refused = []

    class HideSentcse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                refused.append(name)
                raise ModuleNotFoundError("sentcse is not installed in this process: " + name, name=name)

    sys.meta_path.insert(0, HideSentcse())
    current, asked = [None], []
    real_input = builtins.input

    def recording_input(prompt=""):
        asked.append(current[0])
        return real_input(prompt)  # stdin is closed: EOFError, as for a script run without a terminal

    builtins.input = recording_input
    from transformers import AutoModel, AutoTokenizer

    results = {{}}
    for name, folder in json.loads(sys.argv[1]).items():
        current[0] = name
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        embeddings = model.encode({README_SENTENCES!r}, normalize=True)
        results[name] = {{"shape": list(embeddings.shape), "embeddings": embeddings.tolist(),
                         "module": type(model).__module__, "tokenizer": type(model.get_tokenizer()).__name__}}
        if not name.endswith("vocab_only"):  # a bare vocab.txt names no tokenizer class; sentcse always writes one
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
            results[name]["auto_tokenizer"] = type(tokenizer).__name__
        print(embeddings.shape)
    imported = sorted(n for n in sys.modules if n.split(".")[0] in HIDDEN)
    print("RESULT " + json.dumps({{"results": results, "asked": asked, "imported": imported, "refused": refused}}))
    """
)


def _save_variants(root):
    """A tiny SimCSE and SARCSE folder with the tokenizer saved three ways; returns ({name: folder},
    {name: expected})."""
    tokenizer = tiny_tokenizer()
    vocab = "".join(token + "\n" for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]))
    plain_bert = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 64}
    folders, expected = {}, {}
    torch.manual_seed(0)
    for model_class in (SimCseModel, SarcseModel):
        model = tiny_model(model_class, tokenizer)
        reference = model.encode(README_SENTENCES, normalize=True)
        for layout in ("save_pretrained", "bert_vocab", "vocab_only"):
            name = f"{model_class.__name__}-{layout}"
            folder = root / name
            model.save_pretrained(folder)
            if layout == "save_pretrained":  # tokenizer.json + tokenizer_config.json (tokenizer_class BertTokenizer)
                tokenizer.save_pretrained(folder)
            else:  # a plain BERT tokenizer: vocab.txt, with or without a tokenizer_config.json naming BertTokenizer
                (folder / "vocab.txt").write_text(vocab)
                if layout == "bert_vocab":
                    (folder / "tokenizer_config.json").write_text(json.dumps(plain_bert))
            folders[name], expected[name] = str(folder), reference
    return folders, expected


def test_readme_snippet_runs_without_sentcse_and_without_a_prompt(tmp_path):
    folders, expected = _save_variants(tmp_path / "saved")
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run(
        [sys.executable, "-I", "-c", SCRIPT, json.dumps(folders)], stdin=subprocess.DEVNULL, capture_output=True,
        text=True, cwd=work, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert PROMPT not in result.stdout and PROMPT not in result.stderr, (result.stdout + result.stderr)[-3000:]
    report = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert report["asked"] == [] and report["imported"] == [], report
    assert set(report["results"]) == set(folders)
    for name, got in report["results"].items():
        assert got["shape"] == [2, 32], name
        assert got["module"].startswith("transformers_modules."), (name, got["module"])
        assert got["tokenizer"] == got.get("auto_tokenizer", "BertTokenizer") == "BertTokenizer", name
        np.testing.assert_allclose(np.array(got["embeddings"]), expected[name], atol=1e-5, rtol=0, err_msg=name)


@pytest.fixture
def no_prompt(monkeypatch):
    """Fails the test if anything calls input() (the remote-code question), instead of waiting for an answer."""
    asked = []

    def refuse(prompt=""):
        asked.append(prompt)
        raise EOFError("stdin is closed")

    monkeypatch.setattr(builtins, "input", refuse)
    return asked


def test_load_encoder_never_asks(tmp_path, no_prompt):
    from sentcse.trainers.sts.encoders import load_encoder

    folders, expected = _save_variants(tmp_path / "saved")
    for name, folder in folders.items():
        model = load_encoder(folder)
        assert model._trust_remote_code is True, name
        np.testing.assert_allclose(model.encode(README_SENTENCES, normalize=True), expected[name], atol=1e-5, rtol=0,
                                   err_msg=name)
    backbone = save_tiny_backbone(tmp_path / "backbone")
    assert load_encoder(str(backbone)).encode(README_SENTENCES).shape == (2, 32)
    assert no_prompt == []


def test_load_encoder_refuses_custom_backbone_code_unless_trusted(tmp_path, no_prompt):
    from sentcse.trainers.sts.encoders import load_encoder

    backbone = save_tiny_backbone(tmp_path / "custom")
    config = json.loads((backbone / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (backbone / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"custom.* holds custom model code \(auto_map in config.json\): pass "
                                         r"trust_remote_code=True to load_encoder if you trust it"):
        load_encoder(str(backbone))
    assert no_prompt == []
