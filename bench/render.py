#!/usr/bin/env python
"""Re-render the BENCHMARKS.md sections from the JSON results already in bench/results/ (no measurement).

    python -m bench.render
"""

import importlib
import json

from bench.common import RESULTS, update_section

SECTIONS = {  # section name -> (module under bench, JSON file)
    "train_speed": ("train_speed", "train_speed.json"),
    **{f"profile_train_step_{name}": ("studies.profile_train_step", f"profile_train_step_{name}.json")
       for name in ("bert-mini-wiki", "all-MiniLM-L6-v2", "bert-mini-wiki_compile")},
    "method_overhead": ("method_overhead", "method_overhead.json"),
    "profile_sarcse": ("studies.profile_sarcse", "profile_sarcse.json"),
    "objective_gradients": ("studies.objective_gradients", "objective_gradients.json"),
    "recse_memory": ("recse_memory", "recse_memory.json"),
    "encode_speed": ("encode_speed", "encode_speed.json"),
    "bf16_speed": ("bf16_speed", "bf16_speed.json"),
}


def main():
    for section, (module, filename) in SECTIONS.items():
        path = RESULTS / filename
        if path.is_file():
            update_section(section, importlib.import_module(f"bench.{module}").markdown(json.loads(path.read_text())))
    from bench import quality

    quality.write_table(quality.parse_args(["--table"]))
    for folder in sorted(RESULTS.glob("quality_*/")):  # other backbones' grids (quality.py --tag)
        quality.write_table(quality.parse_args(["--table", "--tag", folder.name[len("quality_"):]]))


if __name__ == "__main__":
    main()
