"""The run's record (RunRecord): saved once and read back equal, the card rendered from it alone, and a folder of an
earlier sentcse (training_info.json without a record, trainer_state.json, sts_results.json) still given a card."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard
from tiny import tiny_model, tiny_tokenizer

from sentcse.modeling import SimCseModel
from sentcse.trainers.cards import RECORD_FILE, RunRecord, build_model_card, write_model_card
from sentcse.trainers.cards.record import training_curve

REPO = Path(__file__).resolve().parents[3]
STSB = REPO / "examples" / "data" / "stsb"
HISTORY = [
    {"loss": 2.0, "loss/infonce": 2.0, "grad_norm": 1.5, "learning_rate": 3e-5, "epoch": 0.5, "step": 1},
    {"eval_stsb_spearman": 40.0, "eval_stsb_pearson": 38.0, "eval_runtime": 0.1, "step": 1},
    {"loss": 1.5, "loss/infonce": 1.5, "step": 2},
    {"eval_stsb_spearman": 45.5, "step": 2},
    {"train_runtime": 75.0, "train_loss": 1.75, "step": 2},
    {"eval_stsb_spearman": 45.5, "step": 2},  # the final evaluation of the saved model, after training
]
STS = {  # StsResults.to_dict() of a SentEval folder of this machine
    "tasks": {
        "STSBenchmark": {"task": "STSBenchmark", "spearman": 61.5, "pearson": 60.0, "n_pairs": 1379,
                         "n_sentences": 2700, "seconds": 1.0, "source": str(STSB / "sts-test.csv"), "subsets": {},
                         "subset_mean_spearman": float("nan")},
    },
    "avg": None,
    "seconds": 1.0,
    "meta": {"sts_dir": str(STSB)},
}

pytestmark = pytest.mark.usefixtures("single_thread")


def _model_folder(folder: Path) -> Path:
    model = tiny_model(SimCseModel, tiny_tokenizer(), max_length=16)
    model.save_pretrained(folder)
    model.get_tokenizer().save_pretrained(folder)
    return folder


def _record(folder: Path) -> RunRecord:
    args = {"output_dir": str(folder), "logging_dir": str(folder / "runs"), "per_device_train_batch_size": 8,
            "learning_rate": 3e-5, "max_steps": 2, "seed": 7, "bf16": False, "fp16": False, "hub_token": "hf_x"}
    state = SimpleNamespace(global_step=2, best_metric=45.5, best_model_checkpoint=str(folder / "checkpoint-2"),
                            log_history=HISTORY)
    run = {"method": "simcse", "backbone": "sentcse-test/bert", "backbone_license": "mit",
           "train_file": str(folder.parent / "corpus.txt"), "n_sentences": 64, "preset": "tiny",
           "raw_backbone_dev": {"[CLS]": 30.25}, "world_size": 1, "hub_model_id": "me/tiny"}
    return RunRecord.from_run(folder, run, args, state, {"eval_stsb_spearman": 45.5, "eval_runtime": 0.1}, STS,
                              environment={"python": "3", "processes": 1})


def test_a_record_is_saved_portable_and_loads_back_equal(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    record = _record(folder)
    path = record.save(folder)
    assert path == folder / RECORD_FILE
    assert RunRecord.load(folder) == record
    text = path.read_text()
    assert str(tmp_path) not in text and str(REPO) not in text and "hf_x" not in text and "NaN" not in text
    data = json.loads(text)
    # the sections earlier versions wrote stay where their readers look
    assert data["run"]["backbone"] == "sentcse-test/bert" and data["run"]["train_file"] == "corpus.txt"
    assert data["run"]["local_inputs"] == ["train_file"] and data["training_args"]["output_dir"] == "."
    assert data["final_eval"]["eval_stsb_spearman"] == 45.5
    assert json.loads((folder / "sts_results.json").read_text()) == record.sts_results
    assert record.best_step == 2 and record.runtime_seconds == 75.0 and record.steps_trained == 2
    # the curve: the loss terms and the dev score per step, up to the end of training
    assert record.curve == [{"step": 1, "loss": 2.0, "loss/infonce": 2.0}, {"step": 1, "eval_stsb_spearman": 40.0},
                            {"step": 2, "loss": 1.5, "loss/infonce": 1.5}, {"step": 2, "eval_stsb_spearman": 45.5}]
    assert training_curve(HISTORY[:4]) == record.curve  # no end-of-training entry: all of it
    assert record.sts_results["tasks"]["STSBenchmark"]["subset_mean_spearman"] is None
    assert math.isnan(STS["tasks"]["STSBenchmark"]["subset_mean_spearman"])  # the input is left as it was


def test_a_card_is_rendered_from_a_record_alone(tmp_path):
    """build_model_card(record=...) reads nothing of the run from the folder: only its config.json (and which of
    the method's files are there); the record gives the rest."""
    folder = _model_folder(tmp_path / "out")
    record = _record(folder)
    before = sorted(p.name for p in folder.iterdir())
    card = build_model_card(folder, record=record)
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written
    assert [(r.dataset_name, r.metric_value) for r in card.data.eval_results] == [("STS-B", 61.5),
                                                                                  ("STS-B dev", 45.5)]
    assert card.data.base_model == "sentcse-test/bert" and card.data.license == "mit"
    assert card.data.model_name == "tiny"
    text = card.text
    assert "STS-B test: 61.50 · STS-B dev: 45.50 (untrained backbone: 30.25 [CLS]) (Spearman x100)" in text
    for row in ("| corpus | `corpus.txt` (64 sentences) |", "| preset | tiny |",
                "| batch size | 8 per process x 1 process(es) = 8 in-batch sentences per contrastive batch |",
                "| steps trained | 2 |", "| max length (tokens) | 16 |", "| precision | fp32 |", "| seed | 7 |",
                "| model selection | STS-B dev Spearman at steps 1, 2, best checkpoint kept |",
                "| best STS-B dev | 45.50 (step 2) |", "| STS-B dev of the untrained backbone | 30.25 ([CLS]) |",
                "| training time | 1.2 min |", "| recorded at | training |", "| python | 3 |",
                "| STS-B | test | 1379 | 61.50 | SentEval files |"):
        assert row in text, row
    assert 'AutoModel.from_pretrained("me/tiny", trust_remote_code=True)' in text
    assert "![Training curve" not in text  # no curve drawn yet
    # write_model_card draws the curve from the record, then the card shows it
    assert "![Training curve" in write_model_card(folder, record=record).read_text()
    assert (folder / "training_curve.png").read_bytes()[:4] == b"\x89PNG"


def _legacy_folder(folder: Path) -> Path:
    """A folder as sentcse wrote it before run records: training_info.json (run with an absolute backbone path and
    no licence, training_args, final_eval, environment), trainer_state.json and sts_results.json."""
    _model_folder(folder)
    backbone = folder.parent / "backbone"
    backbone.mkdir()
    (backbone / "README.md").write_text("---\nlicense: apache-2.0\n---\n# a backbone\n")
    info = {"training_args": {"output_dir": ".", "per_device_train_batch_size": 8, "learning_rate": 3e-5,
                              "max_steps": 2, "seed": 7, "bf16": False, "fp16": False},
            "run": {"method": "simcse", "backbone": str(backbone), "train_file": "corpus.txt", "n_sentences": 64,
                    "world_size": 1, "hub_model_id": "me/legacy", "local_inputs": ["train_file"]},
            "final_eval": {"eval_stsb_spearman": 45.5},
            "environment": {"python": "3.10", "processes": 1}}
    (folder / "training_info.json").write_text(json.dumps(info))
    state = {"global_step": 2, "best_metric": 45.5, "best_model_checkpoint": "checkpoint-2",
             "log_history": HISTORY[:5]}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    (folder / "sts_results.json").write_text(json.dumps(STS))  # NaN, as json.dumps wrote it
    return folder


def test_a_folder_of_an_earlier_sentcse_still_gets_its_card(tmp_path, capsys):
    folder = _legacy_folder(tmp_path / "legacy")
    record = RunRecord.load(folder)
    assert record == RunRecord.from_legacy_folder(folder)
    assert record.backbone == "backbone" and record.local_inputs == ["train_file", "backbone"]
    assert record.backbone_license == "apache-2.0"  # read from the backbone's README while its path is known
    assert record.steps_trained == 2 and record.best_step == 2 and len(record.curve) == 4
    assert record.sts_results["tasks"]["STSBenchmark"]["spearman"] == 61.5
    card = ModelCard.load(write_model_card(folder))
    assert card.data.license == "apache-2.0" and card.data.base_model is None
    assert [(r.dataset_name, r.metric_value) for r in card.data.eval_results] == [("STS-B", 61.5),
                                                                                  ("STS-B dev", 45.5)]
    for row in ("`backbone` (a local backbone)", "| best STS-B dev | 45.50 (step 2) |", "| python | 3.10 |",
                "| model selection | STS-B dev Spearman at steps 1, 2, best checkpoint kept |", "![Training curve"):
        assert row in card.text, row
    assert (folder / "training_curve.png").is_file()  # drawn from trainer_state.json's history, once
    assert "record_version" not in (folder / "training_info.json").read_text()  # a card alone converts nothing

    # sentcse-evaluate --write_card converts the folder: its record saved, the new score added, the rest kept
    from sentcse.trainers.cli.evaluate import main, write_card

    main([str(folder), "--sts_dir", str(STSB), "--tasks", "stsb-dev", "--write_card", "--batch_size", "256"])
    assert "updated" in capsys.readouterr().out
    saved = json.loads((folder / "training_info.json").read_text())
    assert saved["record_version"] == 1 and str(tmp_path) not in json.dumps(saved)
    converted = RunRecord.load(folder)
    assert set(converted.sts_results["tasks"]) == {"STSBenchmark", "STSBenchmark-dev"}
    assert converted.curve == record.curve and converted.backbone_license == "apache-2.0"
    assert converted.hub_model_id == "me/legacy"
    dev = converted.sts_results["tasks"]["STSBenchmark-dev"]["spearman"]
    index = {r.dataset_name: r.metric_value for r in ModelCard.load(folder / "README.md").data.eval_results}
    assert index == {"STS-B": 61.5, "STS-B dev": round(dev, 2)}

    # --hub_model_id goes into the record: the next card update keeps it
    write_card(folder, {"STS12": 50.0}, hub_model_id="me/renamed")
    assert RunRecord.load(folder).hub_model_id == "me/renamed"
    write_card(folder, {"STS13": 51.0})
    card = ModelCard.load(folder / "README.md")
    assert card.data.model_name == "renamed" and 'from_pretrained("me/renamed"' in card.text
    assert {r.dataset_name for r in card.data.eval_results} == {"STS12", "STS13", "STS-B", "STS-B dev"}
