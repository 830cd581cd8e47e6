"""Cross-generator evaluation: trained on some generators, how well does a detector catch an unseen one?

A detector that learnt one generator's fingerprint (its upsampler's grid, its VAE's texture) can
score 99 % on that generator and near chance on the next. :func:`run_cross_generator` measures it on
any collection whose labels name origin and generator (AI-ArtBench's ``AI_LD_x``/``AI_SD_x``, the
Cezanne set's ``ai_sd15_*``/``ai_sd2_*``): every image is embedded once by a frozen network, then a
logistic regression is trained per row (the human training images plus the AI training images of
one generator, of all generators but one, or of all) and scored per column on the held-out AI
images of each generator together with the held-out human images. The matrix's off-diagonal cells
are the unseen-generator scores; the ``all but X`` rows, read at column X, are leave-one-generator-out.

>>> cfg = CrossGeneratorConfig(data="ai-artbench/", dataset="ai-artbench",
...                            dataset_options={"label": "generator_style"}, out="xgen")  # doctest: +SKIP
>>> run_cross_generator(cfg).unseen                                                     # doctest: +SKIP
{'LD': 0.71, 'SD': 0.64}
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..config import DataConfig, check_choice
from ..data.dataset import Sample, load_collection
from ..data.images import SkippedImage
from ..errors import ArtlensError
from ..inference import default_device
from ..outputs import output_dir
from .detector import score_origins
from .origin import generator_of, origin_of

__all__ = ["CrossGeneratorConfig", "CrossGeneratorReport", "run_cross_generator"]

GROUPINGS = ("generator", "label")


@dataclass
class CrossGeneratorConfig:
    """Everything ``artlens cross-generator`` needs; the CLI fills it from flags unchanged."""

    data: str = ""
    """A labelled image folder or manifest whose labels name origin and generator, or a published dataset root."""
    dataset: str = "auto"
    """``auto`` or a published layout (``ai-artbench`` with ``label=generator_style``)."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that dataset adapter."""
    group: str = field(default="generator", metadata={"choices": GROUPINGS})
    """How AI images are grouped: by ``generator`` (the word after ai_: sd15, LD) or by their whole ``label``."""
    model: str = "efficientnet_lite0"
    """The frozen network that embeds the images: a backbone name or a bundle folder."""
    weights: str = "auto"
    """Weights of a backbone name: ``auto`` (offline package or hub), ``none`` or a file."""
    input_size: int = 0
    """Input side in pixels (0 = the network's own); every image is squashed to it."""
    grayscale: bool = False
    """Embed every image in grayscale (for collections grayscale on one side)."""
    test_fraction: float = 0.3
    """Share of each generator's AI images, and of the human images, held out for scoring."""
    seed: int = 0
    """Seed of the held-out draw."""
    max_per_group: int | None = None
    """At most this many images per generator and of human images (seeded); unset = all."""
    out: str = "artlens-cross-generator"
    """Folder for cross_generator.json/.md and the matrix figure."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1"""
    batch_size: int = 32
    """Images per forward pass."""

    def __post_init__(self) -> None:
        check_choice("cross_generator", "group", self.group, GROUPINGS)
        if not 0.0 < self.test_fraction < 1.0:
            raise ArtlensError(f"cross_generator.test_fraction: {self.test_fraction} must be in (0, 1)")
        if self.input_size < 0 or 0 < self.input_size < 16:
            raise ArtlensError(f"cross_generator.input_size: {self.input_size} must be 0 or >= 16")
        if self.max_per_group is not None and self.max_per_group < 4:
            raise ArtlensError(f"cross_generator.max_per_group: {self.max_per_group} must be >= 4 (or unset)")


@dataclass
class CrossGeneratorReport:
    """Rows: what a detector was trained on; columns: the generator it was scored on."""

    generators: list[str]
    rows: list[str]
    balanced_accuracy: list[list[float]]
    """``[row][column]``: mean of the column generator's AI recall and the human recall."""
    ai_recall: list[list[float]]
    human_recall: list[float]
    """Per row: recall on the held-out human images."""
    unseen: dict[str, float]
    """Per generator: the balanced accuracy of the detector trained on all the others (leave-one-out)."""
    counts: dict[str, dict[str, int]]
    skipped: list[SkippedImage] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"generators": self.generators, "rows": self.rows, "balanced_accuracy": self.balanced_accuracy,
                "ai_recall": self.ai_recall, "human_recall": self.human_recall, "unseen": self.unseen,
                "counts": self.counts, "files": self.files,
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}


def _groups(cfg: CrossGeneratorConfig) -> dict[str, list[Sample]]:
    """``{"human": [...], "<generator>": [...]}`` from the collection's labels."""
    collection = load_collection(DataConfig(path=cfg.data, dataset=cfg.dataset, dataset_options=cfg.dataset_options),
                                 split=False)
    groups: dict[str, list[Sample]] = defaultdict(list)
    no_origin, no_generator = set(), set()
    for s in collection.samples:
        origin = origin_of(s.label)
        if origin is None:
            no_origin.add(s.label)
        elif origin == "human":
            groups["human"].append(s)
        else:
            key = generator_of(s.label) if cfg.group == "generator" else s.label
            if key is None:
                no_generator.add(s.label)
            else:
                groups[key].append(s)
    if no_origin:
        raise ArtlensError(f"{cfg.data}: labels that name no origin: {', '.join(sorted(no_origin)[:5])} "
                           "(expected ai_<generator>_..., AI_<generator>_... or human...)")
    if no_generator:
        raise ArtlensError(f"{cfg.data}: AI labels that name no generator: {', '.join(sorted(no_generator)[:5])} "
                           "(expected ai_<generator>_...; or use --group label)")
    if not groups.get("human"):
        raise ArtlensError(f"{cfg.data}: no human images (labels starting with human)")
    if len(groups) < 3:
        raise ArtlensError(f"{cfg.data}: cross-generator evaluation needs AI images of at least two generators; "
                           f"found {', '.join(sorted(k for k in groups if k != 'human')) or 'none'}")
    for key, group in groups.items():
        group.sort(key=lambda s: s.path)
        random.Random(f"{cfg.seed}:{key}").shuffle(group)
        if cfg.max_per_group:
            del group[cfg.max_per_group:]
        if len(group) < 2:
            raise ArtlensError(f"{cfg.data}: {key} has {len(group)} image(s); each group needs at least 2")
    return dict(sorted(groups.items()))


