"""bench/tools/pretrain_substrate.py at tiny sizes: its stop rule, and one run that evaluates, pauses, resumes,
stops and exports as a device call would (the encoder in shards of at most 15 MB), refuses another recipe, and
reads a packed token file (unpadded, xz: what travels to a device) exactly as it reads its own cache."""

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny import save_tiny_backbone

REPO = Path(__file__).resolve().parents[2]
STSB = REPO / "examples" / "data" / "stsb"
sys.path.insert(0, str(REPO))  # bench/ is the repository's package of benchmarks, not installed

from bench.tools import pretrain_substrate  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")


def point(tokens, loss, raw, probe):
    """A curve point: raw dev per pooler, probe dev per run and seed."""
    return {"tokens": tokens, "held_out_loss": loss, "raw_dev": {"cls": raw[0], "avg": raw[1]},
            "probe_dev": {run: dict(zip(("42", "43"), seeds)) for run, seeds in probe.items()}}


RULE = argparse.Namespace(total_tokens=250e6, min_loss_drop=0.01)


def test_the_stop_rule():
    first = point(0, 4.9, (38.0, 52.0), {"simcse": (28.0, 29.0), "simcse_avg": (46.0, 47.0)})
    assert pretrain_substrate.decide([first], RULE)[:2] == (False, False)  # behind the raw backbone: continue
    assert first["rule"]["raw_best"] == 52.0 and first["rule"]["probe_best_run"] == "simcse_avg"
    ahead = point(25e6, 4.4, (38.0, 52.0), {"simcse": (50.0, 51.0), "simcse_avg": (53.0, 54.0)})
    ready, stop, reason = pretrain_substrate.decide([first, ahead], RULE)
    assert (ready, stop) == (True, True) and reason.startswith("ready: probe simcse_avg 53.50")  # margin 1.5 > spread 1
    within = point(25e6, 4.4, (38.0, 52.0), {"simcse": (50.0, 51.0), "simcse_avg": (51.0, 55.0)})
    assert pretrain_substrate.decide([first, within], RULE)[:2] == (False, False)  # margin 1.0 <= spread 4.0
    flat = point(25e6, 4.895, (38.0, 52.0), {"simcse": (28.0, 29.0), "simcse_avg": (46.0, 47.0)})
    ready, stop, reason = pretrain_substrate.decide([first, flat], RULE)
    assert (ready, stop) == (False, True) and "stopped falling" in reason
    last = point(250e6, 4.0, (38.0, 52.0), {"simcse": (28.0, 29.0), "simcse_avg": (46.0, 47.0)})
    ready, stop, reason = pretrain_substrate.decide([first, last], RULE)
    assert (ready, stop) == (False, True) and reason.startswith("not ready by 250M tokens")


def run(*flags):
    return subprocess.run([sys.executable, "-m", "bench.tools.pretrain_substrate", *flags], capture_output=True,
                          text=True, timeout=600, cwd=REPO)


@pytest.fixture
def in_process(capsys):
    """``call(*flags)``: ``pretrain_substrate.main`` in this process, as the command would run it (what it
    returns, or raises, and its stdout); the process-wide settings it makes for itself (the environment variables
    it sets by default, its SIGTERM handler) are put back afterwards. A subprocess costs an import of sentcse (about
    7 s on one slow core); the test keeps one, the twin, for the command line and a fresh process's determinism."""

    def call(*flags):
        saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM")}
        handler = signal.getsignal(signal.SIGTERM)
        capsys.readouterr()
        try:
            return pretrain_substrate.main([str(flag) for flag in flags]), capsys.readouterr().out
        finally:
            signal.signal(signal.SIGTERM, handler)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    return call


