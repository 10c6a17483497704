"""Tiny randomly initialised backbones, a word-piece tokenizer and the other helpers the tests share, built offline."""

import string
import textwrap

import torch
from transformers import BertConfig, BertTokenizer, RobertaConfig

WORDS = ("the a an of and to in is was for on with as by at from cat dog sat mat run fast slow big small red "
         "blue").split()


def tiny_tokenizer() -> BertTokenizer:
    """A lower-casing WordPiece tokenizer whose vocabulary covers every ASCII letter and digit."""
    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + pieces + ["##" + p for p in pieces]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(vocab))}
    return BertTokenizer(vocab=vocab, model_max_length=64)


def tiny_backbone_config(family: str = "bert", vocab_size: int = 128, dropout: float = 0.1):
    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=72,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    if family == "bert":
        return BertConfig(**common)
    if family == "roberta":
        # pad id 0 to match the tiny BERT-style tokenizer; positions then start at 1 (RoBERTa's offset).
        return RobertaConfig(pad_token_id=0, bos_token_id=2, eos_token_id=3, **common)
    raise ValueError(family)


def tiny_model(model_class, tokenizer, family: str = "bert", dropout: float = 0.1, device=None, **config_kwargs):
    """A randomly initialised ``model_class`` on a tiny backbone, in eval mode, on ``device`` (default: CPU; tests
    pass the ``device`` fixture, so that ``pytest --device cuda`` runs them on a GPU). The weights are drawn on the
    CPU first, so that a seed gives the same model on every device."""
    head_defaults = {"cnn_channels": 16} if model_class.config_class.model_type == "sarcse" else {}
    config = model_class.config_class(
        backbone_config=tiny_backbone_config(family, vocab_size=len(tokenizer), dropout=dropout),
        **{**head_defaults, **config_kwargs},
    )
    model = model_class(config)
    model.tokenizer = tokenizer
    if device is not None:
        model.to(device)
    return model.eval()


def save_tiny_backbone(folder):
    """A tiny random BERT and its tokenizer saved in ``folder`` (a backbone the CLI can load); returns the folder."""
    from transformers import BertModel

    tokenizer = tiny_tokenizer()
    BertModel(tiny_backbone_config(vocab_size=len(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class NanAfter(torch.nn.Module):
    """Wraps an objective and makes its terms NaN from call ``calls + 1`` on (a run that diverges); with
    ``gradient_only`` the terms stay finite and only their gradient is NaN."""

    gathered_outputs = ()

    def __init__(self, objective, calls, gradient_only: bool = False):
        super().__init__()
        self.objective, self.calls, self.count, self.gradient_only = objective, calls, 0, gradient_only
        self.contrastive = objective.contrastive

    def forward(self, anchor, positive, output=None, gathered=None):
        self.count += 1
        diverged = self.count > self.calls
        if diverged and self.gradient_only:
            anchor = _NanGradient.apply(anchor)
        terms = self.objective(anchor, positive, output, gathered)
        if diverged and not self.gradient_only:
            terms = {name: value * float("nan") for name, value in terms.items()}
        return terms


class _NanGradient(torch.autograd.Function):
    """The identity whose gradient is NaN."""

    @staticmethod
    def forward(ctx, tensor):
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


TRAIN_SENTENCES = [f"the {a} {b} sat on the mat" for a in "big small red blue".split()
                   for b in "cat dog fast slow run".split()]


def tiny_trainer(tmp_path, model_class, max_steps: int, callbacks=(), loss=None, device=None, **overrides):
    """A CseTrainer of a tiny ``model_class`` on ``TRAIN_SENTENCES`` (batch 4, a checkpoint every 2 steps, seed 7;
    ``overrides`` are more TrainingArguments), with its method's objective unless ``objective`` is given."""
    from sentcse.trainers.builder import build_trainer
    from sentcse.trainers.data import Corpus
    from sentcse.trainers.trainer import CseTrainingArguments

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = tiny_model(model_class, tokenizer, max_length=12, device=device).train()
    args = dict(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=max_steps, save_steps=2,
        eval_strategy="no", load_best_model_at_end=False, save_total_limit=None, report_to="none", logging_steps=1,
        use_cpu=device is None or device.type == "cpu", learning_rate=1e-3, disable_tqdm=True, seed=7,
    )
    args.update(overrides)
    return build_trainer(model, CseTrainingArguments(**args), Corpus.from_sentences(TRAIN_SENTENCES).dataset,
                         sentences=TRAIN_SENTENCES, tokenizer=tokenizer, loss=loss, callbacks=callbacks)


def hide_sentcse(repo) -> str:
    """Python source that leaves a fresh interpreter unable to import sentcse (a meta-path finder refuses its
    packages, and the checkout leaves sys.path): the start of a script that checks a saved folder loads from its own
    code files."""
    return textwrap.dedent(
        f"""
        import importlib.abc, sys

        class BlockSentcse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("modeling", "trainers"):
                    raise ImportError("sentcse is hidden from this process: " + name)

        sys.meta_path.insert(0, BlockSentcse())
        sys.path = [p for p in sys.path
                    if p != {str(repo)!r} and not p.startswith({str(repo) + "/"!r}) and p not in ("", ".")]
        """
    )
