"""The file names of a sentcse output folder, and reading / writing its JSON files."""

import json
from pathlib import Path
from typing import Any

from ..sts.tasks import DEV_METRIC

CARD_FILE = "README.md"
CURVE_FILE = "training_curve.png"
# What the card says about the run (a RunRecord), saved once; uploaded with the card.
TRAINING_INFO_FILE = "training_info.json"
RECORD_FILE = TRAINING_INFO_FILE
STS_RESULTS_FILE = "sts_results.json"
TRAINER_STATE_FILE = "trainer_state.json"
# The run's record (sentcse-train): local state for resume and overwrite, never uploaded.
RUN_FILE = "sentcse_run.json"
# The Trainer's metric name for the final / per-step STS-B dev Spearman x100.
DEV_METRIC_KEY = f"eval_{DEV_METRIC}"


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any, **kwargs) -> Path:
    """Write ``data`` as indented JSON with a final newline; ``kwargs`` go to ``json.dumps``."""
    path = Path(path)
    path.write_text(json.dumps(data, indent=2, **kwargs) + "\n", encoding="utf-8")
    return path
