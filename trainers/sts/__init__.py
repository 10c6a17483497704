"""STS evaluation in the SentEval / SimCSE protocol (METHODS.md section 4).

Tasks (``ALL_TASKS``): ``STS12`` ... ``STS16`` in SimCSE's "all" setting (ONE Spearman over every sub-dataset's
pairs concatenated; the per-subset scores are kept in ``TaskResult.subsets``), ``STSBenchmark`` and
``SICKRelatedness`` (test splits), and ``STSBenchmark-dev``, the only split used for model selection (the Trainer
scores ``sts_pairs_dataset(load_sts_task(DEV_TASK, ...))``). Also loadable: ``STSBenchmark-train``,
``SICKRelatedness-train``, ``SICKRelatedness-dev`` (SICK_trial.txt).

Scores are cosine similarities of the model's embeddings; Spearman and Pearson are reported x100. A model is
anything with ``encode(sentences, batch_size=..., show_progress_bar=..., convert_to_numpy=True)`` returning an
``(N, d)`` array, or a plain callable ``sentences -> (N, d) array``; each unique sentence of a task is encoded once.

Data come from a SentEval-layout folder (``source="senteval"``: ``sts_dir=...``, else ``default_sts_dir()``) or
from the Hugging Face Hub (``source="hub"``: the ``mteb/*-sts`` datasets; see ``HUB_DATASETS``).

Modules: ``tasks`` (names, aliases, counts), ``loading`` (readers, cache), ``evaluator`` (scoring), ``report``
(tables, the seven-task average), ``encoders`` (loading a model to evaluate).
"""

from .encoders import RAW_POOLERS, load_encoder, raw_backbone_results
from .evaluator import (
    StsEvaluator,
    StsResults,
    SubsetResult,
    TaskResult,
    alignment,
    correlations,
    cosine_pairs,
    geometry,
    uniformity,
)
from .loading import (
    DEV_FILE_TASK,
    StsPairs,
    StsTask,
    available_tasks,
    clear_cache,
    default_sts_dir,
    load_pairs_file,
    load_sts_task,
    sts_pairs_dataset,
)
from .report import format_subsets, format_table
from .tasks import (
    ALL_TASKS,
    DEFAULT_TASKS,
    DEV_TASK,
    EXPECTED_N_PAIRS,
    HUB_DATASETS,
    STS_SUBSETS,
    TABLE_COLUMNS,
    TEST_TASKS,
    canonical_task,
    seven_task_average,
)

__all__ = [
    "ALL_TASKS",
    "DEV_FILE_TASK",
    "DEFAULT_TASKS",
    "DEV_TASK",
    "EXPECTED_N_PAIRS",
    "HUB_DATASETS",
    "RAW_POOLERS",
    "STS_SUBSETS",
    "TABLE_COLUMNS",
    "TEST_TASKS",
    "StsEvaluator",
    "StsPairs",
    "StsResults",
    "StsTask",
    "SubsetResult",
    "TaskResult",
    "available_tasks",
    "canonical_task",
    "clear_cache",
    "alignment",
    "correlations",
    "cosine_pairs",
    "geometry",
    "uniformity",
    "default_sts_dir",
    "format_subsets",
    "format_table",
    "load_encoder",
    "load_pairs_file",
    "load_sts_task",
    "raw_backbone_results",
    "seven_task_average",
    "sts_pairs_dataset",
]
