"""Hub-ready outputs: model card, training curve, sentence-transformers export, remote code, upload.

One tiny SARCSE training through examples/train.py (``--push_to_hub``, the Hub intercepted at ``HfApi``) feeds the
card, remote-code and upload tests; the export and template tests use in-memory tiny models.
"""

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from tiny import WORDS, hide_sentcse, tiny_backbone_config, tiny_model, tiny_tokenizer
from transformers import BertModel

from sentcse.modeling import ReCseModel, SarcseModel, SimCseModel
from sentcse.trainers import cards
from sentcse.trainers.cards import (
    HUB_IGNORE_PATTERNS,
    ST_FILES,
    RunRecord,
    build_model_card,
    export_sentence_transformers,
    hub_upload_files,
    write_model_card,
)
from sentcse.trainers.methods import METHODS

REPO = Path(__file__).resolve().parents[3]
STSB = REPO / "examples" / "data" / "stsb"
MODEL_CLASSES = [SimCseModel, SarcseModel, ReCseModel]
SENTENCES = [
    "the cat sat on the mat",
    "a",
    "",
    "the big red dog was fast and the small blue cat was slow , in 2024 !",
    "run to the mat",
    " ".join(WORDS * 4),  # longer than the tokenizer's 64 tokens: truncated alike by both loaders
]
FULL_RESULTS = {"STS12": 61.234, "STS13": 70.5, "STS14": 65.01, "STS15": 72.996, "STS16": 71.0, "STS-B": 68.2,
                "SICK-R": 66.6, "STS-B dev": 75.555}
HUB_ID = "sentcse-test/tiny-sarcse"


def _load_script(name):
    spec = importlib.util.spec_from_file_location(f"sentcse_{name}_script", REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index(card: ModelCard) -> dict:
    return {(r.dataset_name, r.dataset_split): r.metric_value for r in card.data.eval_results}


# Tiny models: one intra-op thread (conftest.py's single_thread) for every test of this file.
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def stsb(tmp_path_factory):
    """The first 300 pairs of the bundled STS-B dev and test files (a cheap model-selection split)."""
    folder = tmp_path_factory.mktemp("stsb")
    for name in ("sts-dev.csv", "sts-test.csv"):
        lines = (STSB / name).read_text(encoding="utf-8").splitlines(keepends=True)[:300]
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------------------ one real run
@pytest.fixture(scope="module")
def trained(tmp_path_factory, stsb):
    """examples/train.py main() on a tiny backbone, 2 steps, --push_to_hub with HfApi intercepted (the access check
    sees a token and a whoami answer; huggingface_hub's offline mode stays on, so nothing else can be sent)."""
    root = tmp_path_factory.mktemp("hub")
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    backbone = root / "backbone"
    BertModel(tiny_backbone_config(vocab_size=len(tokenizer))).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    rng = np.random.default_rng(0)
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) for _ in range(64)) + "\n")
    out = root / "out"
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, **kwargs):
        files = hub_upload_files(kwargs["folder_path"], kwargs.get("ignore_patterns") or (),
                                 kwargs.get("allow_patterns"))
        readme = (Path(kwargs["folder_path"]) / "README.md").read_text()
        calls.append(("upload_folder", kwargs, files, readme))
        return SimpleNamespace(repo_url=f"https://huggingface.co/{kwargs['repo_id']}")

    def whoami(self, *args, **kwargs):
        calls.append(("whoami", args, kwargs))
        return {"name": HUB_ID.split("/")[0]}

    def other(name):
        return lambda self, *args, **kwargs: calls.append((name, args, kwargs))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HfApi, "create_repo", create_repo)
        patch.setattr(HfApi, "upload_folder", upload_folder)
        patch.setattr(HfApi, "whoami", whoami)
        for name in ("create_commit", "upload_file", "create_branch"):
            patch.setattr(HfApi, name, other(name))
        patch.setenv("HF_TOKEN", "hf_test")
        patch.setattr(cards.hub, "offline_mode", lambda: None)  # conftest.py's HF_HUB_OFFLINE=1 stays in force
        _load_script("train").main([
            "--method", "sarcse", "--backbone", str(backbone), "--train_file", str(corpus), "--output_dir", str(out),
            "--per_device_train_batch_size", "8", "--max_steps", "2", "--eval_steps", "1", "--save_steps", "1",
            "--logging_steps", "1", "--cnn_channels", "8", "--theta", "0.2", "--max_length", "16",
            "--report_to", "none", "--skip_raw_eval", "--dev_dir", str(stsb),
            "--disable_tqdm", "true", "--push_to_hub", "--hub_model_id", HUB_ID,
        ])
    return SimpleNamespace(out=out, calls=calls)


