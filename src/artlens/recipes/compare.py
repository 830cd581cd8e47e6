"""``compare_runs(run_dirs, out)``: one table and one figure across training runs.

Reads what every run folder already holds (``report.json``, ``eval/predictions.csv``, ``model/``;
an ``artlens evaluate`` folder counts as a run without training costs, so two models evaluated on
the same images get the same paired test) and writes ``compare.csv``, ``compare.md`` and
``compare.png`` (accuracy, top-3 and macro-F1 per run;
accuracy against training time). For each other run against the first it also answers "which
classes does A get right that B does not": ``classes_<A>_vs_<B>.csv``, per class, over the test
images both runs evaluated, and whether the two differ beyond luck: McNemar's exact test on those
images (:func:`paired_test`; each accuracy also carries its 95 % interval). Runs tested on different
images are flagged (a warning and a line in ``compare.md``): their accuracies are not measured on the
same test set.

>>> from artlens.recipes import compare_runs
>>> result = compare_runs(["runs/resnet50", "runs/vgg19"], "runs/compare")   # doctest: +SKIP
>>> [r["run"] for r in result.rows]                                          # doctest: +SKIP
['resnet50', 'vgg19']
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArtlensError
from ..evaluate.metrics import accuracy_interval, mcnemar_p_value
from ..outputs import output_dir

__all__ = ["CompareResult", "class_differences", "compare_runs", "paired_test", "run_summary"]

log = logging.getLogger(__name__)

COLUMNS = ("run", "backbone", "strategy", "test_images", "accuracy", "accuracy_low", "accuracy_high", "top3", "macro_f1",
           "params", "train_seconds", "images_per_s", "predict_images_per_s")
#: A pair of runs differs "significantly" when McNemar's p-value is below this.
ALPHA = 0.05


@dataclass
class CompareResult:
    out: Path
    rows: list[dict[str, Any]]
    differences: dict[str, list[dict[str, Any]]]
    """``"A_vs_B"`` -> per-class rows (class, n, A right, B right, only A right, only B right)."""
    warnings: list[str] = field(default_factory=list)
    """One line per pair of runs tested on different images."""
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``"A_vs_B"`` -> :func:`paired_test` of the two runs on the test images both evaluated."""

    def paired_summary(self, key: str) -> str:
        """One sentence on :attr:`tests` ``[key]``: counts, McNemar's p-value and the verdict."""
        a, b = key.split("_vs_", 1)
        return _paired_line(a, b, self.tests[key])


def _read_report(run: Path) -> dict[str, Any]:
    """A run's ``report.json``: a training run's (``history`` and ``test``), or an ``artlens evaluate``
    folder's (``metrics``), which is read as a run without training costs."""
    path = run / "report.json"
    if not run.is_dir():
        raise ArtlensError(f"{run}: not a run folder")
    if not path.is_file():
        raise ArtlensError(f"{run}: no report.json (is this a finished `artlens train`, `reproduce` or "
                           "`evaluate` folder?)")
    report = json.loads(path.read_text())
    if "metrics" in report and "n_evaluated" in report and "history" not in report:
        return {"evaluation": True, "cwd": report.get("cwd"), "history": [],
                "test": {**report["metrics"], "n": report["n_evaluated"], "images_per_s": report.get("images_per_s")},
                "config": {"out": report.get("out"), "model": {"backbone": report.get("backbone") or report.get("model", "?")},
                           "strategy": {"name": "evaluated"}}}
    if "history" not in report or "test" not in report:
        raise ArtlensError(f"{path}: not a training or evaluation report (no history/test metrics)")
    return report


