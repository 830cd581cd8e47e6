"""The command line as a user types it: train, evaluate, predict, models; errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from artlens.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tiny_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("train", "--data", str(tiny_tree), "--backbone", "tiny_cnn", "--strategy", "scratch",
                    "--epochs", "2", "--out", str(out), "--workers", "0", "--batch-size", "8", "--lr", "0.01")
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_bundle(trained):
    assert (trained / "model" / "artlens.json").is_file()
    assert json.loads((trained / "report.json").read_text())["config"]["strategy"]["name"] == "scratch"


def test_evaluate_prints_accuracy_and_writes_reports(trained, tiny_tree, tmp_path):
    result = invoke("evaluate", "--model", str(trained / "model"), "--data", str(tiny_tree), "--out", str(tmp_path))
    assert result.exit_code == 0 and "accuracy" in result.output
    assert (tmp_path / "confusion_matrix.png").is_file()


def test_predict_json_lists_top_k_per_image(trained, tiny_tree):
    folder = tiny_tree / "Ukiyo_e"
    result = runner.invoke(app, ["predict", str(folder), "--model", str(trained / "model"), "--top-k", "2", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 10 and set(rows[0]) == {"path", "predictions", "uncertain"}
    assert rows[0]["uncertain"] is False  # a bundle without calibration never says it is uncertain
    preds = rows[0]["predictions"]
    assert len(preds) == 2 and preds[0]["prob"] >= preds[1]["prob"]
    assert {p["label"] for p in preds} <= {"Baroque", "Pop_Art", "Ukiyo_e"}


def test_predict_lists_more_than_three_labels_down_one_column():
    """Eleven label columns do not fit a terminal: beyond 3, the ranks go down one column, whole."""
    from artlens.models.bundle import default_bundle_path

    painting = str(default_bundle_path().parents[1] / "examples" / "monet_etretat.jpg")
    wanted = json.loads(runner.invoke(app, ["predict", painting, "--top-k", "5", "--json"]).stdout)[0]["predictions"]
    result = invoke("predict", painting, "--top-k", "5")
    assert result.exit_code == 0 and "top 5" in result.output
    lines = result.output.splitlines()
    for rank, p in enumerate(wanted, 1):
        assert sum(f"#{rank} {p['label']} {p['prob']:.2f}" in line for line in lines) == 1
    refused = runner.invoke(app, ["predict", painting, "--top-k", "0"])
    assert refused.exit_code == 2 and "--top-k" in refused.output


def test_an_output_that_cannot_be_written_is_one_line_before_any_work(tiny_tree, tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    train = subprocess.run([sys.executable, "-m", "artlens", "train", "--data", str(tiny_tree), "--backbone", "tiny_cnn",
                            "--strategy", "scratch", "--epochs", "1", "--out", str(a_file)], capture_output=True, text=True)
    assert train.returncode == 2 and train.stderr.strip() == f"error: --out {a_file}: is a file, not a folder"
    split = subprocess.run([sys.executable, "-m", "artlens", "data", "split", str(tiny_tree), "--out", str(tmp_path)],
                           capture_output=True, text=True)
    assert split.returncode == 1 and split.stderr.strip() == f"error: {tmp_path}: Is a directory"


def test_flags_override_the_recipe_as_written(tiny_tree, tmp_path, monkeypatch):
    """A scratch recipe run with --strategy full fine-tunes the pretrained weights (pretrained: auto stays)."""
    import artlens.train

    seen = {}

    def fake_fit(cfg):
        seen["cfg"] = cfg
        raise SystemExit(0)

    monkeypatch.setattr(artlens.train, "fit", fake_fit)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"data: {{path: {tiny_tree}}}\nmodel: {{backbone: efficientnet_lite0}}\n"
                      "strategy: {name: scratch}\nepochs: 1\n")
    runner.invoke(app, ["train", "--config", str(recipe), "--strategy", "full", "--out", str(tmp_path / "run")])
    assert (seen["cfg"].strategy.name, seen["cfg"].model.pretrained) == ("full", "auto")


def test_predict_shows_progress_for_a_folder_of_many_images(trained, tiny_tree, tmp_path):
    for i, painting in enumerate(sorted(tiny_tree.rglob("*.jpg")) * 3):  # 90 files in one folder
        (tmp_path / f"{i:02d}.jpg").write_bytes(painting.read_bytes())
    result = runner.invoke(app, ["predict", str(tmp_path), "--model", str(trained / "model")])
    assert result.exit_code == 0 and "90/90" in result.stderr
    few = runner.invoke(app, ["predict", str(tmp_path / "00.jpg"), "--model", str(trained / "model")])
    assert few.exit_code == 0 and "1/1" not in few.stderr


def test_a_dead_link_in_a_folder_is_skipped_and_listed_not_fatal(trained, tiny_tree, tmp_path):
    painting = sorted(tiny_tree.rglob("*.jpg"))[0]
    (tmp_path / "painting.jpg").write_bytes(painting.read_bytes())
    (tmp_path / "moved.jpg").symlink_to(tmp_path / "gone.jpg")
    result = runner.invoke(app, ["predict", str(tmp_path), "--model", str(trained / "model"), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in json.loads(result.stdout)] == [str(tmp_path / "painting.jpg")]
    assert f"skipped {tmp_path / 'moved.jpg'}: broken symbolic link" in " ".join(result.stderr.split())

    from artlens import predict  # the Python API takes one path as well as a list

    assert [r["path"] for r in predict(str(tmp_path / "painting.jpg"), model=trained / "model")] == \
        [str(tmp_path / "painting.jpg")]


def test_predict_fails_when_no_file_is_a_readable_image(trained, tmp_path):
    (tmp_path / "notes.jpg").write_text("<html>not a painting</html>")
    (tmp_path / "empty.png").write_bytes(b"")
    result = runner.invoke(app, ["predict", str(tmp_path), "--model", str(trained / "model"), "--json"])
    assert result.exit_code != 0 and result.stdout == ""
    assert "none of the 2 file(s) is a readable image" in str(result.exception)


def test_models_lists_the_offline_backbone():
    result = invoke("models")
    assert result.exit_code == 0 and "efficientnet_lite0" in result.output and "offline" in result.output


def test_user_errors_are_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "artlens", "predict", str(tmp_path / "nope.jpg")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope.jpg'}: no such file or folder"
    assert "Traceback" not in proc.stderr
    brackets = tmp_path / "old[/copy]" / "art[v2].jpg"  # printed as it is, never read as rich markup
    proc = subprocess.run([sys.executable, "-m", "artlens", "predict", str(brackets)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {brackets}: no such file or folder"
    url = subprocess.run([sys.executable, "-m", "artlens", "predict", "https://example.org/starry_night.jpg"],
                         capture_output=True, text=True)
    assert url.returncode == 2
    assert url.stderr.startswith("error: https://example.org/starry_night.jpg: artlens reads local files only")
    proc = subprocess.run([sys.executable, "-m", "artlens", "train", "--data", str(tmp_path), "--strategy", "melt"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "strategy.name: unknown strategy 'melt'" in proc.stderr


@pytest.mark.parametrize("command", [["predict", "x.jpg"], ["explain", "x.jpg"], ["train", "--data", "x"], ["serve"]])
def test_a_device_this_machine_lacks_is_one_line_before_any_work(command, monkeypatch):
    import torch

    from artlens import ArtlensError

    with pytest.raises(ArtlensError, match=r"^--device gpu: not a device; use auto, cpu, cuda or cuda:N$"):
        invoke(*command, "--device", "gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ArtlensError, match=r"^--device cuda: no CUDA GPU is available here; use cpu or auto$"):
        invoke(*command, "--device", "cuda")


def test_yaml_in_flags_and_label_map_files_fails_in_one_line_naming_the_place(tiny_tree, tmp_path):
    from artlens import ArtlensError

    (tmp_path / "map.yaml").write_text("Baroque: Old\nPop_Art: [New\n")
    with pytest.raises(ArtlensError, match=r"map.yaml: not valid YAML at line 3, column 1"):
        invoke("train", "--data", str(tiny_tree), "--label-map", str(tmp_path / "map.yaml"), "--out", str(tmp_path / "r"))
    with pytest.raises(ArtlensError, match=r"^--dataset-option classes=\[a: not valid YAML at line 1"):
        invoke("train", "--data", str(tiny_tree), "--dataset", "artbench10", "--dataset-option", "classes=[a",
               "--out", str(tmp_path / "r"))


def test_datasets_lists_every_adapter():
    from artlens.data.adapters import DATASETS

    result = invoke("datasets")
    assert result.exit_code == 0
    for name in DATASETS.names():
        assert name in result.output


def test_train_reads_a_published_layout_with_adapter_options(artdata, tmp_path):
    """WikiArt's style folders, labelled by artist (from the file names) instead of style."""
    import shutil

    root = tmp_path / "wikiart"
    for style in ("Pointillism", "Ukiyo_e"):
        (root / style).mkdir(parents=True)
        for p in sorted((artdata / "wikiart11" / style).glob("*.jpg")):
            if p.name.split("_")[0] in ("georges-seurat", "paul-signac", "utagawa-kuniyoshi", "katsushika-hokusai"):
                shutil.copy(p, root / style / p.name)
    result = invoke("train", "--data", str(root), "--dataset", "wikiart", "--dataset-option", "label=artist",
                    "--min-per-class", "3", "--backbone", "tiny_cnn", "--strategy", "scratch", "--epochs", "1",
                    "--out", str(tmp_path / "run"), "--workers", "0")
    assert result.exit_code == 0, result.output
    classes = json.loads((tmp_path / "run" / "model" / "artlens.json").read_text())["classes"]
    assert set(classes) <= {"georges-seurat", "paul-signac", "utagawa-kuniyoshi", "katsushika-hokusai"}
    assert len(classes) >= 2


