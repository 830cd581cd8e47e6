"""``tune(recipe, options)``: random hyperparameter search, each trial a normal run, resumable.

The Pandora study searched learning rate, dense width and dropout at random (Bergstra & Bengio:
random search beats a grid when few hyperparameters matter). A search space is YAML, one dotted
config key per line, with a list of choices or a range::

    optim.lr: {low: 1.0e-5, high: 1.0e-2, log: true}
    model.hidden: [[300], [650]]
    model.dropout: {low: 0.3, high: 0.8}

Trial ``i`` draws its values from ``Random(f"{seed}:{i}")`` alone, so a killed search continues with
the same trials: finished ones (``trial-NNN/report.json``) are kept, an interrupted one resumes
from its checkpoint, and asking for more trials later only adds new ones. At the end:
``leaderboard.csv`` / ``leaderboard.md`` (best validation accuracy first) and ``best-model/``
(a copy of the best trial's bundle). Finished trials drop their checkpoints and cached features to
save disk; their reports, evaluation and bundle stay.

A search folder holds one search: ``search.json`` records the recipe, space, seed and every setting
that makes a trial what it is (data, subset, epochs, input size, weights, ``--set`` keys ...), and
continuing it with any of them changed is refused, naming the setting. Only ``--trials`` may grow.
"""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ArtlensError, yaml_error
from ..evaluate.metrics import accuracy_interval, format_interval
from ..outputs import output_dir
from ..train.distributed import is_main_process
from .recipe import Recipe, list_recipes, load_recipe
from .reproduce import ReproduceOptions, build_config

__all__ = ["TuneOptions", "TuneResult", "load_space", "sample_trial", "tune"]


@dataclass
class TuneOptions:
    """A search: how many trials, over which space, plus the run options shared by every trial."""

    trials: int = 10
    space: dict[str, Any] = field(default_factory=dict)
    """Dotted key -> list of choices or ``{low, high, log}``; empty = the recipe's own ``space``."""
    seed: int = 0
    run: ReproduceOptions = field(default_factory=ReproduceOptions)
    """Data, subset, epochs, ...; ``run.out`` is the search folder (default ``runs/tune-<recipe>``)."""


@dataclass
class TuneResult:
    out: Path
    leaderboard: list[dict[str, Any]]
    best: Path | None
    ran: list[int]
    """Trials run (or resumed) by this call; the others were already finished."""


