"""Random search that survives being killed, and comparing finished runs."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from artlens.errors import ArtlensError
from artlens.evaluate import accuracy_interval, mcnemar_p_value
from artlens.recipes import ReproduceOptions, TuneOptions, compare_runs, load_space, sample_trial, tune, winner_margin

SPACE = {"optim.lr": {"low": 1e-3, "high": 3e-2, "log": True}, "model.dropout": [0.0, 0.25]}


def _opts(study_data, out, trials: int) -> TuneOptions:
    run = ReproduceOptions(data=str(study_data["ai-artbench"]), out=str(out), subset=3, epochs=2,
                           overrides={"data.num_workers": 0, "data.batch_size": 8}, device="cpu")
    return TuneOptions(trials=trials, space=SPACE, seed=3, run=run)


@pytest.fixture(scope="module")
def search(study_data, tmp_path_factory):
    """Two finished trials of the Simple CNN recipe."""
    out = tmp_path_factory.mktemp("tune") / "search"
    result = tune("ai-artbench-simple-cnn", _opts(study_data, out, 2), show_progress=False)
    return out, result


def test_trials_are_normal_runs_with_a_leaderboard_and_the_best_bundle(search):
    out, result = search
    assert result.ran == [0, 1]
    assert {r["trial"] for r in result.leaderboard} == {"trial-000", "trial-001"}
    vals = [r["val_acc"] for r in result.leaderboard]
    assert vals == sorted(vals, reverse=True)
    for i in range(2):
        trial = out / f"trial-{i:03d}"
        params = json.loads((trial / "params.json").read_text())
        assert params == sample_trial(SPACE, 3, i)
        report = json.loads((trial / "report.json").read_text())
        assert report["config"]["optim"]["lr"] == params["optim.lr"]  # the sampled value reached the run
        assert (trial / "eval" / "predictions.csv").is_file() and (trial / "model" / "artlens.json").is_file()
        assert not (trial / "checkpoint.pt").exists()  # finished: pruned to save disk
    best = json.loads((result.best / "artlens.json").read_text())
    assert best["recipe"]["out"].endswith(result.leaderboard[0]["trial"])
    with (out / "leaderboard.csv").open() as f:
        assert [r["trial"] for r in csv.DictReader(f)] == [r["trial"] for r in result.leaderboard]
    assert "| rank |" in (out / "leaderboard.md").read_text()
    # The winner's lead, in the units that matter: its validation interval and who lies inside it.
    best_row = result.leaderboard[0]
    low, high = accuracy_interval(best_row["val_acc"], best_row["val_images"])
    inside = [r["trial"] for r in result.leaderboard[1:] if r["val_acc"] >= low]
    line = winner_margin(result.leaderboard)
    assert line.startswith(f"{best_row['trial']}: validation accuracy {best_row['val_acc']:.3f} on "
                           f"{best_row['val_images']} images (95 % interval {low:.3f}-{high:.3f})")
    assert (f"{len(inside)} other trial(s) lie inside it" if inside else "no other trial lies inside it") in line
    assert line in (out / "leaderboard.md").read_text()


def test_sampling_depends_only_on_seed_and_trial():
    a = [sample_trial(SPACE, 0, i) for i in range(20)]
    assert a == [sample_trial(SPACE, 0, i) for i in range(20)]
    assert all(1e-3 <= t["optim.lr"] <= 3e-2 and t["model.dropout"] in (0.0, 0.25) for t in a)
    assert len({t["optim.lr"] for t in a}) == 20
    ints = sample_trial({"epochs": {"low": 2, "high": 9}}, 0, 0)["epochs"]
    assert isinstance(ints, int) and 2 <= ints <= 9


def test_a_killed_search_continues_with_finished_trials_kept(search, study_data, monkeypatch):
    out, first = search
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("trial-00[01]/report.json")}

    import artlens.train.loop as loop

    real = loop._write_metrics_csv
    calls = {"n": 0}

    def killed_after_first_epoch(history, path):
        real(history, path)
        calls["n"] += 1
        raise KeyboardInterrupt  # the user pressed Ctrl-C in trial 2, after its first checkpoint

    monkeypatch.setattr(loop, "_write_metrics_csv", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        tune("ai-artbench-simple-cnn", _opts(study_data, out, 3), show_progress=False)
    assert (out / "trial-002" / "checkpoint.pt").is_file() and not (out / "trial-002" / "report.json").exists()
    monkeypatch.setattr(loop, "_write_metrics_csv", real)

    result = tune("ai-artbench-simple-cnn", _opts(study_data, out, 3), show_progress=False)
    assert result.ran == [2]  # the two finished trials were not run again ...
    assert {p: p.stat().st_mtime_ns for p in out.glob("trial-00[01]/report.json")} == stamps  # ... nor touched
    history = json.loads((out / "trial-002" / "report.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]  # resumed from epoch 1's checkpoint
    assert len(result.leaderboard) == 3


def test_a_search_folder_refuses_another_space(search, study_data):
    out, _ = search
    other = _opts(study_data, out, 2)
    other.space = {"optim.lr": [0.1]}
    with pytest.raises(ArtlensError, match="different space"):
        tune("ai-artbench-simple-cnn", other, show_progress=False)


@pytest.mark.parametrize("change, message", [
    (lambda o, other: setattr(o.run, "data", str(other)), "different data.path: '{data}' vs '{other}'"),
    (lambda o, other: setattr(o.run, "subset", 2), "different data.max_per_class: 3 vs 2"),
    (lambda o, other: setattr(o.run, "epochs", 1), "different epochs: 2 vs 1"),
    (lambda o, other: setattr(o.run, "image_size", 40), "different model.input_size: 32 vs 40"),
    (lambda o, other: o.run.overrides.update({"optim.name": "adam"}), "different optim.name: 'sgd' vs 'adam'"),
    (lambda o, other: o.run.overrides.update({"data.dataset_options.label": "origin"}),
     "different data.dataset_options: {'label': 'origin_style', "),
])
def test_a_search_folder_refuses_other_data_or_settings(search, study_data, tmp_path, change, message):
    """Trials trained on other data or settings would be ranked together, and best-model picked across them."""
    out, _ = search
    other = shutil.copytree(study_data["ai-artbench"], tmp_path / "other")  # the same images elsewhere: still other data
    before = (out / "search.json").read_text()
    opts = _opts(study_data, out, 5)
    change(opts, other)
    with pytest.raises(ArtlensError) as err:
        tune("ai-artbench-simple-cnn", opts, show_progress=False)
    text = str(err.value)
    assert text.startswith(f"{out}: holds a search with a different ") and text.endswith("; choose another --out")
    message = message.replace("{data}", str(study_data["ai-artbench"].resolve())).replace("{other}", str(other.resolve()))
    assert message in text and "\n" not in text
    assert (out / "search.json").read_text() == before and not (out / "trial-004").exists()


def test_a_search_continues_with_the_data_typed_another_way_and_other_run_only_settings(search, study_data,
                                                                                       monkeypatch):
    out, _ = search
    monkeypatch.chdir(study_data["ai-artbench"].parent)
    opts = _opts(study_data, out, 2)
    opts.run.data = study_data["ai-artbench"].name + "/"  # relative, with a trailing slash
    opts.run.overrides["data.num_workers"] = 1  # where and how fast trials run is not what they are
    opts.run.device = None
    result = tune("ai-artbench-simple-cnn", opts, show_progress=False)
    assert result.ran == [] and len(result.leaderboard) >= 2


def test_an_older_search_without_recorded_trial_settings_continues_and_records_them(search, study_data):
    out, _ = search
    saved = json.loads((out / "search.json").read_text())
    assert saved["trial"]["data.path"] == str(study_data["ai-artbench"].resolve())
    assert saved["trial"]["data.max_per_class"] == 3 and "optim.lr" not in saved["trial"]  # searched: varies
    (out / "search.json").write_text(json.dumps({k: saved[k] for k in ("recipe", "space", "seed")}))
    result = tune("ai-artbench-simple-cnn", _opts(study_data, out, 2), show_progress=False)
    assert result.ran == [] and json.loads((out / "search.json").read_text()) == saved


@pytest.mark.parametrize("text, words", [
    ("optim.lr: {low: 0.1}\n", ["optim.lr", "low, high"]),
    ("optim.lr: {low: 0, high: 1, log: true}\n", ["optim.lr", "low > 0"]),
    ("model.hidden: []\n", ["model.hidden", "empty"]),
    ("- 1\n", ["search space"]),
])
def test_bad_search_space_is_one_line(tmp_path, text, words):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ArtlensError) as err:
        load_space(path)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)


def test_an_unknown_key_in_the_space_fails_before_any_trial(study_data, tmp_path):
    opts = _opts(study_data, tmp_path / "s", 2)
    opts.space = {"optim.learning_rate": [0.1]}
    with pytest.raises(ArtlensError, match="learning_rate: unknown key; allowed: name, lr"):
        tune("ai-artbench-simple-cnn", opts, show_progress=False)
    assert not (tmp_path / "s").exists()


def test_a_search_folder_that_is_a_file_is_refused_before_any_trial(study_data, tmp_path):
    (tmp_path / "s").write_text("a file")
    with pytest.raises(ArtlensError, match=r"--out .*s: is a file, not a folder"):
        tune("ai-artbench-simple-cnn", _opts(study_data, tmp_path / "s", 1), show_progress=False)


def test_compare_runs_table_figure_and_per_class_differences(search, tmp_path):
    out, _ = search
    runs = [out / "trial-000", out / "trial-001"]
    result = compare_runs(runs, tmp_path / "cmp")
    assert [r["run"] for r in result.rows] == ["trial-000", "trial-001"]
    for row, run in zip(result.rows, runs):
        report = json.loads((run / "report.json").read_text())
        assert row["accuracy"] == report["test"]["accuracy"] and row["params"] == report["params"]
        assert row["backbone"] == "simple_cnn" and row["train_seconds"] > 0 and row["images_per_s"] > 0
        assert row["predict_images_per_s"] == report["test"]["eval_images_per_s"] > 0
    diff = result.differences["trial-000_vs_trial-001"]
    with (runs[0] / "eval" / "predictions.csv").open() as f:
        preds = list(csv.DictReader(f))
    assert sum(d["images"] for d in diff) == len(preds)
    for d in diff:
        rows = [p for p in preds if p["label"] == d["class"]]
        assert d["a_right"] == sum(p["correct"] == "1" for p in rows)
        assert d["only_a_right"] <= d["a_right"] and d["only_b_right"] <= d["b_right"]
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 5000
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "trial-000 (A) vs trial-001 (B)" in md and "macro_f1" in md
    # Each accuracy with its 95 % interval, and the pair judged on the images both labelled (McNemar).
    for row in result.rows:
        assert row["test_images"] == len(preds) and row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
    test = result.tests["trial-000_vs_trial-001"]
    assert test["images"] == len(preds)
    assert (test["only_a_right"], test["only_b_right"]) == (sum(d["only_a_right"] for d in diff),
                                                           sum(d["only_b_right"] for d in diff))
    assert test["p_value"] == mcnemar_p_value(test["only_a_right"], test["only_b_right"])
    assert test["significant"] == (test["p_value"] < 0.05)
    assert f"McNemar's exact test p = {test['p_value']:.3g}" in md


def test_compare_needs_finished_runs(search, tmp_path):
    out, _ = search
    with pytest.raises(ArtlensError, match="at least two"):
        compare_runs([out / "trial-000"], tmp_path / "c")
    with pytest.raises(ArtlensError, match="no report.json"):
        compare_runs([out / "trial-000", out / "best-model"], tmp_path / "c")


@pytest.fixture(scope="module")
def typed_runs(tiny_tree, tmp_path_factory):
    """Three 1-epoch runs on the same paintings, trained from the folder that holds them: the data path
    typed ``styles``, ``/abs/.../styles/`` and ``./styles`` (the last with twice the test fraction)."""
    from artlens.train import fit

    from ..conftest import tiny_config

    root = tiny_tree.parent
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name, data, fraction in (("a", "styles", 0.1), ("b", f"{tiny_tree}/", 0.1), ("c", "./styles", 0.2)):
            fit(tiny_config(data, f"runs/{name}", epochs=1, data__test_fraction=fraction), show_progress=False)
    return root / "runs"


def _test_images(run) -> set[str]:
    with (run / "eval" / "predictions.csv").open() as f:
        return {row["path"].rsplit("/", 1)[1] for row in csv.DictReader(f)}  # file names are unique in the tree


def test_compare_matches_test_images_however_the_data_path_was_typed(typed_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # compared from elsewhere: relative paths are the training folder's
    result = compare_runs([typed_runs / "a", typed_runs / "b"], tmp_path / "cmp")
    diff = result.differences["a_vs_b"]
    assert sum(d["images"] for d in diff) == len(_test_images(typed_runs / "a")) == 3
    assert {d["class"] for d in diff} == {"Baroque", "Pop_Art", "Ukiyo_e"}
    assert result.warnings == []
    assert "no test images in common" not in (tmp_path / "cmp" / "compare.md").read_text()


def test_compare_warns_when_the_runs_were_tested_on_different_images(typed_runs, tmp_path, caplog):
    a, c = _test_images(typed_runs / "a"), _test_images(typed_runs / "c")
    result = compare_runs([typed_runs / "a", typed_runs / "c"], tmp_path / "cmp")
    line = (f"a and c were tested on different test sets (3 and 6 images, {len(a & c)} in common): "
            "their scores are not measured on the same images")
    assert len(c) == 6 and result.warnings == [line]
    assert line in caplog.text and f"**Warning:** {line}." in (tmp_path / "cmp" / "compare.md").read_text()
    assert sum(d["images"] for d in result.differences["a_vs_c"]) == len(a & c)


def test_compare_names_a_run_without_test_predictions_instead_of_blaming_the_data(typed_runs, tmp_path):
    shutil.copytree(typed_runs / "b", tmp_path / "unevaluated")
    (tmp_path / "unevaluated" / "eval" / "predictions.csv").unlink()
    compare_runs([typed_runs / "a", tmp_path / "unevaluated"], tmp_path / "cmp")
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "(no eval/predictions.csv in unevaluated: no test split was evaluated)" in text
    assert "different data" not in text


def test_two_models_evaluated_on_the_same_images_are_compared_like_runs(typed_runs, tiny_tree, tmp_path, monkeypatch):
    """``artlens evaluate --out`` folders: no training costs, but the same table and paired test."""
    from artlens import evaluate

    monkeypatch.chdir(tiny_tree.parent)  # the data path typed relative, as a user would
    reports = [evaluate(typed_runs / run / "model", "styles", tmp_path / f"eval-{run}", show_progress=False)
               for run in ("a", "c")]
    monkeypatch.chdir(tmp_path)  # compared from elsewhere: the evaluation's own folder resolves the paths
    result = compare_runs([tmp_path / "eval-a", tmp_path / "eval-c"], tmp_path / "cmp")
    for row, report in zip(result.rows, reports):
        assert row["accuracy"] == report["metrics"]["accuracy"] and row["test_images"] == 30
        assert (row["strategy"], row["backbone"], row["train_seconds"]) == ("evaluated", "tiny_cnn", None)
        assert row["predict_images_per_s"] == report["images_per_s"] > 0  # comparable with a training run's
    test = result.tests["eval-a_vs_eval-c"]
    assert test["images"] == 30 and result.warnings == []
    assert (test["a_right"], test["b_right"]) == tuple(round(r["metrics"]["accuracy"] * 30) for r in reports)
    assert "McNemar's exact test" in (tmp_path / "cmp" / "compare.md").read_text()
    # Paths are matched as the files they name, not as the strings typed: a copy of the folder elsewhere,
    # evaluated as "styles" from there, is another set of images.
    shutil.copytree(tiny_tree, tmp_path / "elsewhere" / "styles")
    monkeypatch.chdir(tmp_path / "elsewhere")
    evaluate(typed_runs / "a" / "model", "styles", tmp_path / "eval-copy", show_progress=False)
    monkeypatch.chdir(tmp_path)
    other = compare_runs([tmp_path / "eval-a", tmp_path / "eval-copy"], tmp_path / "cmp2")
    assert other.warnings == ["eval-a and eval-copy were tested on different test sets (30 and 30 images, 0 in common): "
                              "their scores are not measured on the same images"]

