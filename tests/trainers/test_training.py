"""Training: the objectives against independent references, data handling, multi-process equivalence (SimCSE and
reCSE's gathered reshaped views), resume, the non-finite-loss stop, and the CLI end to end."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tiny import TRAIN_SENTENCES, NanAfter, _NanGradient, tiny_backbone_config, tiny_model, tiny_tokenizer, tiny_trainer
from transformers import BertModel, TrainerCallback

from sentcse.modeling import ReCseModel, SarcseModel, SarcseModelOutput, SimCseModel
from sentcse.trainers.data import TwoViewCollator
from sentcse.trainers.guards import NonFiniteLossError
from sentcse.trainers.methods import get_method
from sentcse.trainers.methods.recse import ReshapedPositive
from sentcse.trainers.methods.sarcse import (
    TOKEN_COUNTS_FILE,
    SelfAdaptiveReconstruction,
    count_tokens,
    load_token_counts,
    token_counts_text,
    token_weights,
)
from sentcse.trainers.objectives import InfoNCE

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


# ---------------------------------------------------------------- objectives vs independent references
def reference_info_nce(a, b, tau):
    total = 0.0
    for i in range(a.shape[0]):
        sims = [float(F.cosine_similarity(a[i], b[j], dim=0)) / tau for j in range(b.shape[0])]
        total += -sims[i] + math.log(sum(math.exp(s) for s in sims))
    return total / a.shape[0]


def test_infonce_matches_reference():
    torch.manual_seed(0)
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    assert InfoNCE(0.05)(a, b)["infonce"].item() == pytest.approx(reference_info_nce(a, b, 0.05), rel=1e-5)


def test_self_adaptive_reconstruction_matches_reference():
    torch.manual_seed(1)
    n, t, lr, d, vocab = 4, 5, 6, 3, 11
    output = SarcseModelOutput(
        reconstruction=torch.randn(n, lr, d),
        token_states=torch.randn(n, t, d),
        token_mask=torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool),
        token_ids=torch.randint(0, vocab, (n, t)),
    )
    weights = torch.rand(vocab) + 0.1
    term = SelfAdaptiveReconstruction(weights, beta=0.3, gamma=0.7)(None, None, output)["reconstruction"]

    def view(rows):
        total, tokens = 0.0, 0
        for r in rows:
            for i in range(t):
                if output.token_mask[r, i]:
                    error = ((output.reconstruction[r, i] - output.token_states[r, i]) ** 2).sum()
                    total += float(weights[output.token_ids[r, i]] * error)
                    tokens += 1
        return total / max(tokens, 1)

    assert term.item() == pytest.approx(0.3 * view([0, 1]) + 0.7 * view([2, 3]), rel=1e-5)
    # the other scales: per element (/ hidden size), per sentence (the view's sum over its sentences)
    element = SelfAdaptiveReconstruction(weights, beta=0.3, gamma=0.7, reduction="element")(None, None, output)
    assert element["reconstruction"].item() == pytest.approx(term.item() / d, rel=1e-5)
    tokens = output.token_mask.sum(1).tolist()
    per_sentence = [view([r]) * max(tokens[r], 1) for r in range(n)]
    sentence = SelfAdaptiveReconstruction(weights, beta=0.3, gamma=0.7, reduction="sentence")(None, None, output)
    expected = 0.3 * sum(per_sentence[:2]) / 2 + 0.7 * sum(per_sentence[2:]) / 2
    assert sentence["reconstruction"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        SelfAdaptiveReconstruction(weights, reduction="mean")


@pytest.mark.parametrize("options", [{}, {"embedding_source": "cnn"}, {"decoder_input": "feature_maps"},
                                     {"cnn_pooling": "mean"}, {"reconstruction_reduction": "sentence", "theta": 1.0},
                                     {"embedding_source": "cls", "decoder_input": "sentence_embedding"}])
def test_sarcse_reconstruction_reaches_the_backbone_and_every_head_parameter(options, tmp_path):
    """Each SARCSE reading trains every parameter it has (no unused one: DDP), and the reconstruction term alone
    sends a gradient into the backbone (through X -> the TextCNN; the target X is detached)."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = tiny_model(SarcseModel, tokenizer, max_length=12, **options).train()
    spec = get_method("sarcse")
    objective = spec.build_objective(model.config, spec.prepare(model.config, TRAIN_SENTENCES, tokenizer, tmp_path))
    batch = TwoViewCollator(tokenizer, 12)([{"sentence": s} for s in TRAIN_SENTENCES[:6]])
    output = model(**batch)
    reconstruction = objective.extra_terms[0](None, None, output)["reconstruction"]
    reconstruction.backward(retain_graph=True)
    backbone = [p.grad for name, p in model.named_parameters()
                if name.startswith("backbone.encoder") and p.grad is not None]
    assert backbone and sum(float(g.norm()) for g in backbone) > 0
    model.zero_grad()
    anchor, positive = output.views("projection")
    sum(objective(anchor, positive, output).values()).backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


