"""Study recipes: reproduce a published experiment, search its hyperparameters, compare runs.

* :func:`load_recipe` / :func:`list_recipes` — the shipped YAMLs (one per study experiment)
* :func:`reproduce` — train and evaluate one, with the study's numbers beside ours
* :func:`tune` — random search, each trial a normal run, resumable, with a leaderboard
* :func:`compare_runs` — one table and figure across run folders, and per-class differences
"""

from .compare import CompareResult, class_differences, compare_runs, paired_test, run_summary
from .recipe import REPORTED_METRICS, Recipe, StudyInfo, list_recipes, load_recipe, recipe_dir
from .reproduce import ReproduceOptions, ReproduceResult, build_config, reproduce
from .tune import TuneOptions, TuneResult, load_space, sample_trial, tune, winner_margin

__all__ = [
    "REPORTED_METRICS",
    "CompareResult",
    "Recipe",
    "ReproduceOptions",
    "ReproduceResult",
    "StudyInfo",
    "TuneOptions",
    "TuneResult",
    "build_config",
    "class_differences",
    "compare_runs",
    "list_recipes",
    "load_recipe",
    "load_space",
    "paired_test",
    "recipe_dir",
    "reproduce",
    "run_summary",
    "sample_trial",
    "tune",
    "winner_margin",
]
