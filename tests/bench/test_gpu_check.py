"""The prepared GPU check runs its whole code path on CPU at tiny sizes (``--dry_run``), so a device call finds
no error a CPU could have found: every stage ends with figures, none with an error."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run_writes_every_stage(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.gpu.gpu_check", "--dry_run", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    stages = results["stages"]
    assert set(stages) == {"environment", "suite", "steps", "buckets", "quality"}
    for name, record in stages.items():
        assert "error" not in record and "skipped" not in record, (name, record)
    assert stages["suite"]["returncode"] == 0
    runs = stages["steps"]["runs"]
    assert {key.rsplit("/", 1)[1] for key in runs} == {"simcse", "sarcse", "recse", "st-mnrl"}
    for key, record in runs.items():
        assert "error" not in record and record["seconds"]["n"] == 2 and record["flops_per_step"] > 0, (key, record)
    assert {"length_buckets_1", "length_buckets_4"} == set(stages["buckets"]) - {"seconds"}
    assert all(stages["quality"][m]["steps"] == 2 for m in ("simcse", "sarcse", "recse"))
    assert (tmp_path / "gpu_check.log").is_file()