def test_token_weights_formula_and_round_trip(tmp_path):
    counts = {5: 100, 6: 10, 7: 1}
    weights = token_weights(counts, vocab_size=9, theta=0.1)
    assert weights[5].item() == pytest.approx(0.1)  # the most frequent token falls to theta
    assert weights[6].item() == pytest.approx(1 - math.log(11) / math.log(101))
    assert weights[7].item() == pytest.approx(1 - math.log(2) / math.log(101))
    assert weights[0].item() == 1.0  # unseen
    (tmp_path / TOKEN_COUNTS_FILE).write_text(token_counts_text(counts, "abc"))
    assert load_token_counts(tmp_path, "abc") == counts
    assert load_token_counts(tmp_path, "other") is None
    (tmp_path / "token_counts.json").write_text("{broken")
    with pytest.raises(ValueError, match="corrupted"):
        load_token_counts(tmp_path)


def test_count_tokens_skips_special_tokens():
    tokenizer = tiny_tokenizer()
    counts = count_tokens(["the cat", "the"], tokenizer, max_length=8)
    the, cat = tokenizer.convert_tokens_to_ids(["the", "cat"])
    assert counts == {the: 2, cat: 1}


def test_reshaped_positive_and_recse_objective_match_reference():
    torch.manual_seed(2)
    h1, h2, r = torch.randn(5, 4), torch.randn(5, 4), torch.randn(10, 4)
    gathered = {"reshaped": (r[:5], r[5:])}
    got = ReshapedPositive(0.1)(h1, h2, None, gathered)["reshape"].item()
    expected = 0.5 * (reference_info_nce(h1, r[:5], 0.1) + reference_info_nce(h2, r[5:], 0.1))
    assert got == pytest.approx(expected, rel=1e-5)
    config = ReCseModel.config_class(backbone_config=tiny_backbone_config(), lambda_dropout=0.25, temperature=0.2,
                                     reshape_temperature=0.1)
    objective = get_method("recse").build_objective(config)
    assert objective.gathered_outputs == ("reshaped",)
    terms = objective(h1, h2, None, gathered)
    assert terms["reshape"].item() == pytest.approx(expected, rel=1e-5)
    assert terms["infonce"].item() == pytest.approx(0.25 * reference_info_nce(h1, h2, 0.2), rel=1e-5)
    config.lambda_dropout = 0.0
    assert set(get_method("recse").build_objective(config)(h1, h2, None, gathered)) == {"reshape"}
    config.reshape_weight = 0.01  # the official repository's weight of the term
    weighted = get_method("recse").build_objective(config)(h1, h2, None, gathered)["reshape"]
    assert weighted.item() == pytest.approx(0.01 * expected, rel=1e-5)


