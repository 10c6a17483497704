"""The portable folder: a trained SimCSE, reCSE and SARCSE ([CLS]) folder exported to the backbone's own architecture
plus sentence-transformers' modules loads in a Python that cannot import sentcse, with no question and no
trust_remote_code, through SentenceTransformer, AutoModel, AutoTokenizer and the feature-extraction pipeline, and
embeds as the trained model's encode; every pooler a config allows maps exactly or is refused in one line."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors import safe_open
from tiny import tiny_backbone_config, tiny_model, tiny_tokenizer

from sentcse.modeling import ReCseModel, SarcseConfig, SarcseModel, SimCseConfig, SimCseModel
from sentcse.modeling.configuration_simcse import POOLERS
from sentcse.trainers.serving import ExportError, export_portable, portable_reading
from sentcse.trainers.serving.portable import MAX_DIFFERENCE, POOLINGS

pytestmark = pytest.mark.usefixtures("single_thread")

SENTENCES = ["A man is playing a guitar.", "Someone plays music.", "", "ok", "the big red dog sat on the mat " * 12]
PROMPT = "Do you wish to run the custom code"

# Run with ``python -I``; the editable install's finder would still import sentcse, so a meta-path finder refuses
# it. builtins.input is wrapped to record any question.
SCRIPT = textwrap.dedent(
    """
    import builtins, importlib.abc, json, sys

    HIDDEN = ("sentcse", "modeling", "trainers")

    class HideSentcse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                raise ModuleNotFoundError("sentcse is not installed in this process: " + name, name=name)

    sys.meta_path.insert(0, HideSentcse())
    asked = []
    real_input = builtins.input

    def recording_input(prompt=""):
        asked.append(prompt)
        return real_input(prompt)

    builtins.input = recording_input
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer, pipeline

    sentences = json.loads(sys.argv[2])
    results = {}
    for name, folder in json.loads(sys.argv[1]).items():
        st_model = SentenceTransformer(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder).eval()
        batch = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            output = model(**batch)
        extractor = pipeline("feature-extraction", folder, device="cpu")
        results[name] = {
            "sentence_transformers": st_model.encode(sentences).tolist(),
            "cls": output.last_hidden_state[:, 0].tolist(),
            "pooler_output": output.pooler_output.abs().max().item(),
            "pipeline_cls": [extractor(s)[0][0] for s in sentences[:2]],
            "classes": [type(model).__name__, type(tokenizer).__name__, type(st_model[0].model).__name__],
        }
    imported = sorted(n for n in sys.modules if n.split(".")[0] in HIDDEN)
    print("RESULT " + json.dumps({"results": results, "asked": asked, "imported": imported}))
    """
)
METHODS = {"simcse": (SimCseModel, {}), "recse": (ReCseModel, {}),
           "sarcse-cls": (SarcseModel, {"embedding_source": "cls"})}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{method: (trained folder, portable folder, expected embeddings, [CLS] states)} of tiny trained models."""
    root = tmp_path_factory.mktemp("portable")
    tokenizer = tiny_tokenizer()
    folders = {}
    for name, (model_class, config) in METHODS.items():
        torch.manual_seed(0)
        model = tiny_model(model_class, tokenizer, **config)
        source = root / name
        model.save_pretrained(source)
        tokenizer.save_pretrained(source)
        out = export_portable(source, root / f"{name}-portable")
        batch = tokenizer(SENTENCES, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            cls = model.backbone(**batch).last_hidden_state[:, 0].numpy()
        folders[name] = (source, out, model.encode(SENTENCES), cls)
    return folders


def test_the_folder_holds_the_backbone_alone(exported):
    for name, (source, out, _, _) in exported.items():
        files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
        assert not [f for f in files if f.endswith(".py")], files
        assert {"config.json", "model.safetensors", "modules.json", "tokenizer.json", "README.md"} <= set(files), files
        config = json.loads((out / "config.json").read_text())
        assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"] and "auto_map" not in config
        modules = [entry["type"].rsplit(".", 1)[-1] for entry in json.loads((out / "modules.json").read_text())]
        assert modules == ["Transformer", "Pooling"], (name, modules)  # [CLS] without the training-only MLP
        assert json.loads((out / "1_Pooling" / "config.json").read_text())["pooling_mode"] == "cls"
        with safe_open(str(out / "model.safetensors"), "pt") as weights:
            keys = set(weights.keys())
            assert not [k for k in keys if k.split(".")[0] in ("backbone", "mlp", "cnn_encoder", "decoder", "reshaper")]
            assert keys == set(SimCseModel.from_pretrained(source).backbone.state_dict()) | {
                "pooler.dense.weight", "pooler.dense.bias"}
            assert all(not weights.get_tensor(k).any() for k in keys if k.startswith("pooler."))  # zeros, not random
        tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
        assert "local_files_only" not in tokenizer_config and tokenizer_config["model_max_length"] == 64
        card = (out / "README.md").read_text()
        assert "library_name: sentence-transformers" in card and f'SentenceTransformer("{out.name}")' in card
        assert "trust_remote_code" in card and "pooler_output" in card


def test_every_client_loads_it_without_sentcse_or_a_question(exported, tmp_path):
    folders = {name: str(out) for name, (_, out, _, _) in exported.items()}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-I", "-c", SCRIPT, json.dumps(folders), json.dumps(SENTENCES)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert PROMPT not in result.stdout + result.stderr
    assert "MISSING" not in result.stderr and "newly initialized" not in result.stderr, result.stderr[-3000:]
    report = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert report["asked"] == [] and report["imported"] == [], report
    for name, got in report["results"].items():
        _, _, expected, cls = exported[name]
        assert got["classes"] == ["BertModel", "BertTokenizer", "BertModel"], name
        st = np.asarray(got["sentence_transformers"])
        assert np.abs(st - expected).max() <= MAX_DIFFERENCE, name
        np.testing.assert_allclose(np.asarray(got["cls"]), expected, rtol=0, atol=MAX_DIFFERENCE, err_msg=name)
        np.testing.assert_allclose(np.asarray(got["pipeline_cls"]), expected[:2], rtol=0, atol=MAX_DIFFERENCE)
        # the check above is not vacuous: [CLS] is the reading
        np.testing.assert_allclose(cls, expected, rtol=0, atol=0)
        assert got["pooler_output"] == 0.0


def _three_layer_model(pooler, **config):
    """A tiny SimCSE on a 3-layer backbone (first + last and the top two layers differ)."""
    tokenizer = tiny_tokenizer()
    backbone = tiny_backbone_config(vocab_size=len(tokenizer))
    backbone.num_hidden_layers = 3
    torch.manual_seed(1)
    model = SimCseModel(SimCseConfig(backbone_config=backbone, pooler=pooler, **config)).eval()
    model.tokenizer = tokenizer
    return model, tokenizer


READINGS = [(pooler, {}) for pooler in POOLERS] + [
    ("cls", {"mlp_only_train": False, "mlp_activation": activation}) for activation in ("tanh", "none", "tanh_first")]


@pytest.mark.parametrize("pooler,config", READINGS,
                         ids=[f"{p}-{c.get('mlp_activation', 'only-train')}" for p, c in READINGS])
def test_every_pooler_maps_exactly_or_is_refused_in_one_line(pooler, config, tmp_path):
    from sentence_transformers import SentenceTransformer

    assert set(POOLINGS) == set(POOLERS)
    model, tokenizer = _three_layer_model(pooler, **config)
    model.save_pretrained(tmp_path / "trained")
    tokenizer.save_pretrained(tmp_path / "trained")
    if config.get("mlp_activation") == "tanh_first":  # tanh before the Linear: no sentence-transformers module
        with pytest.raises(ExportError) as refused:
            export_portable(tmp_path / "trained", tmp_path / "out")
        assert "\n" not in str(refused.value) and "ONNX" in str(refused.value) and "tanh_first" in str(refused.value)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        return
    out = export_portable(tmp_path / "trained", tmp_path / "out")
    got = SentenceTransformer(str(out), device="cpu").encode(SENTENCES)
    expected = model.encode(SENTENCES)
    assert np.abs(got - expected).max() <= MAX_DIFFERENCE
    modules = [entry["type"].rsplit(".", 1)[-1] for entry in json.loads((out / "modules.json").read_text())]
    assert ("WeightedLayerPooling" in modules) == pooler.startswith("avg_")
    assert ("Dense" in modules) == ("mlp_activation" in config)
    other_pooler = "avg" if pooler != "avg" else "cls"
    other = SimCseModel.from_pretrained(tmp_path / "trained", pooler=other_pooler).encode(SENTENCES)
    assert np.abs(got - other).max() > 1e-3  # another reading of the same weights would not pass


def test_sarcse_with_its_textcnn_embedding_is_refused_in_one_line(tmp_path):
    config = SarcseConfig(backbone_config=tiny_backbone_config(), embedding_source="cnn", cnn_channels=16)
    with pytest.raises(ExportError) as refused:
        portable_reading(config)
    message = str(refused.value)
    assert "\n" not in message and "embedding_source cnn" in message and "ONNX" in message
    assert portable_reading(SarcseConfig(backbone_config=tiny_backbone_config())).pooling_mode == "cls"


def test_a_failed_check_leaves_no_folder(tmp_path, monkeypatch):
    from sentcse.trainers.serving import portable

    model = tiny_model(SimCseModel, tiny_tokenizer())
    model.save_pretrained(tmp_path / "trained")
    model.get_tokenizer().save_pretrained(tmp_path / "trained")
    monkeypatch.setattr(portable, "encode_difference", lambda *args: 0.5)
    with pytest.raises(ExportError, match=r"embeds 5\.0e-01 away from the model's encode\(\)"):
        export_portable(tmp_path / "trained", tmp_path / "out")
    assert not (tmp_path / "out").exists()
