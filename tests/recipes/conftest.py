"""Tiny copies of each study's dataset, in its publisher's layout, built from real paintings in ../shared/artdata.

Images are downscaled to 48 px (the recipes run at 32-75 px in tests) and there are 2-5 per class
and split: enough for every recipe to train, validate and test end to end in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

SIZE = 48


def put(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as img:
        img.convert("RGB").resize((SIZE, SIZE)).save(dest, quality=90)


def pool(artdata: Path, folder: str, n: int, start: int = 0) -> list[Path]:
    return sorted((artdata / folder).glob("*.jpg"))[start:start + n]


@pytest.fixture(scope="session")
def study_data(artdata, tmp_path_factory) -> dict[str, Path]:
    """Dataset adapter name -> root of a tiny tree in that adapter's layout."""
    root = tmp_path_factory.mktemp("studies")
    roots = {}

    # ArtBench-10 ImageFolder release: {train,test}/<style>/
    ab = root / "artbench" / "artbench-10-imagefolder-split"
    for style, src in (("ukiyo_e", "wikiart11/Ukiyo_e"), ("surrealism", "wikiart11/Cubism"),
                       ("baroque", "wikiart11/Baroque")):
        for i, p in enumerate(pool(artdata, src, 6)):
            put(p, ab / ("train" if i < 4 else "test") / style / p.name)
    roots["artbench10"] = root / "artbench"

    # AI-ArtBench: {train,test}/{<style>,AI_LD_<style>,AI_SD_<style>}/ (AI images: the Stable Diffusion Cezannes)
    ai = root / "ai-artbench"
    for style, human in (("baroque", "wikiart11/Baroque"), ("impressionism", "wikiart11/Impressionism")):
        for i, p in enumerate(pool(artdata, human, 5)):
            put(p, ai / ("train" if i < 4 else "test") / style / p.name)
        for gen, start in (("LD", 0), ("SD", 3)):
            for i, p in enumerate(pool(artdata, "cezanne_ai_vs_human/ai_sd15_cezanne_guidance8", 3, start + (6 if style == "baroque" else 0))):
                put(p, ai / ("train" if i < 2 else "test") / f"AI_{gen}_{style}" / p.name)
    roots["ai-artbench"] = ai

    # Pandora 18k: <movement>/[<artist>/]*.jpg
    pan = root / "pandora"
    for movement, src in (("Baroque", "wikiart11/Baroque"), ("Pointillism", "wikiart11/Pointillism"),
                          ("Rococo", "wikiart11/Rococo")):
        for i, p in enumerate(pool(artdata, src, 5)):
            put(p, pan / movement / (f"artist{i % 2}" if i % 3 else "") / p.name)
    roots["pandora18k"] = pan

    # Best Artworks: artists.csv + images/images/<Artist_Name>/<Artist_Name>_N.jpg
    best = root / "best"
    artists = [("Claude Monet", "claude_monet", 300), ("Edgar Degas", "edgar_degas", 702),
               ("Caravaggio", "caravaggio", 55), ("Diego Velazquez", "diego_velazquez", 250)]
    lines = ["id,name,years,genre,nationality,bio,wikipedia,paintings"]
    for i, (name, folder, count) in enumerate(artists):
        lines.append(f'{i},{name},1800 - 1900,"Impressionism",French,"bio",http://x,{count}')
        under = name.replace(" ", "_")
        for n, p in enumerate(pool(artdata, f"artists49/{folder}", 5), start=1):
            put(p, best / "images" / "images" / under / f"{under}_{n}.jpg")
    (best / "artists.csv").write_text("\n".join(lines) + "\n")
    roots["best-artworks"] = best

    # The Met: MetObjects.csv + <Object ID>.jpg
    met = root / "met"
    rows = ["Object Number,Is Public Domain,Object ID,Department,Classification,Culture,Country"]
    oid = 1000
    for culture, src in (("French", "aic_periods/golden_age_1870s"), ("Japan", "wikiart11/Ukiyo_e"),
                         ("American", "aic_periods/golden_age_1890s"), ("Italy", "aic_periods/renaissance_baroque")):
        for p in pool(artdata, src, 5):
            oid += 1
            rows.append(f"X.{oid},True,{oid},Paintings Dept,Paintings,{culture},")
            put(p, met / "images" / f"{oid}.jpg")
    (met / "MetObjects.csv").write_text("\n".join(rows) + "\n")
    roots["met"] = met
    return roots


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """``backbone name -> weights file`` of a randomly initialised body: stands in for ImageNet weights
    where a recipe's strategy needs pretrained layers (no network in tests)."""
    from safetensors.torch import save_file

    from artlens.models import create_backbone

    folder = tmp_path_factory.mktemp("random-weights")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            torch.manual_seed(0)
            body = create_backbone(name, pretrained="none").body
            made[name] = folder / f"{name.replace('/', '_')}.safetensors"
            save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(made[name]))
        return made[name]

    return get