def run_cross_generator(cfg: CrossGeneratorConfig, *, show_progress: bool = True) -> CrossGeneratorReport:
    """Embed once, train one logistic regression per row, score every generator; write JSON, Markdown, PNG."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..explain import EMBED, extract_features, load_source
    from ..viz.audit_figures import plot_generator_matrix

    if not cfg.data:
        raise ArtlensError("cross-generator: --data is required")
    out = output_dir(cfg.out)
    groups = _groups(cfg)
    generators = [k for k in groups if k != "human"]
    samples, group_of, held_out = [], [], []
    for key, group in groups.items():
        n_test = max(1, round(cfg.test_fraction * len(group)))
        for i, s in enumerate(group):
            samples.append(s)
            group_of.append(key)
            held_out.append(i < n_test)
    source = load_source(cfg.model, weights=cfg.weights, input_size=cfg.input_size or None,
                         device=default_device(cfg.device))
    source.preprocessing = replace(source.preprocessing, resize="squash", grayscale=cfg.grayscale)
    feats = extract_features(source, samples, [EMBED], batch_size=cfg.batch_size, device=cfg.device,
                             show_progress=show_progress)
    kept_paths = {s.path for s in feats.samples}
    index = {s.path: i for i, s in enumerate(feats.samples)}
    x_all = feats.features[EMBED]
    keep = [i for i, s in enumerate(samples) if s.path in kept_paths]
    rows_x = np.stack([x_all[index[samples[i].path]] for i in keep])
    g = np.array([group_of[i] for i in keep])
    test = np.array([held_out[i] for i in keep])
    is_ai = g != "human"
    plans = [(name, [name]) for name in generators]
    if len(generators) > 2:
        plans += [(f"all but {name}", [o for o in generators if o != name]) for name in generators]
    # with two generators, "all but A" is "B": the single-generator rows already say it
    plans.append(("all", list(generators)))
    bal, ai_rec, human_rec = [], [], []
    human_test = (~is_ai) & test
    for _name, train_on in plans:
        train = (~test) & ((~is_ai) | np.isin(g, train_on))
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced", C=0.5))
        clf.fit(rows_x[train], is_ai[train])
        p = clf.predict_proba(rows_x)[:, list(clf.classes_).index(True)]
        h = score_origins(p[human_test], np.zeros(int(human_test.sum()), dtype=bool), 0.5)["human_recall"]
        human_rec.append(h)
        row_bal, row_ai = [], []
        for gen in generators:
            mask = (g == gen) & test
            a = score_origins(p[mask], np.ones(int(mask.sum()), dtype=bool), 0.5)["ai_recall"]
            row_ai.append(a)
            row_bal.append(round((a + h) / 2, 4))
        bal.append(row_bal)
        ai_rec.append(row_ai)
    names = [name for name, _ in plans]
    unseen = {}
    for j, gen in enumerate(generators):
        row = names.index(f"all but {gen}") if f"all but {gen}" in names else \
            names.index(next(o for o in generators if o != gen))
        unseen[gen] = bal[row][j]
    counts = {k: {"train": int(((g == k) & ~test).sum()), "test": int(((g == k) & test).sum())} for k in groups}
    files = {"json": str(out / "cross_generator.json"), "md": str(out / "cross_generator.md"),
             "figure": str(out / "cross_generator.png")}
    plot_generator_matrix(bal, names, generators, files["figure"],
                          title=f"Human or AI, across generators\n({source.name}, frozen, logistic regression)")
    report = CrossGeneratorReport(generators=generators, rows=names, balanced_accuracy=bal, ai_recall=ai_rec,
                                  human_recall=human_rec, unseen=unseen, counts=counts, skipped=feats.skipped,
                                  files=files)
    (out / "cross_generator.json").write_text(json.dumps(report.to_dict(), indent=2))
    lines = [f"# Cross-generator evaluation of {cfg.data}", "",
             f"Frozen {source.name} embeddings, one logistic regression per row; held out: "
             f"{cfg.test_fraction:.0%} of every group. Cells: balanced accuracy (AI recall on the column's generator, "
             "human recall on the held-out human images).", "",
             "| trained on | " + " | ".join(generators) + " | human recall |",
             "|---|" + "---|" * (len(generators) + 1)]
    for name, row, h in zip(names, bal, human_rec):
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {h:.3f} |")
    lines += ["", "Unseen generator (trained on the others): "
              + ", ".join(f"{k} {v:.3f}" for k, v in unseen.items()) + "."]
    (out / "cross_generator.md").write_text("\n".join(lines) + "\n")
    return report