@pytest.mark.parametrize("source", ["embeddings", "last_hidden"])
def test_detached_reshape_source_stops_the_reshape_term_at_the_head(source):
    """With ``detach_reshape_source``, the reshaped view is the same vector, its gradient trains the reshaping head
    and nothing of the encoder; without it, the term reaches the encoder through r too."""
    tokenizer = tiny_tokenizer()
    batch = tokenizer(["the cat sat on the mat", "a dog", "the big red mat", "a"], padding=True, return_tensors="pt")
    grads, views = {}, {}
    for detach in (False, True):
        torch.manual_seed(0)
        model = tiny_model(ReCseModel, tokenizer, dropout=0.0, reshape_source=source, detach_reshape_source=detach)
        output = model(**batch, return_reshaped=True)
        output.reshaped.square().sum().backward()  # the reshape term's path through r alone
        views[detach] = output.reshaped.detach()
        grads[detach] = {name: p.grad for name, p in model.named_parameters()}
    torch.testing.assert_close(views[True], views[False])
    backbone = [name for name in grads[True] if name.startswith("backbone.")]
    assert backbone and all(grads[True][name] is None for name in backbone)
    assert any(grads[False][name] is not None and grads[False][name].abs().sum() > 0 for name in backbone)
    head = [name for name in grads[True] if name.startswith("reshape_head.")]
    assert head and all(grads[True][name] is not None and grads[True][name].abs().sum() > 0 for name in head)


def test_sarcse_objective_needs_token_weights():
    config = SarcseModel.config_class(backbone_config=tiny_backbone_config())
    with pytest.raises(ValueError, match="token weights"):
        get_method("sarcse").build_objective(config)


# ---------------------------------------------------------------- data
def test_collator_stacks_two_identical_views():
    tokenizer = tiny_tokenizer()
    batch = TwoViewCollator(tokenizer, max_length=6)([{"sentence": "the cat sat on the big red mat"},
                                                      {"sentence": "a"}])
    assert batch["input_ids"].shape == (4, 6)
    assert torch.equal(batch["input_ids"][:2], batch["input_ids"][2:])
    assert batch["attention_mask"][:, 0].all()  # right padding


def test_collator_max_length_must_leave_a_content_token():
    tokenizer = tiny_tokenizer()
    for bad in (0, 1, 2):
        with pytest.raises(ValueError, match=rf"max_length {bad} leaves no content token \(the tokenizer adds 2 "
                                             r"special tokens\): use at least 3"):
            TwoViewCollator(tokenizer, max_length=bad)
    batch = TwoViewCollator(tokenizer, max_length=3)([{"sentence": "the cat"}])
    assert batch["input_ids"].tolist() == [[2, tokenizer.convert_tokens_to_ids("the"), 3]] * 2

    class NoSpecials:  # a tokenizer-like callable without num_special_tokens_to_add: counted on ""
        def __call__(self, text, **kwargs):
            return {"input_ids": [101, 102]}

    with pytest.raises(ValueError, match=r"adds 2 special tokens"):
        TwoViewCollator(NoSpecials(), max_length=2)
    with pytest.raises(TypeError, match=r"max_length must be an int"):
        TwoViewCollator(tokenizer, max_length="32")


# ---------------------------------------------------------------- multi-process equivalence
@pytest.mark.parametrize("method", ["simcse", "recse"])
def test_two_processes_equal_one_process_at_twice_the_batch(tmp_path, method, two_process_launch):
    """One step of two gloo processes at batch 4 (the session's shared launch, tests/conftest.py) equals one step of
    one process at batch 8, trained here in this process."""
    from dist_train_step import train

    assert train(str(tmp_path / "one.safetensors"), 8, method)
    two_path = two_process_launch.folder / f"{method}.safetensors"
    assert two_path.is_file(), two_process_launch.output[-3000:]
    one, two = (json.loads(Path(f"{path}.json").read_text()) for path in (tmp_path / "one.safetensors", two_path))
    assert two["world"] == 2 and one["world"] == 1
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    w1, w2 = load_file(tmp_path / "one.safetensors"), load_file(two_path)
    initial = load_file(tmp_path / "one.safetensors.initial")  # the same run's starting weights
    assert not torch.allclose(w1["mlp.dense.weight"], initial["mlp.dense.weight"]), "the step changed nothing"
    torch.testing.assert_close(load_file(f"{two_path}.initial")["mlp.dense.weight"], initial["mlp.dense.weight"])
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], atol=1e-5, rtol=1e-5, msg=name)


