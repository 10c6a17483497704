#!/usr/bin/env python
"""Train a sentcse model (SimCSE, SARCSE or reCSE) on unlabeled sentences: ``sentcse-train`` with the bundled
offline data as defaults.

    accelerate launch examples/train.py                      # offline default: SARCSE on the bundled data
    accelerate launch examples/train.py --method recse --backbone bert-base-uncased --train_file wiki1m.txt
    python examples/train.py config.yaml                      # every flag from a YAML/JSON file

The chosen method's config fields are flags (``--method sarcse --help`` lists them); so is every transformers
TrainingArguments field. The output folder is Hub-ready: config, safetensors, tokenizer, code files, the method's
files (SARCSE: token counts), logs, a model card (README.md) with training_curve.png, and the
sentence-transformers files. --push_to_hub [--hub_model_id NAME] uploads that folder once, at the end.
"""

from pathlib import Path

from sentcse.trainers.cli.train import main
from sentcse.trainers.presets import BUNDLED_RECIPE

DATA = Path(__file__).resolve().parent / "data"
# The bundled data (beside this file) and the training recipe measured on it (trainers/presets.py).
BUNDLED = {
    "backbone": str(DATA / "bert-mini-wiki-mlm50m"),
    "train_file": str(DATA / "wiki-sample-4k.txt.gz"),
    "dev_dir": str(DATA / "stsb"),
    **BUNDLED_RECIPE,
}

if __name__ == "__main__":
    main(defaults=BUNDLED)