def test_a_tiny_run_pauses_resumes_stops_exports_and_refuses_another_recipe(tmp_path, in_process):
    backbone = save_tiny_backbone(tmp_path / "backbone")
    corpus = tmp_path / "corpus.txt"
    animals = ["big cat", "red dog", "small dog", "blue cat"]
    corpus.write_text("".join(f"the {animals[i % 4]} sat on the mat {i % 7}\n" for i in range(1000)))
    # 64 STS-B dev pairs: a third of the evaluation time of all 1,500, and a clear decision at 0 tokens (continue:
    # the probe 2.4 points behind the raw backbone), where the full dev set decided "ready" by a margin of 0.002
    # (float noise) and left the pause, the twin and the resume untested.
    sts = tmp_path / "sts"
    sts.mkdir()
    pairs = (STSB / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (sts / "sts-dev.csv").write_text("".join(pairs[:64]), encoding="utf-8")
    out, export, results = tmp_path / "state", tmp_path / "device-out", tmp_path / "results.json"
    flags = ["--init", "scratch", "--backbone", str(backbone), "--corpus", str(corpus), "--output_dir", str(out),
             "--batch_size", "16", "--warmup_steps", "2", "--total_tokens", "500", "--eval_every_tokens", "500",
             "--probe_steps", "2", "--probe_seeds", "42", "43", "--probe_train_file", str(corpus),
             "--sts_dir", str(sts), "--precision", "fp32", "--threads", "1", "--no_markdown",
             "--results_file", str(results), "--export_dir", str(export)]

    code, printed = in_process(*flags, "--tokenize_only")
    assert code == 0
    cache = Path(printed.strip().splitlines()[-1])
    assert cache.is_file() and not (out / "checkpoints").exists()

    # the evaluation at 0 tokens, then a pause (or a stop if ready)
    code, first = in_process(*flags, "--max_minutes", "0.0001")
    assert code == 0
    twin = [tmp_path / "twin" if value == str(out) else value for value in flags]
    twin_run = run(*map(str, twin), "--max_minutes", "0.0001")  # the command itself, in a fresh process
    assert twin_run.returncode == 0, twin_run.stderr[-3000:]
    import torch
    from safetensors.torch import load_file

    record = json.loads(results.read_text())
    assert [p["tokens"] for p in record["curve"]] == [0]
    assert set(record["curve"][0]["probe_dev"]) == {"simcse", "simcse_avg"}
    assert all(len(seeds) == 2 for seeds in record["curve"][0]["probe_dev"].values())
    shards = sorted((export / "encoder").glob("*.safetensors"))
    assert shards and all(s.stat().st_size <= 15e6 for s in shards) and (export / "encoder" / "config.json").is_file()
    assert json.loads((export / results.name).read_text()) == record
    if record["ready"]:  # the tiny probe beat the raw backbone at once: stopped, and the backbone is exported
        assert "stopped: ready" in first and not record["pauses"] and (out / "final" / "config.json").is_file()
        assert record["decision"] in (out / "final" / "README.md").read_text()
    else:  # paused with a loss-only point; the rerun continues from the checkpoint to the end of the schedule
        assert record["decision"].startswith("continue") and len(record["pauses"]) == 1
        (checkpoint,), (twin_checkpoint,) = ((folder / "checkpoints").glob("checkpoint-*")
                                             for folder in (out, tmp_path / "twin"))
        assert (checkpoint / "rng_state.pth").is_file()  # the Trainer's RNG states (the CUDA ones too on a GPU)
        saved, again = (load_file(str(folder / "model.safetensors")) for folder in (checkpoint, twin_checkpoint))
        # --init scratch and the data order are seeded: this process (its RNGs drawn from by the tests before) and
        # a fresh one (torch's fixed default seed) write the same checkpoint
        assert all(torch.equal(saved[k], again[k]) for k in saved)
        code, resumed = in_process(*flags)
        assert code == 0
        assert "resuming" in resumed and "stopped:" in resumed
        record = json.loads(results.read_text())
        assert len(record["curve"]) == 2 and record["tokens_seen"] >= 500 and record["steps"] > 0
        assert json.loads((export / results.name).read_text())["steps"] == record["steps"]

    # A refusal is a SystemExit with its message (printed on stderr, status 1, by the interpreter).
    with pytest.raises(SystemExit) as other:
        in_process(*flags, "--peak_lr", "1e-3")
    assert isinstance(other.value.code, str) and "another recipe" in other.value.code and "peak_lr" in other.value.code
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(SystemExit) as refused:
        in_process(*[str(earlier) if value == str(out) else value for value in flags])
    assert isinstance(refused.value.code, str) and "earlier hand-written loop" in refused.value.code

    packed = tmp_path / "tokens.npz.xz"
    code, _ = in_process(*flags, "--pack_tokens", str(packed))
    assert code == 0 and packed.is_file()
    saved = np.load(cache)
    for tokens in (cache, packed):  # the cache as it is, and packed without padding
        ids, lengths = pretrain_substrate.tokenized_corpus(
            pretrain_substrate.parse_args(flags + ["--tokens", str(tokens)]), None, tmp_path / "unused")
        np.testing.assert_array_equal(ids, saved["ids"])
        np.testing.assert_array_equal(lengths, saved["lengths"])
    with pytest.raises(SystemExit, match="rows of 32 tokens, not --max_length 16"):
        pretrain_substrate.tokenized_corpus(pretrain_substrate.parse_args(
            flags + ["--tokens", str(packed), "--max_length", "16"]), None, tmp_path / "unused")


def test_an_exported_backbone_carries_its_mlm_head_and_can_be_pretrained_further(tmp_path):
    """What a ready run exports (fp16 encoder, tokenizer, ``mlm_head.safetensors``) loads back through
    ``--backbone`` as the same masked-language model, rounded to fp16, with the decoder tied again."""
    import torch
    from transformers import AutoTokenizer

    backbone = save_tiny_backbone(tmp_path / "backbone")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n")
    data = ["--corpus", str(corpus), "--probe_train_file", str(corpus), "--sts_dir", str(STSB)]  # none in a fresh clone
    model = pretrain_substrate.build_model(pretrain_substrate.parse_args(["--init", "scratch", *data]), str(backbone))
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()  # every weight, the MLM head's included, away from its initial value
    folder = tmp_path / "final"
    pretrain_substrate.export_encoder(model, AutoTokenizer.from_pretrained(backbone), folder, dtype=torch.float16,
                                      mlm_head=True)
    assert (folder / "mlm_head.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    again = pretrain_substrate.build_model(pretrain_substrate.parse_args(data), str(folder))
    saved = again.state_dict()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(saved[name], value.half().float(), rtol=0, atol=0, msg=name)
