"""The monitoring report: is each served model still right, still seeing what it was trained on?

``artlens monitor --db ops.db --out report/`` reads the operations database (:mod:`.store`) and the
bundles (for their test accuracy, test-split class shares and drift reference) and writes
``report.json``, ``report.md`` and one PNG per figure:

* accuracy from feedback per model version and per ISO week (``accuracy.png``), and a confusion
  matrix per model (``confusion_<model>.png``);
* the predicted-class distribution per week against the model's test split (``classes_<model>.png``);
* input drift per week: the embeddings of the incoming images against the reference kept in the
  bundle (:mod:`.drift`), with image sizes and formats (``drift_<model>.png``);
* A/B arms: accuracy with 95 % intervals and whether the difference is significant; shadow models:
  how often they agree with the served model and how often they were right.

A week is *flagged* when its accuracy is ``accuracy_drop`` or more below the model's reference (its
test accuracy from the bundle, else its accuracy over all feedback), or its drift shift is above the
threshold. ``report.flags`` lists them in one line each.

>>> from artlens.ops import MonitorConfig, run_monitor
>>> report = run_monitor(MonitorConfig(db="ops.db", out="monitor/", models="models/"))  # doctest: +SKIP
>>> report.flags                                                 # doctest: +SKIP
['styles@2 2026-W49: drift shift 1.21 > 0.5 (40 images)']
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtlensError
from ..evaluate.metrics import format_interval, proportion_interval
from ..models.bundle import META_FILE, BundleFormatError, read_bundle_meta
from .ab import compare_arms
from .drift import drift_score, size_format_drift
from .store import Store, default_database, iter_embeddings, open_store

__all__ = ["MonitorConfig", "MonitorReport", "run_monitor"]


@dataclass
class MonitorConfig:
    """What to read, where to write, and when a week is flagged."""

    db: str = ""
    """The operations database (a SQLite path or an SQLAlchemy URL), as given to ``artlens serve --db``;
    empty: the default one ``artlens serve`` records into (:func:`~artlens.ops.store.default_database`)."""
    out: str = "artlens-monitor"
    """Folder for report.json, report.md and the figures."""
    models: str = ""
    """Folder of the served bundles (as ``artlens serve --models``): test accuracy, class shares and
    drift references come from them; the built-in model is always known."""
    accuracy_drop: float = 0.10
    """Flag a week whose feedback accuracy is this far below the model's reference accuracy."""
    drift_threshold: float = 0.0
    """Flag a week whose embedding shift is above this when it has too few images for the AUC test
    (0 = the threshold stored in the bundle's reference, 0.5)."""
    drift_auc: float = 0.0
    """Flag a week whose reference-vs-incoming AUC is at least this (0 = the bundle's reference's, 0.8)."""
    min_feedback: int = 5
    """Weeks with fewer feedback answers are shown but never flagged for accuracy."""


@dataclass
class MonitorReport:
    out: Path
    models: dict[str, dict[str, Any]]
    flags: list[str]
    ab: dict[str, Any] = field(default_factory=dict)
    shadow: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)


def _week(ts: Any) -> str:
    year, week, _ = ts.isocalendar()
    return f"{year}-W{week:02d}"


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)


def _bundles(models_dir: str) -> dict[str, dict[str, Any]]:
    """Bundle metadata by ``name@version``: the built-in model, the built-in detector and every bundle
    below ``models_dir``."""
    from ..detect import default_detector_path
    from ..models import default_bundle_path

    paths = [default_bundle_path(), default_detector_path()]
    if models_dir:
        root = Path(models_dir)
        if not root.is_dir():
            raise ArtlensError(f"--models {root}: no such folder")
        paths += sorted(p.parent for p in root.rglob(META_FILE))
    out = {}
    for p in paths:
        try:
            meta = read_bundle_meta(p)
        except (BundleFormatError, ArtlensError):
            continue
        out[f"{meta.get('name') or p.name}@{meta.get('version') or 'unknown'}"] = meta
    return out


