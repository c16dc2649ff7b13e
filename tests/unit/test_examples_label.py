from __future__ import annotations

from pathlib import Path

from PIL import Image

from polysim.examples import BANNER, label_synthetic


def test_example_images_get_a_synthetic_banner_below_the_chart(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    Image.new("RGBA", (1080, 720), (255, 255, 255, 255)).save(path)

    label_synthetic(path)

    with Image.open(path) as labelled:
        image = labelled.convert("RGBA")
    assert image.width == 1080
    assert image.height > 720
    assert image.getpixel((540, 719)) == (255, 255, 255, 255)  # the chart is left whole
    assert image.getpixel((2, image.height - 2)) == BANNER
    band = image.crop((0, 720, 1080, image.height))
    assert (255, 255, 255, 255) in {colour for _, colour in band.getcolors(100_000) or []}
