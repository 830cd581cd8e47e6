"""Output written to a file or another program is whole: no cell cut to the terminal's width."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def test_a_table_piped_to_a_file_keeps_long_file_names_whole(tmp_path):
    from artlens.models.bundle import default_bundle_path

    painting = default_bundle_path().parents[1] / "examples" / "monet_etretat.jpg"
    long_name = "claude_monet_the_cliffs_at_etretat_1885_oil_on_canvas_clark_art_institute_williamstown.jpg"
    shutil.copy(painting, tmp_path / long_name)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.run([sys.executable, "-m", "artlens", "predict", str(tmp_path / long_name)], stdout=out,
                              stderr=subprocess.PIPE, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "out.txt").read_text()
    assert long_name in text and "…" not in text