def test_training_card_parses_and_describes_the_run(trained):
    card = ModelCard.load(trained.out / "README.md")
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "sentence-similarity"
    assert {"sentence-transformers", "sentence-similarity", "feature-extraction", "sentcse", "sarcse"} <= set(data.tags)
    assert data.base_model is None  # a local backbone is not a Hub name
    assert data.license
    info = json.loads((trained.out / "training_info.json").read_text())
    assert _index(card) == {("STS-B dev", "validation"): round(info["final_eval"]["eval_stsb_spearman"], 2)}
    assert data.model_name == "tiny-sarcse"
    text = card.text
    for option in ("embedding_source", "kernel_sizes", "cnn_channels", "decoder_length", "detach_target", "theta",
                   "beta", "gamma", "objective"):
        assert f"`{option}`" in text, option
    assert "| `cnn_channels` | **8** | 128 |" in text and "| `theta` | **0.2** | 0.1 |" in text
    assert "![Training curve" in text and "(training_curve.png)" in text
    assert f'AutoModel.from_pretrained("{HUB_ID}", trust_remote_code=True)' in text
    assert f'SentenceTransformer("{HUB_ID}", trust_remote_code=True)' in text
    assert "arXiv:2402.15153" in text and "eprint    = {2402.15153}" in text
    assert "| learning rate | 3e-05 |" in text and "| steps trained | 2 |" in text
    assert "| torch |" in text and "| accelerator |" in text
    png = (trained.out / "training_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not any("token" in key for key in info["training_args"])  # hub_token and the like are never written


def test_evaluate_write_card_updates_the_results(trained, stsb, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    import shutil

    shutil.copytree(trained.out, folder, ignore=shutil.ignore_patterns("checkpoint-*"))
    results = _load_script("evaluate").main([str(folder), "--sts_dir", str(stsb), "--tasks", "STS-B", "--write_card"])
    card = ModelCard.load(folder / "README.md")
    index = _index(card)
    assert index[("STS-B", "test")] == round(results["STSBenchmark"].spearman, 2)
    assert ("STS-B dev", "validation") in index  # kept from training
    assert f'"{HUB_ID}"' in card.text  # the Hub id recorded at training is kept
    saved = json.loads((folder / "sts_results.json").read_text())
    assert saved["tasks"]["STSBenchmark"]["n_pairs"] == 300
    # the run's record holds the scores beside what training recorded, and the card is rendered from it alone
    record, trained_record = RunRecord.load(folder), RunRecord.load(trained.out)
    assert record.sts_results == saved and record.sts_results["tasks"]["STSBenchmark"]["source"] == "sts-test.csv"
    assert record.hub_model_id == HUB_ID and record.final_eval == trained_record.final_eval
    assert record.curve == trained_record.curve and record.steps_trained == 2
    assert json.loads((folder / "training_info.json").read_text())["record_version"] == 1
    assert str(tmp_path) not in (folder / "training_info.json").read_text()  # evaluate's paths are made portable
    readme = (folder / "README.md").read_text()
    (folder / "trainer_state.json").unlink()
    (folder / "sts_results.json").unlink()
    assert write_model_card(folder).read_text() == readme
    with pytest.raises(SystemExit) as stopped:
        _load_script("evaluate").main([str(tmp_path), "--sts_dir", str(stsb), "--tasks", "STS-B", "--write_card"])
    assert stopped.value.code == 2 and "needs a local sentcse checkpoint folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the card
CARD_CASES = [
    (SimCseModel, {}, "simcse.md.j2", ["pooler", "mlp_only_train", "mlp_activation", "temperature"], "2104.08821"),
    (SarcseModel, {"embedding_source": "cnn", "kernel_sizes": [2, 3]}, "sarcse.md.j2",
     ["embedding_source", "kernel_sizes", "cnn_channels", "decoder_length", "detach_target", "theta", "beta", "gamma",
      "cnn_pooling", "decoder_input", "reconstruction_reduction"], "2402.15153"),
    (ReCseModel, {"sqrt": "matrix", "lambda_dropout": 0.0}, "recse.md.j2",
     ["reshape_source", "sqrt", "newton_schulz_iterations", "time_for_space", "lambda_dropout", "reshape_temperature",
      "temperature"], "2408.04975"),
    (SimCseModel, {"objective": "vicreg", "objective_variant": "mod", "mlp_activation": "none",
                   "freeze_embeddings": True, "objective_kwargs": {"lambda_": 1.0, "margin": 0.3, "ratio": 1.5}},
     "gradient_paradigm.md.j2", ["objective", "objective_variant", "objective_kwargs", "mlp_activation"], "2402.18281"),
]


@pytest.mark.parametrize("model_class, config, template, options, arxiv", CARD_CASES,
                         ids=["simcse", "sarcse", "recse", "gradient_paradigm"])
def test_card_per_method_names_its_options_and_round_trips_the_scores(tmp_path, model_class, config, template, options,
                                                                      arxiv):
    tokenizer = tiny_tokenizer()
    model = tiny_model(model_class, tokenizer, **config)
    model.save_pretrained(tmp_path)
    assert cards.template_name(model.config) == template
    path = write_model_card(tmp_path, results=FULL_RESULTS, repo_id="someone/model")
    card = ModelCard.load(path)
    expected = {("STS12", "test"): 61.23, ("STS13", "test"): 70.5, ("STS14", "test"): 65.01, ("STS15", "test"): 73.0,
                ("STS16", "test"): 71.0, ("STS-B", "test"): 68.2, ("SICK-R", "test"): 66.6,
                ("STS-B dev", "validation"): 75.56}
    assert _index(card) == expected
    assert {r.metric_type for r in card.data.eval_results} == {"cosine_spearman"}
    assert {r.task_type for r in card.data.eval_results} == {"STS"}
    for option in options:
        assert f"| `{option}` |" in card.text, option
    for key, value in config.items():  # every non-default value is shown and marked
        assert f"| `{key}` | **" in card.text, key
    assert f"arXiv:{arxiv}" in card.text and f"eprint    = {{{arxiv}}}" in card.text
    assert "| 67.93 |" in card.text and "STS average (7 tasks): 67.93" in card.text  # the average, in the table


def test_card_templates_are_package_data_and_can_be_overridden(tmp_path, monkeypatch):
    """The templates come from the installed package (no checkout needed); a folder passed as ``templates=`` (or
    named by $SENTCSE_MODEL_CARDS) overrides the templates it holds; a method without a template of its own gets
    base.md.j2 with its registry summary."""
    monkeypatch.delenv(cards.TEMPLATE_DIR_ENV, raising=False)
    assert "base.md.j2" in cards.template_loader().list_templates()
    model = tiny_model(ReCseModel, tiny_tokenizer())
    model.save_pretrained(tmp_path / "m")
    override = tmp_path / "templates"
    override.mkdir()
    (override / "recse.md.j2").write_text('{% extends "base.md.j2" %}{% block method %}OVERRIDDEN{% endblock %}')
    card = build_model_card(tmp_path / "m", results={"STS-B": 50.0}, templates=override)
    assert _index(ModelCard(str(card))) == {("STS-B", "test"): 50.0}
    assert "OVERRIDDEN" in card.text and "`reshape_source`" in card.text and "trust_remote_code=True" in card.text
    monkeypatch.setenv(cards.TEMPLATE_DIR_ENV, str(override))
    assert "OVERRIDDEN" in build_model_card(tmp_path / "m").text
    monkeypatch.delenv(cards.TEMPLATE_DIR_ENV)

    spec = METHODS["recse"]
    on_base = type("ReCseOnTheBaseTemplate", (type(spec),), {"card_template": "base.md.j2"})
    monkeypatch.setitem(METHODS, "recse", on_base())
    text = build_model_card(tmp_path / "m").text
    assert spec.summary in text and f"[arXiv:{spec.arxiv}]" in text and "OVERRIDDEN" not in text


def test_card_rejects_a_foreign_checkpoint(tmp_path):
    BertModel(tiny_backbone_config()).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a sentcse checkpoint"):
        build_model_card(tmp_path)


def test_git_commit_only_inside_a_work_tree(tmp_path):
    assert cards.git_commit(tmp_path) is None  # not a repository: no commit is made up


def test_sts_results_added_to_a_record_keep_other_tasks(tmp_path):
    RunRecord.load(tmp_path).with_sts_results({"STS12": 50.0, "STS-B dev": 60.0}).save(tmp_path)
    RunRecord.load(tmp_path).with_sts_results({"STS12": 55.0, "STS13": 40.0}).save(tmp_path)
    saved = json.loads((tmp_path / "sts_results.json").read_text())
    assert {k: v["spearman"] for k, v in saved["tasks"].items()} == {"STS12": 55.0, "STS13": 40.0,
                                                                     "STSBenchmark-dev": 60.0}
    assert saved["avg"] is None


# ------------------------------------------------------------------------------------------------ sentence-transformers
@pytest.mark.parametrize("family", ["bert", "roberta"])
@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_sentence_transformers_encode_equals_encode(tmp_path, model_class, family, device):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(2)
    model = tiny_model(model_class, tiny_tokenizer(), family, device=device)
    folder = export_sentence_transformers(model, tmp_path / "export")
    assert {"config.json", "model.safetensors", *ST_FILES} <= {p.name for p in folder.iterdir()}
    st = SentenceTransformer(str(folder), trust_remote_code=True, device=str(device))
    np.testing.assert_allclose(st.encode(SENTENCES), model.encode(SENTENCES), atol=1e-5, rtol=0)
    np.testing.assert_allclose(st.encode(SENTENCES[0]), model.encode(SENTENCES[0]), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------------ remote code
def test_training_folder_loads_without_sentcse(trained, tmp_path):
    """A fresh interpreter that cannot import sentcse loads the trained folder with AutoModel and with
    SentenceTransformer, from the folder's own code files, and both give the saved model's embeddings."""
    from transformers import AutoModel

    reference = tmp_path / "reference.npy"
    np.save(reference, AutoModel.from_pretrained(trained.out).encode(SENTENCES))
    script = hide_sentcse(REPO) + textwrap.dedent(
        f"""
        import os, sys
        os.environ["HF_HUB_OFFLINE"] = "1"
        import numpy as np
        import torch

        torch.set_num_threads(1)
        from transformers import AutoModel
        from sentence_transformers import SentenceTransformer

        folder, reference = sys.argv[1], np.load(sys.argv[2])
        sentences = {SENTENCES!r}
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        assert type(model).__name__ == "SarcseModel" and type(model).__module__.startswith("transformers_modules.")
        assert np.abs(model.encode(sentences) - reference).max() < 1e-5
        st = SentenceTransformer(folder, trust_remote_code=True, device="cpu")
        assert type(st[0].model).__module__.startswith("transformers_modules."), type(st[0].model).__module__
        assert np.abs(st.encode(sentences) - reference).max() < 1e-5
        assert not any(name.split(".")[0] in ("modeling", "trainers") for name in sys.modules)
        print("remote-code-ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(trained.out), str(reference)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "remote-code-ok" in result.stdout


# ------------------------------------------------------------------------------------------------ upload
def test_push_to_hub_uploads_the_finished_folder_once(trained):
    calls = [call for call in trained.calls if call[0] != "whoami"]  # whoami: the access check's
    names = [call[0] for call in calls]
    assert names == ["create_repo", "upload_folder"], names  # no push per save by the Trainer, one upload
    _, repo_id, _ = calls[0]
    _, kwargs, files, readme = calls[1]
    assert repo_id == HUB_ID and kwargs["repo_id"] == HUB_ID
    assert Path(kwargs["folder_path"]) == trained.out
    everything = sorted(p.relative_to(trained.out).as_posix() for p in trained.out.rglob("*") if p.is_file())
    # exactly the saved folder, minus the checkpoints, the Trainer's pickle (the arguments are in training_info)
    # and the run's local record
    local = ("training_args.bin", "sentcse_run.json")
    assert files == [f for f in everything if not f.startswith("checkpoint-") and f not in local]
    assert any(f.startswith("checkpoint-") for f in everything) and set(local) <= set(everything)
    assert {"README.md", "training_curve.png", "training_info.json", "config.json", "model.safetensors",
            "modeling_sarcse.py", "modeling_simcse.py", "configuration_sarcse.py", "configuration_simcse.py",
            "tokenizer.json", "tokenizer_config.json", "token_counts.json", "trainer_state.json",
            *ST_FILES} <= set(files)
    config = json.loads((trained.out / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_sarcse.SarcseModel"
    assert "sentcse" in readme and "generated_from_trainer" not in readme  # our card, uploaded as written
    assert list(kwargs["ignore_patterns"]) == list(HUB_IGNORE_PATTERNS)


def test_a_toy_objectives_card_text_comes_from_its_own_class(tmp_path, monkeypatch):
    """Registered in OBJECTIVES, an objective's title, description, citation and hyperparameters reach
    the card from the class itself (as sentence-transformers' losses carry their citation)."""
    from sentcse.trainers import objectives
    from sentcse.trainers.objectives import InfoNCE

    class Toy(InfoNCE):
        title = "Toy objective"
        description = "A toy that is InfoNCE under another name."
        citation = "@misc{toy2026, title = {A toy}}"

    monkeypatch.setitem(objectives.OBJECTIVES, "toy", Toy)
    model = tiny_model(SimCseModel, tiny_tokenizer(), objective="toy", temperature=0.1)
    model.save_pretrained(tmp_path)
    card = write_model_card(tmp_path).read_text()
    assert "### Objective: Toy objective" in card and "A toy that is InfoNCE under another name." in card
    assert "`temperature` = 0.1" in card and "@misc{toy2026" in card
    assert Toy(0.2).get_config_dict() == {"temperature": 0.2}
