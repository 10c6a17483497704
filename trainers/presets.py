"""Training recipes, one home for all of them: the gradient-paradigm paper's presets, the bundled offline default's
recipe, and the training budgets of the quality benchmarks.

``PRESETS``: the gradient-paradigm paper's training settings (arXiv 2402.18281, official scripts; METHODS.md
section 3). ``--preset NAME`` sets the objective, its hyperparameters, the MLP head layout, frozen embeddings and the
batch / learning rate / evaluation interval of that row, as defaults: a flag given explicitly wins. Pass the
backbone yourself (``--backbone bert-base-uncased`` or ``roberta-base``); every other flag still applies. Common to
all: max length 32, 1 epoch, seed 42, pooler cls.

``BUNDLED_RECIPE``: the training values examples/train.py adds to its bundled data (the budget measured on the
bundled backbone). ``TRAINING_BUDGETS``: the budgets ``bench.quality --budget NAME`` compares, Trainer settings on
top of a run's steps and batch.
"""


_BERT = {"mlp_activation": "none", "per_device_train_batch_size": 128, "eval_steps": 125}
_ROBERTA = {"mlp_activation": "tanh_first", "per_device_train_batch_size": 512, "eval_steps": 50}


def _row(family, objective, variant, learning_rate, temperature=None, **objective_kwargs):
    row = {**family, "objective": objective, "objective_variant": variant, "learning_rate": learning_rate,
           "objective_kwargs": objective_kwargs}
    return row if temperature is None else {**row, "temperature": temperature}


PRESETS = {
    "bert-orig-barlow_twins": _row(_BERT, "barlow_twins", "orig", 1e-5, lambda_=30.0),
    "bert-orig-vicreg": _row(_BERT, "vicreg", "orig", 1e-5, lambda_=30.0),
    "bert-orig-mhe": _row(_BERT, "mhe", "orig", 1e-5, lambda_=10.0),
    "bert-orig-mhs": _row(_BERT, "mhs", "orig", 5e-6, lambda_=1.0),
    "bert-mod-barlow_twins": _row(_BERT, "barlow_twins", "mod", 1e-5,
                                  lambda_=1.0, margin=0.30, temperature=0.05, ratio=1.50),
    "bert-mod-vicreg": _row(_BERT, "vicreg", "mod", 1e-5, lambda_=1.0, margin=0.30, temperature=0.05, ratio=1.50),
    "bert-mod-mhe": _row(_BERT, "mhe", "mod", 1e-5, lambda_=1.0, margin=0.30, temperature=0.05, ratio=1.75),
    "bert-mod-mhs": _row(_BERT, "mhs", "mod", 1e-5, lambda_=1.0, margin=0.30, ratio=1.75),
    "roberta-orig-barlow_twins": _row(_ROBERTA, "barlow_twins", "orig", 1e-6, lambda_=30.0),
    "roberta-orig-vicreg": _row(_ROBERTA, "vicreg", "orig", 1e-6, lambda_=30.0),
    "roberta-orig-mhe": _row(_ROBERTA, "mhe", "orig", 1e-6, lambda_=10.0),
    "roberta-orig-mhs": _row(_ROBERTA, "mhs", "orig", 1e-6, lambda_=1.0),
    "roberta-mod-barlow_twins": _row(_ROBERTA, "barlow_twins", "mod", 1e-5,
                                     lambda_=1.0, margin=0.37, temperature=0.05, ratio=1.25),
    "roberta-mod-vicreg": _row(_ROBERTA, "vicreg", "mod", 1e-5, lambda_=1.0, margin=0.37, temperature=0.05, ratio=1.25),
    "roberta-mod-mhe": _row(_ROBERTA, "mhe", "mod", 1e-5, lambda_=1.0, margin=0.30, temperature=0.05, ratio=1.25),
    "roberta-mod-mhs": _row(_ROBERTA, "mhs", "mod", 1e-5, lambda_=1.0, margin=0.27, ratio=1.00),
}


def preset_defaults(name: str) -> dict:
    """Preset ``name`` as argument defaults (model and training fields by name): flags given explicitly override
    them. Every preset uses the cls pooler with frozen embeddings (and, by default, saves at each evaluation)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    values = dict(PRESETS[name])
    return {**values, "pooler": "cls", "freeze_embeddings": True}


# The quality benchmark's training budgets (bench.quality --budget NAME), on top of its steps and batch. They are
# passed as flags after a run's own, so a budget's learning rate overrides a preset's. "default" keeps the Trainer's
# defaults (gradient clipping at 1.0) and each run's own learning rate.
TRAINING_BUDGETS = {
    "default": {},
    "noclip": {"max_grad_norm": 0.0},
    "noclip_lr1e-5": {"max_grad_norm": 0.0, "learning_rate": 1e-5},
    "noclip_lr3e-6": {"max_grad_norm": 0.0, "learning_rate": 3e-6},
    "noclip_lr1e-4": {"max_grad_norm": 0.0, "learning_rate": 1e-4},
    "noclip_warmup": {"max_grad_norm": 0.0, "warmup_steps": 0.1},
    "noclip_lr1e-5_warmup": {"max_grad_norm": 0.0, "learning_rate": 1e-5, "warmup_steps": 0.1},
}

# The offline default (examples/train.py, bash scripts/train.sh) on the bundled backbone and 4,000-sentence sample:
# the budget "noclip_lr1e-5", measured on that backbone (no gradient clipping and lr 1e-5, where SimCSE's STS-B dev
# rises and holds instead of peaking at the first evaluation: BENCHMARKS.md 5d); dev every 10 of the 62 steps, one
# checkpoint kept.
BUNDLED_RECIPE = {**TRAINING_BUDGETS["noclip_lr1e-5"], "eval_steps": 10, "save_total_limit": 1}
