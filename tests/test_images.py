"""Image loading never crashes: odd modes become RGB, broken files become a reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from artlens.data.images import UnreadableImage, check_image, load_image, scan_images, upright


@pytest.fixture()
def painting(artdata):
    return sorted((artdata / "wikiart11" / "Baroque").glob("*.jpg"))[0]


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGBA", "CMYK"])
def test_every_mode_loads_as_rgb(painting, tmp_path, mode):
    ext = "jpg" if mode in ("L", "CMYK") else "png"
    path = tmp_path / f"img.{ext}"
    Image.open(painting).convert(mode).save(path)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == Image.open(painting).size


def test_16bit_png_is_rescaled_not_clipped(tmp_path):
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    arr[:4] = 32768
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = np.asarray(load_image(path))
    assert rgb[6, 0].tolist() == [255, 255, 255]
    assert rgb[0, 0].tolist() == [128, 128, 128]


def test_transparent_pixels_become_white(tmp_path):
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(painting, tmp_path):
    img = Image.open(painting).convert("RGB").resize((60, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").size == (30, 60)


def damaged_exif(orientation: int) -> bytes:
    """An EXIF block whose Make tag is retyped as SamplesPerPixel (a number) while still holding text:
    the orientation reads fine, but Pillow cannot write the block back."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Canon"
    raw = exif.tobytes()
    little = raw[6:8] == b"II"
    at = raw.find(b"\x0f\x01\x02\x00" if little else b"\x01\x0f\x00\x02")  # tag 0x010F, type ASCII
    assert at > 0
    return raw[:at] + (b"\x15\x01" if little else b"\x01\x15") + raw[at + 2:]


def test_a_damaged_exif_block_still_gives_the_upright_picture(painting, tmp_path):
    from artlens.serve.uploads import decode_upload

    path = tmp_path / "phone.jpg"
    Image.open(painting).convert("RGB").resize((60, 30)).save(path, exif=damaged_exif(6))
    with pytest.raises(Exception):  # what a bare ImageOps.exif_transpose does with it
        ImageOps.exif_transpose(Image.open(path))
    assert load_image(path).size == (30, 60)
    assert upright(load_image(path)).size == (30, 60)  # upright once: never turned a second time
    upload = decode_upload(path.read_bytes())
    assert (upload.width, upload.height) == upload.image.size == (30, 60)


def test_truncated_jpeg_is_reported(painting, tmp_path):
    data = painting.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage, match="cut.jpg: corrupt or truncated"):
        load_image(tmp_path / "cut.jpg")


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    (tmp_path / "page.jpg").write_text("<html>404 Not Found</html>")
    assert check_image(tmp_path / "page.jpg") == "not an image (Pillow cannot identify the format)"


def test_decompression_bomb_limit_is_kept(painting, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the painting is 224x224 = 50k pixels
    reason = check_image(painting)
    assert reason is not None and reason.startswith("decompression bomb")


def test_scan_lists_only_bad_files(painting, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    skipped = scan_images([painting, tmp_path / "bad.png"])
    assert [s.path for s in skipped] == [str(tmp_path / "bad.png")]
