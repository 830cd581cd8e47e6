"""Embed a collection into shards, then find an artwork's duplicate with ``artlens search``."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
from PIL import Image
from typer.testing import CliRunner

from artlens.cli import app


def test_search_finds_an_images_own_duplicate_first(tiny_tree, tmp_path):
    collection = tmp_path / "collection"
    for style in ("Baroque", "Ukiyo_e"):
        shutil.copytree(tiny_tree / style, collection / style)
    index = tmp_path / "index"
    runner = CliRunner()
    embedded = runner.invoke(app, ["embed", "--data", str(collection), "--out", str(index), "--shard-size", "8",
                                   "--device", "cpu"])
    assert embedded.exit_code == 0, embedded.output
    assert sorted(p.name for p in (index / "shards").glob("*.parquet")) == ["shard-00000.parquet",
                                                                            "shard-00001.parquet",
                                                                            "shard-00002.parquet"]
    table = pq.read_table(index / "embeddings.parquet")
    assert table.num_rows == 20 and {"path", "embedding", "sha256", "bytes"} <= set(table.column_names)

    original = sorted((collection / "Ukiyo_e").iterdir())[4]
    query = tmp_path / "query.jpg"  # the same print, re-encoded at another size and quality
    with Image.open(original) as img:
        img.resize((80, 80)).save(query, quality=80)
    found = runner.invoke(app, ["search", str(query), "--index", str(index), "--k", "5", "--out", str(tmp_path / "s"),
                                "--device", "cpu"])
    assert found.exit_code == 0, found.output
    rows = (tmp_path / "s" / "neighbours.csv").read_text().splitlines()
    assert rows[0] == "rank,path,label,similarity" and len(rows) == 6
    assert rows[1].startswith(f"1,{original},Ukiyo_e,")
    assert float(rows[1].split(",")[-1]) > float(rows[2].split(",")[-1])
    assert (tmp_path / "s" / "contact_sheet.png").stat().st_size > 10_000