def run_monitor(cfg: MonitorConfig, *, store: Store | None = None) -> MonitorReport:
    """Read the database, write the report and figures, return what was found and flagged."""
    own = store is None
    store = store or open_store(cfg.db or default_database())
    try:
        preds = store.prediction_rows(with_embeddings=True)
        fb = store.feedback_rows()
        shadow = store.shadow_rows()
    finally:
        if own:
            store.close()
    bundles = _bundles(cfg.models)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    flags: list[str] = []
    figures: list[Path] = []
    models: dict[str, dict[str, Any]] = {}
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in preds:
        by_model[r["model_id"]].append(r)
    fb_by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in fb:
        fb_by_model[r["model_id"]].append(r)

    for model_id in sorted(set(by_model) | set(fb_by_model)):
        meta = bundles.get(model_id, {})
        rows, answers = by_model.get(model_id, []), fb_by_model.get(model_id, [])
        # the labels the answers were given in (a detector's are ai/human whatever its bundle calls them)
        classes = list((rows[0].get("classes") if rows else None) or meta.get("classes") or
                       sorted({a["label"] for a in answers} | {a["predicted"] for a in answers}))
        info: dict[str, Any] = {"predictions": len(rows), "feedback": len(answers), "weeks": {}}
        # a detector's answers are its verdicts at its threshold: their accuracy, where its bundle records it
        test_acc = (meta.get("detector") or {}).get("accuracy", (meta.get("metrics") or {}).get("accuracy"))
        overall = sum(a["correct"] for a in answers) / len(answers) if answers else None
        info["accuracy"] = overall
        info["reference_accuracy"] = test_acc if test_acc is not None else overall
        info["reference_source"] = "bundle test split" if test_acc is not None else "all feedback"
        if answers:
            from sklearn.metrics import confusion_matrix

            from ..viz import plot_confusion_matrix

            labels = classes or sorted({a["label"] for a in answers})
            cm = confusion_matrix([a["label"] for a in answers], [a["predicted"] for a in answers], labels=labels)
            info["confusion"] = {"classes": labels, "matrix": cm.tolist()}
            figures.append(plot_confusion_matrix(cm, labels, out / f"confusion_{_slug(model_id)}.png",
                                                 title=f"{model_id}: feedback ({len(answers)} answers)"))
        weeks: dict[str, dict[str, Any]] = defaultdict(dict)
        for week, group in _group(answers, "predicted_at").items():  # the week the answer was given
            right = sum(a["correct"] for a in group)
            acc = right / len(group)
            low, high = proportion_interval(right, len(group))  # a week of 10 answers: about +-25 points
            weeks[week].update(feedback=len(group), accuracy=acc, ci95=[round(low, 4), round(high, 4)])
            ref = info["reference_accuracy"]
            if ref is not None and len(group) >= cfg.min_feedback and acc <= ref - cfg.accuracy_drop:
                flags.append(f"{model_id} {week}: accuracy {acc:.2f} (95 % {format_interval((low, high), digits=2)}) from {len(group)} "
                             f"feedback answers, {ref - acc:.2f} below the reference {ref:.2f} ({info['reference_source']})")
                weeks[week]["flag_accuracy"] = True
        reference = meta.get("drift_reference")
        shares = (reference or {}).get("class_shares")
        info["test_class_shares"] = shares
        for week, group in _group(rows, "created").items():
            counts = Counter(r["label"] for r in group)
            weeks[week]["predictions"] = len(group)
            weeks[week]["predicted_shares"] = {c: counts.get(c, 0) / len(group) for c in classes}
            if reference:
                emb = np.array(list(iter_embeddings(group, dims=reference["dims"])))
                sf = size_format_drift(reference, [(r["width"], r["height"]) for r in group], [r["format"] for r in group])
                weeks[week]["sizes_formats"] = sf
                if len(emb) and emb.shape[1] == reference["dims"]:
                    if cfg.drift_threshold > 0:
                        reference = {**reference, "threshold": cfg.drift_threshold}
                    if cfg.drift_auc > 0:
                        reference = {**reference, "auc_threshold": cfg.drift_auc}
                    d = drift_score(reference, emb)
                    weeks[week]["drift"] = d
                    if d["drift"]:
                        why = (f"reference-vs-incoming AUC {d['auc']:.2f} >= {d['auc_threshold']:g}"
                               if d["decided_by"] == "auc" else f"embedding shift {d['shift']:.2f} > {d['threshold']:g}")
                        flags.append(f"{model_id} {week}: input drift, {why} ({d['n']} images, shift {d['shift']:.2f})")
        info["drift_reference"] = bool(reference)
        info["weeks"] = dict(sorted(weeks.items()))
        if rows:
            figures.append(_plot_classes(model_id, classes, info["weeks"], shares, out / f"classes_{_slug(model_id)}.png"))
        if any("drift" in w for w in info["weeks"].values()):
            figures.append(_plot_drift(model_id, info["weeks"], out / f"drift_{_slug(model_id)}.png"))
        models[model_id] = info
    if fb:
        figures.append(_plot_accuracy(models, out / "accuracy.png"))

    ab = _ab(fb)
    shadow_report = _shadow(shadow)
    report = MonitorReport(out=out, models=models, flags=flags, ab=ab, shadow=shadow_report, figures=figures)
    (out / "report.json").write_text(json.dumps({"models": models, "flags": flags, "ab": ab, "shadow": shadow_report,
                                                 "figures": [f.name for f in figures]}, indent=2, default=str))
    (out / "report.md").write_text(_markdown(report))
    return report


