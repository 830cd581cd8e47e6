"""``artlens reproduce / tune / compare`` as a user types them; bad input is one line and exit 2."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from artlens.cli import app
from artlens.errors import ArtlensError

runner = CliRunner()
QUICK = ["--subset", "3", "--epochs", "1", "--device", "cpu", "--set", "data.num_workers=0", "--set", "data.batch_size=8"]


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "160"})


@pytest.fixture(scope="module")
def two_runs(study_data, tmp_path_factory):
    """The Simple CNN recipe reproduced twice on the same data, at two learning rates."""
    root = tmp_path_factory.mktemp("cli")
    outs = []
    for lr in ("0.02", "0.002"):
        out = root / f"lr{lr}"
        result = invoke("reproduce", "ai-artbench-simple-cnn", "--data", str(study_data["ai-artbench"]),
                        "--out", str(out), *QUICK, "--set", f"optim.lr={lr}")
        assert result.exit_code == 0, result.output
        outs.append((out, result.output))
    return outs


def test_reproduce_prints_the_study_beside_ours(two_runs):
    out, text = two_runs[0]
    assert "study vs ours: ai-artbench-simple-cnn" in text
    assert "quick run: at most 3 images per class, not comparable" in text
    for metric, study in (("accuracy", "0.4512"), ("macro_precision", "0.4483"), ("macro_f1", "0.4403")):
        line = next(l for l in text.splitlines() if f" {metric} " in l)
        assert study in line
    assert (out / "study.md").is_file() and (out / "report.json").is_file()
    assert '"lr": 0.02' in (out / "report.json").read_text()  # --set reached the config


def test_reproduce_list_names_every_recipe():
    text = invoke("reproduce", "--list").output
    assert "met-resnet50-finetune-plateau" in text and "accuracy 0.718" in text
    assert "pandora-hybrid" in text and "pandora_hybrid" in text


def test_compare_prints_one_table_and_the_class_differences(two_runs, tmp_path):
    (a, _), (b, _) = two_runs
    result = invoke("compare", str(a), str(b), "--out", str(tmp_path))
    assert result.exit_code == 0
    assert "lr0.02" in result.output and "simple_cnn" in result.output
    assert "gets more right than" in result.output
    assert "lr0.02 vs lr0.002 on the" in result.output and "McNemar's exact test p =" in result.output
    assert (tmp_path / "compare.png").is_file() and (tmp_path / "classes_lr0.02_vs_lr0.002.csv").is_file()
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(ArtlensError, match="taken: is a file, not a folder"):
        invoke("compare", str(a), str(b), "--out", str(tmp_path / "taken"))


def test_tune_from_the_command_line(study_data, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {low: 0.001, high: 0.03, log: true}\nmodel.dropout: [0.0, 0.5]\n")
    result = invoke("tune", "ai-artbench-simple-cnn", "--trials", "1", "--space", str(space), "--data",
                    str(study_data["ai-artbench"]), "--out", str(tmp_path / "search"), *QUICK)
    assert result.exit_code == 0, result.output
    assert "trial-000" in result.output and (tmp_path / "search" / "best-model" / "artlens.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["reproduce", "pandora-hybird", "--data", "."], "error: unknown recipe 'pandora-hybird'"),
    (["reproduce", "pandora-hybrid"], "error: --data: give the root of the dataset"),
    (["reproduce", "pandora-hybrid", "--data", ".", "--set", "optim.lr"], "error: --set: 'optim.lr' is not key=value"),
    (["reproduce", "pandora-hybrid", "--data", ".", "--set", "optim.learning_rate=1"],
     "error: recipe 'pandora-hybrid': optim.learning_rate: unknown key; allowed: name, lr"),
    (["reproduce", "pandora-hybrid", "--data", ".", "--set", "strategy.name=frozen"],
     "error: recipe 'pandora-hybrid': strategy 'frozen' with model.pretrained 'none'"),
    (["reproduce", "met-resnet50-frozen-step", "--data", ".", "--weights", "none"], "would train a head on random features"),
    (["tune", "pandora-hybrid", "--data", ".", "--space", "nope.yaml"], "error: nope.yaml: search space file not found"),
    (["tune", "ai-artbench-simple-cnn", "--data", "."],
     "error: recipe 'ai-artbench-simple-cnn' ships no search space; pass --space FILE (recipes with one: "),
    (["compare", "."], "error: compare: give at least two run folders"),
])
def test_bad_input_is_one_line_before_any_work(args, message, tmp_path, monkeypatch, capsys):
    from artlens.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(sys, "argv", ["artlens", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