def _bundle_params(run: Path) -> int | None:
    weights = run / "model" / "model.safetensors"
    if not weights.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:  # shapes only: no tensor is read
        return sum(_numel(f.get_slice(k).get_shape()) for k in f.keys()
                   if "num_batches_tracked" not in k and "running_" not in k)


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def run_summary(run: str | os.PathLike, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """One comparison row from a run folder (older runs without recorded costs are filled in);
    ``report``: its :func:`_read_report`, when the caller has read it already."""
    run = Path(run)
    report = report if report is not None else _read_report(run)
    test, cfg, history = report["test"], report.get("config", {}), report["history"]
    seconds = report.get("train_seconds")
    if seconds is None and history:
        seconds = round(sum(r.get("seconds", 0) for r in history), 2)
    speed = report.get("train_images_per_s")
    if speed is None and seconds:
        speed = round(sum(r.get("images_per_s", 0) * r.get("seconds", 0) for r in history) / seconds, 1)
    n, accuracy = test.get("n"), test.get("accuracy")
    low, high = accuracy_interval(accuracy, n) if n and accuracy is not None else (None, None)
    return {"run": run.name, "backbone": cfg.get("model", {}).get("backbone", "?"),
            "strategy": cfg.get("strategy", {}).get("name", "?"), "test_images": n,
            "accuracy": accuracy, "accuracy_low": low, "accuracy_high": high,
            "top3": test.get("top3"), "macro_f1": test.get("macro", {}).get("f1"),
            "params": report.get("params") or (None if report.get("evaluation") else _bundle_params(run)),
            "train_seconds": seconds, "images_per_s": speed,
            # Labelling the test images: the same measure for a frozen and a fine-tuned run, unlike the
            # training rate (a frozen run's epochs run on cached features).
            "predict_images_per_s": test.get("eval_images_per_s", test.get("images_per_s"))}


def _predictions(run: Path, report: dict[str, Any] | None = None) -> dict[str, tuple[str, bool]]:
    """Test image -> (label, right?), from ``eval/predictions.csv``, keyed by the image's resolved path.

    The file holds paths as the data path was typed (``paintings/...``, ``./paintings/...`` or
    ``/home/me/art/paintings/...``), so raw strings of two runs on the same images need not match.
    Relative ones are relative to the folder training ran in, see :func:`_training_folder`.

    Why not key on the path relative to each run's data root instead: two different datasets with the
    same layout (``paintings/Baroque/1.jpg`` and ``unseen/Baroque/1.jpg``) would then silently count as
    the same test images; a resolved path names one file. (The data root is recorded as typed too, so
    it would need the same resolving.)
    """
    path = run / "eval" / "predictions.csv"
    if not path.is_file():  # an ``artlens evaluate`` folder holds it at the top
        path = run / "predictions.csv"
    if not path.is_file():
        return {}
    base = _training_folder(run, report)
    with path.open(newline="") as f:
        return {str((base / r["path"]).resolve()): (r["label"], r["correct"] == "1") for r in csv.DictReader(f)}


def _training_folder(run: Path, report: dict[str, Any] | None = None) -> Path:
    """The folder ``artlens train`` ran in: what relative paths in the run's files are relative to.

    An ``artlens evaluate`` folder records it (``cwd``). A training run does not, but its ``--out`` is
    recorded as typed: a run made with ``--out runs/r1`` that lies at ``/home/me/art/runs/r1`` was
    trained from ``/home/me/art``. A run moved or renamed since, or written to an absolute ``--out``,
    falls back to the current folder, where one usually compares.
    """
    report = report if report is not None else _read_report(run)
    if report.get("cwd") and Path(report["cwd"]).is_dir():
        return Path(report["cwd"])
    typed = report.get("config", {}).get("out")
    here, out = run.resolve(), Path(typed or ".")
    if not typed or out.is_absolute() or not out.parts or ".." in out.parts or len(out.parts) >= len(here.parts):
        return Path.cwd()
    base = here.parents[len(out.parts) - 1]
    return base if (base / out).resolve() == here else Path.cwd()


def class_differences(run_a: str | os.PathLike, run_b: str | os.PathLike) -> list[dict[str, Any]]:
    """Per class, over the images both runs evaluated: how many each got right, and only it got right."""
    return _differences(_predictions(Path(run_a)), _predictions(Path(run_b)))


def _differences(a: dict[str, tuple[str, bool]], b: dict[str, tuple[str, bool]]) -> list[dict[str, Any]]:
    common = sorted(set(a) & set(b))
    stats: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "a": 0, "b": 0, "only_a": 0, "only_b": 0})
    for path in common:
        label, ok_a = a[path]
        ok_b = b[path][1]
        s = stats[label]
        s["n"] += 1
        s["a"] += ok_a
        s["b"] += ok_b
        s["only_a"] += ok_a and not ok_b
        s["only_b"] += ok_b and not ok_a
    rows = [{"class": c, "images": s["n"], "a_right": s["a"], "b_right": s["b"], "only_a_right": s["only_a"],
             "only_b_right": s["only_b"]} for c, s in sorted(stats.items())]
    return sorted(rows, key=lambda r: r["only_b_right"] - r["only_a_right"])