def load_space(path: str | Path) -> dict[str, Any]:
    """Read and check a search-space YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ArtlensError(f"{path}: search space file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise yaml_error(path, err) from None
    try:
        return check_space(raw)
    except ArtlensError as err:
        raise ArtlensError(f"{path}: {err}") from None


def check_space(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise ArtlensError("a search space maps config keys (optim.lr) to choices or {low, high, log}")
    for key, spec in raw.items():
        if isinstance(spec, list):
            if not spec:
                raise ArtlensError(f"{key}: empty list of choices")
            continue
        if not isinstance(spec, dict) or set(spec) - {"low", "high", "log"} or not {"low", "high"} <= set(spec):
            raise ArtlensError(f"{key}: expected a list of choices or {{low, high, log}}, got {spec!r}")
        low, high = spec["low"], spec["high"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
            raise ArtlensError(f"{key}: low and high must be numbers with low <= high, got {low!r}, {high!r}")
        if spec.get("log") and low <= 0:
            raise ArtlensError(f"{key}: a log range needs low > 0, got {low!r}")
    return dict(raw)


def sample_trial(space: dict[str, Any], seed: int, trial: int) -> dict[str, Any]:
    """The values of trial ``trial``: depends only on (space, seed, trial), never on earlier trials."""
    rng = random.Random(f"{seed}:{trial}")
    values = {}
    for key in sorted(space):
        spec = space[key]
        if isinstance(spec, list):
            values[key] = spec[rng.randrange(len(spec))]
            continue
        low, high = spec["low"], spec["high"]
        x = math.exp(rng.uniform(math.log(low), math.log(high))) if spec.get("log") else rng.uniform(low, high)
        values[key] = round(x) if isinstance(low, int) and isinstance(high, int) else float(f"{x:.4g}")
    return values


def tune(recipe: str | Path | Recipe, opts: TuneOptions, *, show_progress: bool = True) -> TuneResult:
    """Run (or continue) a random search; return the leaderboard, best first."""
    from ..train import fit

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if not opts.space and not recipe.space:
        with_space = [n for n in list_recipes() if load_recipe(n).space]
        raise ArtlensError(f"recipe {recipe.name!r} ships no search space; pass --space FILE (recipes with one: "
                           f"{', '.join(with_space)})")
    space = check_space(opts.space or recipe.space)
    if opts.trials < 1:
        raise ArtlensError(f"--trials: {opts.trials} must be >= 1")
    out = Path(opts.run.out or f"runs/tune-{recipe.name}")
    plans = [sample_trial(space, opts.seed, i) for i in range(opts.trials)]
    configs = []
    for i, values in enumerate(plans):  # validate every trial before training any
        run = ReproduceOptions(**{**asdict(opts.run), "out": str(out / f"trial-{i:03d}"),
                                  "overrides": {**opts.run.overrides, **values}})
        configs.append(build_config(recipe, run))
    _check_same_search(out, recipe.name, space, opts.seed, trial_settings(configs[0].to_dict(), space))
    ran = []
    for i, cfg in enumerate(configs):
        trial_dir = Path(cfg.out)
        if (trial_dir / "report.json").is_file():
            continue
        cfg.resume = (trial_dir / "checkpoint.pt").is_file()
        main = is_main_process()  # under torchrun every process trains each trial; one writes
        if main:
            (trial_dir).mkdir(parents=True, exist_ok=True)
            (trial_dir / "params.json").write_text(json.dumps(plans[i], indent=2))
        fit(cfg, show_progress=show_progress)
        if main:
            _prune(trial_dir)
        ran.append(i)
    board = leaderboard(out, space)
    best = out / "best-model" if board else None
    if best is not None and is_main_process():
        if best.exists():
            shutil.rmtree(best)
        shutil.copytree(out / board[0]["trial"] / "model", best)
    if is_main_process():
        _write_leaderboard(board, out)
    return TuneResult(out=out, leaderboard=board, best=best, ran=ran)


def _check_same_search(out: Path, recipe: str, space: dict[str, Any], seed: int, trial: dict[str, Any]) -> None:
    """A search folder belongs to one (recipe, space, seed, trial settings): continuing it with another
    would rank trials trained on different data or settings together and pick best-model across them.

    Searches written before the trial settings were recorded (or before a setting existed) have no
    stored value to compare: they are accepted, and the current values recorded.
    """
    meta = json.loads(json.dumps({"recipe": recipe, "space": space, "seed": seed, "trial": trial}))
    path = out / "search.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        for key in ("recipe", "space", "seed"):
            if saved.get(key) != meta[key]:
                raise _other_search(out, key, saved.get(key), meta[key])
        for name, value in meta["trial"].items():
            was = saved.get("trial", {}).get(name, value)
            if was != value:
                raise _other_search(out, name, was, value)
    if is_main_process():
        output_dir(out)
        path.write_text(json.dumps(meta, indent=2))


def _other_search(out: Path, name: str, was: Any, now: Any) -> ArtlensError:
    return ArtlensError(f"{out}: holds a search with a different {name}: {was!r} vs {now!r}; choose another --out")


#: Config keys that say where or how fast a trial runs, not what it is: they may change between calls.
RUN_ONLY = frozenset({"out", "resume", "device", "amp", "cache_dir", "data.num_workers"})

#: Config keys that name a file or folder: ``paintings``, ``paintings/`` and its absolute path are one.
PATH_KEYS = frozenset({"data.path", "model.pretrained"})


def trial_settings(config: dict[str, Any], space: dict[str, Any]) -> dict[str, Any]:
    """What every trial of a search shares, as ``{dotted key: value}``: its config less the searched keys
    and the ``RUN_ONLY`` ones, paths resolved.

    The config is flattened one level (``data.path``, ``epochs``), not down to every leaf, so that a
    dict-valued setting such as ``data.dataset_options`` is compared whole: ``{label: origin}`` against
    ``{}`` is a difference, not a key missing from an older record.
    """
    for key in space:  # varies between trials by design
        config = _without(config, key.split("."))
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):  # a section: data, model, strategy, optim
            flat.update({f"{key}.{name}": v for name, v in value.items()})
        else:
            flat[key] = value
    for name in PATH_KEYS & set(flat):
        if flat[name] and flat[name] not in ("auto", "hub", "none"):
            flat[name] = str(Path(flat[name]).resolve())
    return {k: v for k, v in flat.items() if k not in RUN_ONLY}


def _without(value: Any, keys: list[str]) -> Any:
    """A copy of ``value`` (a nested dict) less the entry at ``keys`` (``["optim", "lr"]``)."""
    if not keys or not isinstance(value, dict) or keys[0] not in value:
        return value
    rest = {k: v for k, v in value.items() if k != keys[0]}
    if len(keys) > 1:
        rest[keys[0]] = _without(value[keys[0]], keys[1:])
    return rest


def _prune(trial_dir: Path) -> None:
    for name in ("checkpoint.pt", "best.safetensors"):
        (trial_dir / name).unlink(missing_ok=True)
    shutil.rmtree(trial_dir / "features", ignore_errors=True)


def leaderboard(out: Path, space: dict[str, Any]) -> list[dict[str, Any]]:
    """Finished trials, best validation accuracy first (test accuracy breaks ties)."""
    rows = []
    for trial_dir in sorted(out.glob("trial-*")):
        report_path = trial_dir / "report.json"
        if not report_path.is_file():
            continue
        report = json.loads(report_path.read_text())
        params = json.loads((trial_dir / "params.json").read_text())
        vals = [r["val_acc"] for r in report["history"] if r.get("val_acc") is not None]
        test = report.get("test", {})
        val_images = sum((report.get("counts") or {}).get("val", {}).values()) or None
        rows.append({"trial": trial_dir.name, **{k: params.get(k) for k in sorted(space)},
                     "val_acc": max(vals) if vals else None, "val_images": val_images,
                     "test_accuracy": test.get("accuracy"),
                     "macro_f1": test.get("macro", {}).get("f1"), "epochs": len(report["history"]),
                     "seconds": report.get("seconds")})
    key = lambda r: (r["val_acc"] if r["val_acc"] is not None else -1,  # noqa: E731
                     r["test_accuracy"] if r["test_accuracy"] is not None else -1)
    return sorted(rows, key=key, reverse=True)


def _write_leaderboard(rows: list[dict[str, Any]], out: Path) -> None:
    if not rows:
        return
    keys = list(rows[0])
    with (out / "leaderboard.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    cell = lambda v: "–" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| rank | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {i + 1} | " + " | ".join(cell(r[k]) for k in keys) + " |" for i, r in enumerate(rows)]
    verdict = winner_margin(rows)
    if verdict:
        lines += ["", verdict]
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")


def winner_margin(rows: list[dict[str, Any]]) -> str | None:
    """How far ahead the best trial is: its validation accuracy's 95 % interval, and how many other
    trials lie inside it (a random search on a few hundred validation images picks its winner by
    luck as much as by setting when several do). ``None`` without a validation score."""
    best = rows[0] if rows else {}
    n, acc = best.get("val_images"), best.get("val_acc")
    if not n or acc is None:
        return None
    low, high = accuracy_interval(acc, n)
    close = [r["trial"] for r in rows[1:] if r.get("val_acc") is not None and r["val_acc"] >= low]
    return (f"{best['trial']}: validation accuracy {acc:.3f} on {n} images (95 % interval {format_interval((low, high))}); "
            + (f"{len(close)} other trial(s) lie inside it ({', '.join(close)}): not told apart from the best."
               if close else "no other trial lies inside it."))
