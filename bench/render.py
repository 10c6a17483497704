#!/usr/bin/env python
"""Re-render the BENCHMARKS.md sections from the JSON results already in bench/results/ (no measurement).

    python -m bench.render
"""

import importlib
import json

from bench.common import RESULTS, update_section  # noqa: E402

SECTIONS = {  # section name -> (module, JSON file)
    "train_speed": ("train_speed", "train_speed.json"),
    "profile_train_step_bert-mini-wiki": ("profile_train_step", "profile_train_step_bert-mini-wiki.json"),
    "profile_train_step_all-MiniLM-L6-v2": ("profile_train_step", "profile_train_step_all-MiniLM-L6-v2.json"),
    "profile_train_step_bert-mini-wiki_compile": ("profile_train_step", "profile_train_step_bert-mini-wiki_compile.json"),
    "method_overhead": ("method_overhead", "method_overhead.json"),
    "profile_sarcse": ("profile_sarcse", "profile_sarcse.json"),
    "objective_gradients": ("objective_gradients", "objective_gradients.json"),
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
