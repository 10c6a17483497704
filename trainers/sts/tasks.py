"""The STS tasks: their names and aliases, STS12-16's sub-datasets, SentEval's pair counts and the Hub sources."""

from collections.abc import Mapping

# The model-selection metric: STS-B dev Spearman x 100, as the Trainer logs it (``eval_`` + this).
DEV_METRIC = "stsb_spearman"

# Sub-datasets per year, as SentEval's STS12Eval ... STS16Eval define them (order kept).
STS_SUBSETS: dict[str, tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}

# The seven test tasks of the papers' tables, in their column order, with the column names.
TEST_TASKS: tuple[str, ...] = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness")
TABLE_COLUMNS: dict[str, str] = {
    "STS12": "STS12",
    "STS13": "STS13",
    "STS14": "STS14",
    "STS15": "STS15",
    "STS16": "STS16",
    "STSBenchmark": "STS-B",
    "SICKRelatedness": "SICK-R",
}
DEV_TASK = "STSBenchmark-dev"
# What StsEvaluator scores by default: the seven test tasks plus the model-selection split.
DEFAULT_TASKS: tuple[str, ...] = TEST_TASKS + (DEV_TASK,)
ALL_TASKS: tuple[str, ...] = TEST_TASKS + (
    DEV_TASK,
    "STSBenchmark-train",
    "SICKRelatedness-dev",
    "SICKRelatedness-train",
)

# Pair counts of SentEval's files (blank gold lines skipped); a mismatch is logged as a warning.
EXPECTED_N_PAIRS: dict[str, int] = {
    "STS12": 3108,
    "STS13": 1500,
    "STS14": 3750,
    "STS15": 3000,
    "STS16": 1186,
    "STSBenchmark-train": 5749,
    "STSBenchmark-dev": 1500,
    "STSBenchmark": 1379,
    "SICKRelatedness-train": 4500,
    "SICKRelatedness-dev": 500,
    "SICKRelatedness": 4927,
}

# Accepted spellings (case-insensitive) -> canonical task name.
_ALIASES: dict[str, str] = {
    "sts-b": "STSBenchmark",
    "stsb": "STSBenchmark",
    "stsbenchmark-test": "STSBenchmark",
    "sts-b-test": "STSBenchmark",
    "stsb-test": "STSBenchmark",
    "sts-b-dev": DEV_TASK,
    "stsb-dev": DEV_TASK,
    "sts-b-train": "STSBenchmark-train",
    "stsb-train": "STSBenchmark-train",
    "sick-r": "SICKRelatedness",
    "sickr": "SICKRelatedness",
    "sick": "SICKRelatedness",
    "sickrelatedness-test": "SICKRelatedness",
    "sick-r-test": "SICKRelatedness",
    "sick-r-dev": "SICKRelatedness-dev",
    "sickrelatedness-trial": "SICKRelatedness-dev",
    "sick-r-train": "SICKRelatedness-train",
}
_ALIASES.update({name.lower(): name for name in ALL_TASKS})

# source="hub": (dataset id, split). The mteb STS12-16 sets hold the concatenated test pairs without the
# sub-dataset name, so only the "all" score exists for them. mteb/sickr-sts's test split is the WHOLE SICK
# corpus (9,927 pairs), not SentEval's 4,927-pair test split: its SICK-R figure is not comparable to the papers'.
HUB_DATASETS: dict[str, tuple[str, str]] = {
    "STS12": ("mteb/sts12-sts", "test"),
    "STS13": ("mteb/sts13-sts", "test"),
    "STS14": ("mteb/sts14-sts", "test"),
    "STS15": ("mteb/sts15-sts", "test"),
    "STS16": ("mteb/sts16-sts", "test"),
    "STSBenchmark": ("mteb/stsbenchmark-sts", "test"),
    "STSBenchmark-dev": ("mteb/stsbenchmark-sts", "validation"),
    "STSBenchmark-train": ("mteb/stsbenchmark-sts", "train"),
    "SICKRelatedness": ("mteb/sickr-sts", "test"),
}


def canonical_task(name: str) -> str:
    """Map a task name or alias (``STS-B``, ``sick-r``, ``stsb-dev``, ...) to its canonical name."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown STS task {name!r}; choose from {list(ALL_TASKS)} (aliases: STS-B, SICK-R, stsb-dev)")
    return _ALIASES[key]


def seven_task_average(scores: Mapping[str, float]) -> float | None:
    """Mean Spearman over the seven ``TEST_TASKS`` (``scores`` keyed by canonical task name); None unless all
    seven are present."""
    if not all(t in scores for t in TEST_TASKS):
        return None
    return float(sum(scores[t] for t in TEST_TASKS) / len(TEST_TASKS))