# ---------------------------------------------------------------- resume and NaN
SENTENCES = TRAIN_SENTENCES


def _trainer(tmp_path, model_class=SarcseModel, callbacks=(), loss=None, max_steps=6, device=None, **overrides):
    return tiny_trainer(tmp_path, model_class, max_steps, callbacks, loss, device=device, **overrides)


class InterruptAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_after_interrupt_gives_the_uninterrupted_weights(tmp_path, device):
    full = _trainer(tmp_path / "full", device=device)
    full.train()
    interrupted = _trainer(tmp_path / "cut", callbacks=[InterruptAt(3)], device=device)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    assert (tmp_path / "cut" / "checkpoint-2" / "token_counts.json").is_file()
    resumed = _trainer(tmp_path / "cut", device=device)
    resumed.train(resume_from_checkpoint=str(tmp_path / "cut" / "checkpoint-2"))
    assert resumed.state.global_step == 6
    expected = full.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-6, rtol=0, msg=name)
    logged = [entry for entry in full.state.log_history if "loss" in entry]
    assert {"loss/infonce", "loss/reconstruction", "grad/gd", "grad/ratio"} <= set(logged[0])


def test_nan_loss_says_what_is_on_disk(tmp_path, device):
    probe = _trainer(tmp_path / "p", model_class=SimCseModel)
    early = _trainer(tmp_path / "early", model_class=SimCseModel, loss=NanAfter(probe.loss, 0), device=device)
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written to .* yet"):
        early.train()


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path, device):
    probe = _trainer(tmp_path / "probe", model_class=SimCseModel)
    trainer = _trainer(tmp_path / "run", model_class=SimCseModel, loss=NanAfter(probe.loss, 2), device=device)
    with pytest.raises(NonFiniteLossError,
                       match="non-finite loss at step 2.*the last checkpoint on disk is .*checkpoint-2"):
        trainer.train()
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert (checkpoint / "model.safetensors").is_file()
    SimCseModel.from_pretrained(checkpoint)


@pytest.mark.parametrize("max_grad_norm", [1.0, 0.0])
def test_a_non_finite_gradient_of_a_finite_loss_stops_before_the_weights_change(tmp_path, device, max_grad_norm):
    probe = _trainer(tmp_path / "probe", model_class=SimCseModel)
    trainer = _trainer(tmp_path / "run", model_class=SimCseModel, loss=NanAfter(probe.loss, 2, gradient_only=True),
                       device=device, max_grad_norm=max_grad_norm)
    with pytest.raises(NonFiniteLossError,
                       match="non-finite gradient at step 3 .*the last checkpoint on disk is .*checkpoint-2"):
        trainer.train()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


