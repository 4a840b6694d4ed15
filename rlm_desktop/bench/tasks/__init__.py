"""Benchmark tasks, deterministic by seed: one generator per kind of corpus, shared by
``bench quality`` (needle, aggregation, code QA) and ``bench dev`` (the six families of
the development set). A task names its question, its ground truth (computed by code) and
the corpus it runs on; a corpus is written into a folder only when a runner needs it."""

from rlm_desktop.bench.tasks.base import CHARS_PER_TOKEN, Corpus, Task
from rlm_desktop.bench.tasks.suites import (
    DEV_FAMILIES,
    QUALITY_FAMILIES,
    dev_tasks,
    first_per_size,
    quality_plan,
    quality_tasks,
)

__all__ = [
    "CHARS_PER_TOKEN",
    "Corpus",
    "DEV_FAMILIES",
    "QUALITY_FAMILIES",
    "Task",
    "dev_tasks",
    "first_per_size",
    "quality_plan",
    "quality_tasks",
]