def test_unknown_dataset_is_refused_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "artlens", "train", "--data", str(tmp_path), "--dataset", "wikiartt"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "data.dataset: 'wikiartt' is not allowed; choose from: auto, artbench10" in proc.stderr


def test_data_profile_finds_a_split_leak(artdata, tmp_path):
    import shutil

    from PIL import Image

    paintings = sorted((artdata / "wikiart11" / "Cubism").glob("*.jpg"))[:4]
    for split in ("train", "test"):
        (tmp_path / "d" / split / "Cubism").mkdir(parents=True)
    for p in paintings[:3]:
        shutil.copy(p, tmp_path / "d" / "train" / "Cubism" / p.name)
    shutil.copy(paintings[3], tmp_path / "d" / "test" / "Cubism" / paintings[3].name)
    Image.open(paintings[0]).resize((180, 180)).save(tmp_path / "d" / "test" / "Cubism" / "leak.jpg")
    result = invoke("data", "profile", str(tmp_path / "d"), "--out", str(tmp_path / "prof"))
    assert result.exit_code == 0 and "1 across splits" in result.output
    report = json.loads((tmp_path / "prof" / "profile.json").read_text())
    assert [d["path_b"].rsplit("/", 1)[-1] for d in report["duplicates"]["across_splits"]] == ["leak.jpg"]
    assert (tmp_path / "prof" / "duplicates_across_splits.png").is_file()