# ---------------------------------------------------------------- the CLI end to end
def _load_train_script():
    spec = importlib.util.spec_from_file_location("sentcse_train_script", REPO / "examples" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_script_writes_a_self_describing_folder(tmp_path, capsys):
    from cli_runs import dev_dir

    tokenizer = tiny_tokenizer()
    backbone = tmp_path / "backbone"
    BertModel(tiny_backbone_config(vocab_size=len(tokenizer))).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n\n")
    out = tmp_path / "out"
    train = _load_train_script()
    train.main(defaults=train.BUNDLED, argv=[
        "--method", "sarcse", "--backbone", str(backbone), "--train_file", str(corpus), "--output_dir", str(out),
        "--per_device_train_batch_size", "4", "--max_steps", "2", "--eval_steps", "1", "--save_steps", "1",
        "--cnn_channels", "8", "--theta", "0.2", "--report_to", "none",
        "--max_length", "16", "--disable_tqdm", "true", "--dev_dir", str(dev_dir()),  # 150 pairs, scored 5 times
    ])
    printed = capsys.readouterr().out
    raw = [line for line in printed.splitlines() if line.startswith("STS-B dev before training")]
    assert len(raw) == 1 and "(mean pooling)" in raw[0] and "([CLS])" in raw[0], printed[-2000:]
    after = next(line for line in printed.splitlines() if line.startswith("STS-B dev after training"))
    assert raw[0].split(": ", 1)[1] in after  # the raw scores beside the trained one
    card = (out / "README.md").read_text()
    assert "STS-B dev of the untrained backbone" in card and "(mean pooling)" in card
    assert "(untrained backbone: " in card.split("STS-B dev: ", 1)[1].splitlines()[0]  # the headline, beside
    assert "STS-B dev Spearman at steps 1, 2" in card and "alignment / uniformity" in card
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "modeling_sarcse.py", "token_counts.json", "trainer_state.json",
            "tokenizer_config.json"} <= files
    config = json.loads((out / "config.json").read_text())
    assert config["theta"] == 0.2 and config["cnn_channels"] == 8 and config["max_length"] == 16
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["best_metric"] is not None and state["best_model_checkpoint"]
    from transformers import AutoModel

    assert AutoModel.from_pretrained(out).encode(["the cat"]).shape == (1, 32)


def test_loss_term_logs_equal_the_loss_with_gradient_accumulation_and_a_short_last_step(tmp_path):
    """20 sentences, batch 4, 2 accumulation steps: optimizer steps of 2, 2 and 1 micro-batches in one window; the
    logged loss/infonce is the Trainer's loss (a step is the mean of its micro-batches), not a mean over
    micro-batches."""
    trainer = tiny_trainer(tmp_path, SimCseModel, max_steps=-1, num_train_epochs=1, gradient_accumulation_steps=2,
                           logging_steps=3, save_strategy="no")
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry and "loss/infonce" in entry]
    assert logged and trainer.state.global_step == 3
    for entry in logged:
        assert entry["loss/infonce"] == pytest.approx(entry["loss"], rel=1e-3, abs=1e-4)


# ---------------------------------------------------------------- head learning rate and head warm-up
def _split(model):
    backbone = {id(p) for p in model.backbone.parameters()}
    return ({n: p.detach().clone() for n, p in model.named_parameters() if id(p) in backbone},
            {n: p.detach().clone() for n, p in model.named_parameters() if id(p) not in backbone})


def test_head_learning_rate_gives_the_head_its_own_parameter_groups(tmp_path):
    trainer = _trainer(tmp_path, head_learning_rate=3e-2, weight_decay=0.01)
    optimizer = trainer.create_optimizer()
    backbone = {id(p) for p in trainer.model.backbone.parameters()}
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    decays = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert set(rates) == {id(p) for p in trainable}  # every trainable parameter, once
    assert len(rates) == sum(len(group["params"]) for group in optimizer.param_groups)
    assert {rates[id(p)] for p in trainable if id(p) in backbone} == {1e-3}
    assert {rates[id(p)] for p in trainable if id(p) not in backbone} == {3e-2}
    assert {decays[id(p)] for p in trainable} == {0.0, 0.01}  # the Trainer's weight-decay split is kept
    default = _trainer(tmp_path / "default").create_optimizer()
    assert {group["lr"] for group in default.param_groups} == {1e-3} and len(default.param_groups) == 2


def test_head_warmup_freezes_the_backbone_and_trains_the_head(tmp_path):
    trainer = _trainer(tmp_path, max_steps=3, head_warmup_steps=2, weight_decay=0.01)
    before_backbone, before_head = _split(trainer.model)
    seen = []

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen.append(_split(trainer.model))

    trainer.add_callback(Snapshot())
    trainer.train()
    for step in (0, 1):  # warm-up: the backbone exactly as it was, the head moving
        assert all(torch.equal(seen[step][0][n], before_backbone[n]) for n in before_backbone), step
        assert any(not torch.equal(seen[step][1][n], before_head[n]) for n in before_head), step
    assert any(not torch.equal(seen[2][0][n], before_backbone[n]) for n in before_backbone)  # then both
    assert trainer.state.global_step == 3


