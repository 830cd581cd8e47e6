"""The explain commands as a user types them: explain (with galleries), layers, probe, similarity, embed."""

from __future__ import annotations

import csv
import subprocess
import sys

from PIL import Image
from typer.testing import CliRunner

from artlens.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_explain_a_labelled_folder_writes_overlays_predictions_and_galleries(tiny_tree, tiny_bundle, tmp_path):
    result = invoke("explain", str(tiny_tree), "--model", str(tiny_bundle), "--galleries", "--per-class", "4",
                    "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "explained 30 image(s) with gradcam on layer 2" in result.output
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    assert len(rows) == 30 and {r["label"] for r in rows} == {"Baroque", "Pop_Art", "Ukiyo_e"}
    overlays = sorted((tmp_path / "overlays").glob("*.png"))
    assert len(overlays) == 30
    painting = tiny_tree / rows[0]["path"].split("/")[-2] / rows[0]["path"].split("/")[-1]
    with Image.open(tmp_path / rows[0]["overlay"]) as overlay, Image.open(painting) as src:
        assert overlay.size == src.size  # drawn on the painting itself, not on the 64 px crop the model saw
    galleries = {p.stem for p in (tmp_path / "galleries").glob("*.png")}
    for r in rows:  # every class that has a correct (or wrong) prediction has that gallery
        assert f"{r['label']}_{'correct' if r['correct'] == 'True' else 'wrong'}" in galleries


def test_galleries_warn_when_folders_are_not_the_models_classes(tiny_tree, tiny_bundle, tmp_path, caplog):
    import shutil

    from artlens.explain.galleries import ExplainConfig, run_explain

    tree = tmp_path / "tree"
    shutil.copytree(tiny_tree / "Baroque", tree / "Baroque")
    shutil.copytree(tiny_tree / "Pop_Art", tree / "pop art")  # not the model's spelling
    with caplog.at_level("WARNING"):
        run_explain(ExplainConfig(inputs=[str(tree)], model=str(tiny_bundle), galleries=True, out=str(tmp_path / "o")))
    assert "folder(s) pop art are not classes of the model (Baroque, Pop_Art, Ukiyo_e)" in caplog.text
    assert "Baroque," not in caplog.text.split("model (")[0]


def test_explain_featuremap_for_one_image_with_the_builtin_model(tmp_path):
    result = invoke("explain", "src/artlens/assets/examples/seurat_grande_jatte_sketch.jpg", "--method", "featuremap",
                    "--input-size", "64", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    # The built-in model squashes the painting to a square; its overlay is stretched back to 512 x 313.
    with Image.open(tmp_path / "overlays" / "seurat_grande_jatte_sketch.png") as overlay:
        assert overlay.size == (512, 313)


def test_same_named_images_get_their_own_overlays(tiny_tree, tiny_bundle, tmp_path):
    painting = sorted(tiny_tree.rglob("*.jpg"))
    for folder, src in (("a", painting[0]), ("b", painting[-1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.jpg").write_bytes(src.read_bytes())
    result = invoke("explain", str(tmp_path / "a" / "img.jpg"), str(tmp_path / "b" / "img.jpg"),
                    "--model", str(tiny_bundle), "--out", str(tmp_path / "cams"))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "cams" / "predictions.csv")))
    assert [r["overlay"] for r in rows] == ["overlays/img.png", "overlays/img_2.png"]
    assert all((tmp_path / "cams" / r["overlay"]).is_file() for r in rows)


def test_no_overlays_writes_the_table_alone(tiny_tree, tiny_bundle, tmp_path):
    result = invoke("explain", str(tiny_tree / "Baroque"), "--model", str(tiny_bundle), "--no-overlays",
                    "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    assert len(rows) == 10 and "overlay" not in rows[0]
    assert not (tmp_path / "overlays").exists()


def test_a_class_agnostic_method_says_the_target_changes_only_the_probability(tiny_tree, tiny_bundle, tmp_path):
    result = invoke("explain", str(next((tiny_tree / "Baroque").iterdir())), "--model", str(tiny_bundle),
                    "--method", "eigencam", "--target", "Pop_Art", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "eigencam gives the same map whatever the class" in " ".join(result.output.split())


def test_layers_lists_vgg_aliases_with_shapes():
    result = invoke("layers", "vgg11", "--input-size", "32")
    assert result.exit_code == 0
    assert "conv4_1" in result.output and "features.11" in result.output and "512 x 4 x 4" in result.output


def test_probe_similarity_and_embed_from_the_command_line(tiny_tree, tiny_bundle, tmp_path):
    result = invoke("probe", "--model", "tiny_cnn", "--weights", "none", "--data", str(tiny_tree),
                    "--layers", "0,1,2", "--out", str(tmp_path / "probe"))
    assert result.exit_code == 0, result.output
    assert "test_accuracy" in result.output and (tmp_path / "probe" / "probe_accuracy.png").is_file()
    again = invoke("probe", "--model", "tiny_cnn", "--weights", "none", "--data", str(tiny_tree),
                   "--layers", "2", "--C", "0.1", "--no-pca", "--out", str(tmp_path / "probe"))
    assert "features reused from the cache for: 2" in again.output
    result = invoke("similarity", "--model", str(tiny_bundle), "--data", str(tiny_tree), "--out", str(tmp_path / "sim"))
    assert result.exit_code == 0 and "most similar pairs" in result.output
    result = invoke("embed", "--model", str(tiny_bundle), "--data", str(tiny_tree), "--out", str(tmp_path / "e.parquet"))
    assert result.exit_code == 0 and "wrote 30 embeddings of dimension 64" in result.output


def test_user_errors_are_one_line(tiny_tree, tiny_bundle):
    proc = subprocess.run([sys.executable, "-m", "artlens", "probe", "--model", "tiny_cnn", "--weights", "none",
                           "--data", str(tiny_tree), "--layers", "1,conv9_9"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: backbone 'tiny_cnn' has no layer 'conv9_9'") and "valid names: 0, 1, 2" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "artlens", "explain", str(tiny_tree), "--model", str(tiny_bundle),
                           "--target", "Cubism"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown class 'Cubism'" in proc.stderr