def test_data_split_writes_a_manifest_that_trains_identically(tiny_tree, tmp_path):
    from artlens import DataConfig
    from artlens.data import load_collection

    result = invoke("data", "split", str(tiny_tree), "--out", str(tmp_path / "split.tsv"), "--seed", "5")
    assert result.exit_code == 0 and "train 24" in result.output
    reread = load_collection(DataConfig(path=str(tmp_path / "split.tsv")))
    direct = load_collection(DataConfig(path=str(tiny_tree), seed=5))
    assert sorted((s.path, s.split) for s in reread.samples) == sorted((s.path, s.split) for s in direct.samples)


def test_train_help_lists_exactly_the_choices_the_config_accepts():
    from artlens.config import AUGMENT_PRESETS, CLASS_WEIGHTS, HEAD_NORMS, MONITORS, OPTIMIZERS, RESIZE_MODES, SCHEDULERS
    from artlens.models import HEADS, STRATEGIES

    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"}, terminal_width=400)
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # rich may wrap the help column
    for choices in (STRATEGIES.names(), HEADS.names(), HEAD_NORMS, RESIZE_MODES, MONITORS, CLASS_WEIGHTS, OPTIMIZERS,
                    SCHEDULERS, AUGMENT_PRESETS):
        assert " | ".join(choices) in text