def test_resume_in_the_middle_of_the_head_warmup_is_exact(tmp_path):
    options = dict(max_steps=6, head_warmup_steps=3, head_learning_rate=3e-3)
    full = _trainer(tmp_path / "full", **options)
    full.train()
    interrupted = _trainer(tmp_path / "cut", callbacks=[InterruptAt(3)], **options)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    resumed = _trainer(tmp_path / "cut", **options)
    resumed.train(resume_from_checkpoint=str(tmp_path / "cut" / "checkpoint-2"))
    expected = full.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-6, rtol=0, msg=name)


@pytest.mark.parametrize("options, message", [
    ({"head_learning_rate": 0.0}, "--head_learning_rate must be a finite number > 0"),
    ({"head_learning_rate": float("nan")}, "--head_learning_rate must be a finite number > 0"),
    ({"head_warmup_steps": 6}, "--head_warmup_steps must be >= 0 and below --max_steps"),
    ({"head_warmup_steps": -1}, "--head_warmup_steps must be >= 0"),
])
def test_head_options_refuse_values_that_train_nothing(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        _trainer(tmp_path, **options)


class NanGradientAt(torch.nn.Module):
    """The objective whose gradient is NaN at the given calls only (an fp16 overflow step)."""

    gathered_outputs = ()

    def __init__(self, objective, calls):
        super().__init__()
        self.objective, self.calls, self.count = objective, set(calls), 0
        self.contrastive = objective.contrastive

    def forward(self, anchor, positive, output=None, gathered=None):
        self.count += 1
        if self.count in self.calls:
            anchor = _NanGradient.apply(anchor)
        return self.objective(anchor, positive, output, gathered)


def _scaled_trainer(tmp_path, calls, max_steps):
    """A trainer whose accelerator has a GradScaler (fp16's, forced on the CPU), its gradient NaN at ``calls``."""
    probe = _trainer(tmp_path / "probe", model_class=SimCseModel)
    trainer = _trainer(tmp_path / "run", model_class=SimCseModel, loss=NanGradientAt(probe.loss, calls),
                       max_steps=max_steps, save_steps=100)
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    return trainer


def test_fp16_scaler_skips_an_overflow_step_and_training_goes_on(tmp_path):
    trainer = _scaled_trainer(tmp_path, calls={2}, max_steps=4)
    trainer.train()
    assert trainer.state.global_step == 4
    assert trainer.accelerator.scaler.get_scale() == 2.0**15  # the scaler halved its scale once: it saw the overflow
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_fp16_scaler_stops_after_too_many_skipped_steps_in_a_row(tmp_path):
    from sentcse.trainers.guards import MAX_SKIPPED_STEPS

    trainer = _scaled_trainer(tmp_path, calls=range(2, 100), max_steps=MAX_SKIPPED_STEPS + 5)
    with pytest.raises(NonFiniteLossError, match=f"non-finite gradient at {MAX_SKIPPED_STEPS} steps in a row "
                                                 f"\\(steps 2-{MAX_SKIPPED_STEPS + 1}\\), skipped by the fp16 "
                                                 "GradScaler"):
        trainer.train()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_the_trainer_takes_its_objective_as_loss(tmp_path):
    from sentcse.trainers.trainer import CseTrainer

    trainer = _trainer(tmp_path, model_class=SimCseModel)
    assert trainer.loss.contrastive.temperature == trainer.model.config.temperature
    with pytest.raises(TypeError, match=r"CseTrainer takes the training objective as loss=\.\.\., not objective="):
        CseTrainer(model=trainer.model, args=trainer.args, objective=trainer.loss)