def paired_test(run_a: str | os.PathLike, run_b: str | os.PathLike) -> dict[str, Any]:
    """Are two runs equally accurate on the test images both evaluated? ``{"images", "a_right",
    "b_right", "only_a_right", "only_b_right", "p_value", "significant"}``: McNemar's exact test
    (:func:`artlens.evaluate.mcnemar_p_value`), significant below ``ALPHA`` (0.05)."""
    return _paired(_predictions(Path(run_a)), _predictions(Path(run_b)))


def _paired(a: dict[str, tuple[str, bool]], b: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    common = set(a) & set(b)
    only_a = sum(a[p][1] and not b[p][1] for p in common)
    only_b = sum(b[p][1] and not a[p][1] for p in common)
    p_value = mcnemar_p_value(only_a, only_b)
    return {"images": len(common), "a_right": sum(a[p][1] for p in common), "b_right": sum(b[p][1] for p in common),
            "only_a_right": only_a, "only_b_right": only_b, "p_value": p_value,
            "significant": bool(common) and p_value < ALPHA}


def _paired_line(a: str, b: str, t: dict[str, Any]) -> str:
    """``compare.md``'s and the CLI's sentence for one :func:`paired_test`."""
    if not t["images"]:
        return f"{a} and {b} have no test images in common: no paired test"
    verdict = (f"the difference is significant at {ALPHA}" if t["significant"]
               else f"not told apart at {ALPHA}")
    return (f"{a} vs {b} on the {t['images']} test images both evaluated: {t['a_right']} vs {t['b_right']} right; "
            f"only {a} right on {t['only_a_right']}, only {b} on {t['only_b_right']}; McNemar's exact test "
            + ("p < 0.0001" if t["p_value"] < 1e-4 else f"p = {t['p_value']:.3g}") + f": {verdict}")


def different_test_sets(name_a: str, name_b: str, a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """A line when two runs were tested on different images (another split, --subset, test_fraction):
    their accuracy columns then measure different things. ``None`` when the sets are the same, or when
    a run has no ``predictions.csv`` to tell."""
    if not a or not b or set(a) == set(b):
        return None
    return (f"{name_a} and {name_b} were tested on different test sets ({len(a)} and {len(b)} images, "
            f"{len(set(a) & set(b))} in common): their scores are not measured on the same images")


def compare_runs(runs: list[str | os.PathLike], out: str | os.PathLike) -> CompareResult:
    """Write the comparison table, figure and per-class differences of ``runs`` into ``out``."""
    if len(runs) < 2:
        raise ArtlensError("compare: give at least two run folders")
    paths = [Path(r) for r in runs]
    reports = [_read_report(p) for p in paths]  # read once: the row and the paths in predictions.csv
    rows = [run_summary(p, r) for p, r in zip(paths, reports)]
    names = [r["run"] for r in rows]
    if len(set(names)) < len(names):  # same folder name under different parents: keep them apart
        for r, p in zip(rows, paths):
            r["run"] = f"{p.parent.name}/{p.name}"
    out = output_dir(out)
    with (out / "compare.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    predictions = [_predictions(p, r) for p, r in zip(paths, reports)]
    differences, warnings, tests = {}, [], {}
    for preds, r in zip(predictions[1:], rows[1:]):
        key = f"{rows[0]['run']}_vs_{r['run']}".replace("/", "-")
        differences[key] = _differences(predictions[0], preds)
        tests[key] = _paired(predictions[0], preds)
        warning = different_test_sets(rows[0]["run"], r["run"], predictions[0], preds)
        if warning:
            log.warning(warning)
            warnings.append(warning)
        with (out / f"classes_{key}.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["class", "images", "a_right", "b_right", "only_a_right", "only_b_right"])
            w.writeheader()
            w.writerows(differences[key])
    unevaluated = {r["run"] for r, preds in zip(rows, predictions) if not preds}
    (out / "compare.md").write_text(_markdown(rows, differences, rows[0]["run"], warnings, unevaluated, tests))
    _plot(rows, out / "compare.png")
    return CompareResult(out=out, rows=rows, differences=differences, warnings=warnings, tests=tests)


#: Columns that are proportions (shown to four places); other numbers get three significant digits.
PROPORTIONS = {"accuracy", "accuracy_low", "accuracy_high", "top3", "macro_f1"}


def _cell(column: str, v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if column in PROPORTIONS else f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _markdown(rows: list[dict[str, Any]], differences: dict[str, list[dict]], first: str,
              warnings: list[str], unevaluated: set[str] = frozenset(),
              tests: dict[str, dict[str, Any]] | None = None) -> str:
    """``unevaluated``: runs without ``eval/predictions.csv`` (no test split), named as such rather
    than as runs on different data."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    lines += ["| " + " | ".join(_cell(c, r[c]) for c in COLUMNS) + " |" for r in rows]
    if warnings:
        lines += ["", *(f"**Warning:** {w}." for w in warnings)]
    for key, diff in differences.items():
        other = key.split("_vs_", 1)[1]
        lines += ["", f"## {first} (A) vs {other} (B): classes one gets right and the other does not", ""]
        if tests and key in tests and tests[key]["images"]:
            lines += [_paired_line(first, other, tests[key]) + ".", ""]
        lines += ["| class | images | A right | B right | only A right | only B right |", "|---|---|---|---|---|---|"]
        lines += [f"| {d['class']} | {d['images']} | {d['a_right']} | {d['b_right']} | {d['only_a_right']} | "
                  f"{d['only_b_right']} |" for d in diff]
        missing = [run for run in (first, other) if run in unevaluated]
        if missing:
            lines.append(f"| (no eval/predictions.csv in {' and '.join(missing)}: no test split was evaluated) "
                         "| | | | | |")
        elif not diff:
            lines.append("| (no test images in common: the runs were evaluated on different data) | | | | | |")
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(rows) + 5), 4.2),
                                  gridspec_kw={"width_ratios": [2, 1]})
    x = np.arange(len(rows))
    metrics = [(k, label) for k, label in (("accuracy", "accuracy"), ("top3", "top-3"), ("macro_f1", "macro-F1"))
               if any(r[k] is not None for r in rows)]  # top-3 is undefined with 3 classes or fewer
    width = 0.8 / len(metrics)
    for i, (key, label) in enumerate(metrics):
        err = None
        if key == "accuracy" and all(r["accuracy_low"] is not None for r in rows):  # its 95 % interval
            err = np.array([[r["accuracy"] - r["accuracy_low"] for r in rows], [r["accuracy_high"] - r["accuracy"] for r in rows]])
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, [r[key] or 0 for r in rows], width,
               label=label + (" (95 % interval)" if err is not None else ""), yerr=err, capsize=3)
    ax.set_xticks(x, [r["run"] for r in rows], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("test split")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    ax.set_title("accuracy, top-3, macro-F1")
    for r in rows:
        if r["accuracy_low"] is not None:
            ax2.errorbar(r["train_seconds"] or 0, r["accuracy"], fmt="none", capsize=3, ecolor="0.6",
                         yerr=[[r["accuracy"] - r["accuracy_low"]], [r["accuracy_high"] - r["accuracy"]]])
        ax2.scatter(r["train_seconds"] or 0, r["accuracy"] or 0, s=40, zorder=3)
        ax2.annotate(r["run"], (r["train_seconds"] or 0, r["accuracy"] or 0), fontsize=8,
                     xytext=(4, 4), textcoords="offset points")
    ax2.set_xlabel("training time (s)")
    ax2.set_ylabel("accuracy")
    ax2.set_title("accuracy vs cost")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
