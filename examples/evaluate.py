#!/usr/bin/env python
"""Evaluate a sentence encoder on the STS tasks: ``sentcse-evaluate`` (see ``--help``).

    python examples/evaluate.py MODEL [--tasks ...] [--pooler ...] [--sts_dir ...] [--batch_size N] [--output JSON]
    python examples/evaluate.py CHECKPOINT_FOLDER --write_card [--hub_model_id USER/NAME]
"""

from sentcse.trainers.cli.evaluate import main

if __name__ == "__main__":
    main()
