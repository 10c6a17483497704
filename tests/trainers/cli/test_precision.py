"""bf16 asked where the CPU only emulates it: one line from either command, before any model loads."""

import pytest
from cli_runs import STSB, flags, user_error

from sentcse.modeling import CsePreTrainedModel, SimCseModel, inputs
from sentcse.trainers.cli import evaluate


@pytest.fixture
def emulated_bf16(monkeypatch):
    """This CPU as one without AVX512-BF16 or AMX, and no model may load."""
    monkeypatch.setattr(inputs.torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(inputs.torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(inputs.platform, "machine", lambda: "x86_64")

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bf16 check")

    monkeypatch.setattr(CsePreTrainedModel, "from_backbone", classmethod(refuse))
    monkeypatch.setattr(CsePreTrainedModel, "from_pretrained", classmethod(refuse))


def test_train_refuses_bf16_on_a_cpu_that_emulates_it(tmp_path, capsys, backbone, corpus, emulated_bf16):
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out", "--bf16", "true", "--use_cpu", "true"))
    assert "--bf16: this CPU has no native bf16 (no AVX512-BF16 or AMX)" in line
    assert "slower than fp32 here; drop --bf16 to train in fp32" in line
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_bf16_on_a_cpu_that_emulates_it(tmp_path, capsys, emulated_bf16):
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        evaluate.main([str(tmp_path), "--dev_file", str(STSB / "sts-dev.csv"), "--dtype", "bf16", "--device", "cpu"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sentcse-evaluate: error: --dtype bf16: this CPU has no native bf16")
    assert "drop --dtype to evaluate in fp32" in err[0]


def test_encode_in_bf16_warns_on_a_cpu_that_emulates_it(monkeypatch):
    from tiny import tiny_model, tiny_tokenizer

    model = tiny_model(SimCseModel, tiny_tokenizer())
    monkeypatch.setattr(inputs, "emulated_bf16_cpu", lambda: True)
    with pytest.warns(UserWarning, match="bf16 on this CPU is emulated"):
        model.encode(["a cat"], dtype="bf16")
    monkeypatch.setattr(inputs, "emulated_bf16_cpu", lambda: False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode(["a cat"], dtype="bf16")
        model.encode(["a cat"])