def _group(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[_week(r[key])].append(r)
    return out


def _ab(fb: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model name, the arms' accuracy from feedback and whether they differ significantly."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in fb:
        if r.get("arm"):
            c = counts[r["model_id"].split("@")[0]][r["arm"]]
            c[0] += int(r["correct"])
            c[1] += 1
    return {name: compare_arms({a: (c[0], c[1]) for a, c in arms.items()}) for name, arms in counts.items()}


def _shadow(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = out.setdefault(r["model_id"], {"scored": 0, "agree": 0, "with_feedback": 0, "right": 0,
                                           "primary_right": 0})
        s["scored"] += 1
        s["agree"] += int(r["label"] == r["primary_label"])
        if r.get("true_label"):
            s["with_feedback"] += 1
            s["right"] += int(r["label"] == r["true_label"])
            s["primary_right"] += int(r["primary_label"] == r["true_label"])
    for s in out.values():
        s["agreement"] = s["agree"] / s["scored"]
        s["accuracy"] = s["right"] / s["with_feedback"] if s["with_feedback"] else None
        s["primary_accuracy"] = s["primary_right"] / s["with_feedback"] if s["with_feedback"] else None
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _plot_accuracy(models: dict[str, dict[str, Any]], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for model_id, info in models.items():
        weeks = [(w, v["accuracy"]) for w, v in info["weeks"].items() if "accuracy" in v]
        if not weeks:
            continue
        line, = ax.plot([w for w, _ in weeks], [a for _, a in weeks], marker="o", label=model_id)
        spans = [info["weeks"][w].get("ci95") for w, _ in weeks]
        if all(spans):  # each week's 95 % interval: a week of few answers says little
            ax.errorbar([w for w, _ in weeks], [a for _, a in weeks], fmt="none", ecolor=line.get_color(), alpha=0.5,
                        capsize=3, yerr=[[a - lo for (_, a), (lo, _) in zip(weeks, spans)],
                                         [hi - a for (_, a), (_, hi) in zip(weeks, spans)]])
        if info.get("reference_accuracy") is not None:
            ax.axhline(info["reference_accuracy"], color=line.get_color(), linestyle=":", linewidth=1)
        flagged = [(w, v["accuracy"]) for w, v in info["weeks"].items() if v.get("flag_accuracy")]
        if flagged:
            ax.scatter([w for w, _ in flagged], [a for _, a in flagged], s=160, facecolors="none",
                       edgecolors="tab:red", linewidths=2, zorder=3, label=f"{model_id}: flagged")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy from feedback")
    ax.set_title("Accuracy from feedback per week, with 95 % intervals (dotted: reference; circled: flagged)",
                 fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _plot_classes(model_id: str, classes: list[str], weeks: dict[str, dict[str, Any]],
                  test_shares: dict[str, float] | None, path: Path) -> Path:
    plt = _plt()
    names = [w for w, v in weeks.items() if "predicted_shares" in v]
    columns = [*names, *(["test split"] if test_shares else [])]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(columns) + 3), 4.5))
    bottom = np.zeros(len(columns))
    cmap = plt.get_cmap("tab20")
    for i, c in enumerate(classes):
        vals = np.array([weeks[w]["predicted_shares"].get(c, 0.0) for w in names] +
                        ([test_shares.get(c, 0.0)] if test_shares else []))
        ax.bar(columns, vals, bottom=bottom, label=c, color=cmap(i % 20))
        bottom += vals
    ax.set_ylabel("share of predictions")
    ax.set_title(f"{model_id}: predicted classes per week")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _save(fig, path)


def _plot_drift(model_id: str, weeks: dict[str, dict[str, Any]], path: Path) -> Path:
    """Per week: the reference-vs-incoming AUC (bars, red when flagged) and the embedding shift (line)."""
    plt = _plt()
    names = [w for w, v in weeks.items() if "drift" in v]
    d = [weeks[w]["drift"] for w in names]
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(names) + 3), 4))
    aucs = [x["auc"] if x["auc"] is not None else 0.0 for x in d]
    ax.bar(names, aucs, color=["tab:red" if x["drift"] else "tab:blue" for x in d], label="AUC reference vs incoming")
    ax.axhline(d[0]["auc_threshold"], color="tab:red", linestyle="--", label=f"AUC threshold {d[0]['auc_threshold']:g}")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    for i, x in enumerate(d):
        ax.text(i, aucs[i], f"n={x['n']}" + ("" if x["auc"] is not None else " (too few for AUC)"), ha="center",
                va="bottom", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("AUC (0.5 = like the training images)")
    twin = ax.twinx()
    twin.plot(names, [x["shift"] for x in d], color="black", marker="o", label="embedding shift")
    twin.set_ylabel("embedding shift (reference std units)")
    twin.set_ylim(0, max(1.0, max(x["shift"] for x in d) * 1.2))
    ax.set_title(f"{model_id}: input drift per week")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    return _save(fig, path)


def _markdown(report: MonitorReport) -> str:
    lines = ["# Monitoring report", ""]
    lines += ["## Flags", ""] + ([f"- {f}" for f in report.flags] or ["none"]) + [""]
    lines += ["## Models", "", "| model | predictions | feedback | accuracy | reference |", "|---|---|---|---|---|"]
    for m, info in report.models.items():
        acc = "n/a" if info["accuracy"] is None else f"{info['accuracy']:.3f}"
        ref = "n/a" if info["reference_accuracy"] is None else f"{info['reference_accuracy']:.3f} ({info['reference_source']})"
        lines.append(f"| {m} | {info['predictions']} | {info['feedback']} | {acc} | {ref} |")
    lines.append("")
    for m, info in report.models.items():
        lines += [f"### {m}", "", "| week | predictions | feedback | accuracy (95 % interval) | drift: AUC / shift |", "|---|---|---|---|---|"]
        for w, v in info["weeks"].items():
            acc = (f"{v['accuracy']:.3f}" + (f" ({format_interval(v['ci95'], digits=2)})" if v.get("ci95") else "")
                   + (" (flagged)" if v.get("flag_accuracy") else "")) if "accuracy" in v else "-"
            d = v.get("drift")
            drift = "-" if d is None else ("n/a" if d["auc"] is None else f"{d['auc']:.2f}") + f" / {d['shift']:.2f}" \
                + (" (flagged)" if d["drift"] else "")
            lines.append(f"| {w} | {v.get('predictions', 0)} | {v.get('feedback', 0)} | {acc} | {drift} |")
        lines.append("")
    if report.ab:
        lines += ["## A/B tests", ""]
        for name, res in report.ab.items():
            for arm, a in res["arms"].items():
                acc = "n/a" if a["accuracy"] is None else f"{a['accuracy']:.3f}"
                lines.append(f"- {name} {arm}: {acc} ({a['correct']}/{a['n']}), 95 % CI {format_interval(a['ci95'])}")
            p = "n/a" if res["p_value"] is None else f"{res['p_value']:.3g}"
            lines.append(f"- difference: p = {p}, {'significant' if res['significant'] else 'not significant'} at 5 %")
        lines.append("")
    if report.shadow:
        lines += ["## Shadow models", ""]
        for m, s in report.shadow.items():
            acc = "n/a" if s["accuracy"] is None else f"{s['accuracy']:.3f} (served model {s['primary_accuracy']:.3f})"
            lines.append(f"- {m}: scored {s['scored']}, agrees with the served model {s['agreement']:.1%}, accuracy {acc}")
        lines.append("")
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in report.figures]
    return "\n".join(lines) + "\n"
