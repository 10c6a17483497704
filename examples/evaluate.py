#!/usr/bin/env python
"""Evaluate a sentence encoder on the STS tasks: ``sentcse-evaluate`` (see ``--help``), with the bundled STS-B
folder as the data when neither --sts_dir nor SENTCSE_STS_DIR names one (it scores the tasks that folder has).

    python examples/evaluate.py MODEL [--tasks ...] [--pooler ...] [--sts_dir ...] [--batch_size N] [--output JSON]
    python examples/evaluate.py CHECKPOINT_FOLDER --write_card [--hub_model_id USER/NAME]
"""

from pathlib import Path

from sentcse.trainers.cli.evaluate import main

BUNDLED = {"sts_dir": str(Path(__file__).resolve().parent / "data" / "stsb")}

if __name__ == "__main__":
    main(defaults=BUNDLED)
