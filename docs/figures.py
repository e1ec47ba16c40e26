"""Write every figure of the documentation and the README into docs/assets/.

Run from the repository root::

    PYTHONPATH=$PWD python docs/figures.py

Every picture is a pure function of the canonical dataset and fixed seeds, so running
this again gives the same PNG pixels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from spirograph import PARAMETER_NAMES, ParameterSpace, Spirograph, render
from spirograph.viz import (
    image_grid,
    normalization_comparison,
    nuisance_variations,
    save_gif,
    save_png,
    traversal,
    traversal_grid,
)

ASSETS = Path(__file__).resolve().parent / "assets"


def samples(out: Path) -> Path:
    """32 samples of the training split, as a 4 x 8 grid."""
    images = Spirograph("train", subset=32).images()
    return save_png(image_grid(images, nrow=8, scale=3, padding=2), out / "samples.png")


def banner(out: Path) -> Path:
    """The README's top picture: a wide strip of test-split samples."""
    images = Spirograph("test", subset=24).images()
    return save_png(image_grid(images, nrow=12, scale=3, padding=3, pad_value=1.0), out / "banner.png")


def normalisation(out: Path) -> Path:
    """The same six parameter vectors under "row" (top) and "image" (bottom) normalisation.

    Shown at the page's width (about 690 px in a 1280 px window), so the figure is kept narrow
    and its labels large: six columns, not eight, and 22 px labels (about 18 px on the page).
    """
    params = Spirograph("train", subset=6).params
    return save_png(normalization_comparison(params, scale=3, padding=2, font_size=22), out / "normalisation.png")


def traversals(out: Path) -> list[Path]:
    """One labelled strip per parameter, each value under its image (a PNG), and the sweep of m as a GIF."""
    base = {"m": 3.5, "b": 0.45, "h": 1.2}
    grid = traversal_grid(PARAMETER_NAMES, 9, base, scale=3, padding=2, font_size=15)
    gif = save_gif(traversal("m", 24, base), out / "traversal_m.gif", duration=90, scale=4)
    return [save_png(grid, out / "traversals.png"), gif]


def mse_vs_m(out: Path) -> Path:
    """The leaderboard's feature-averaging plot (made by baselines/leaderboard.py), copied for the docs."""
    source = Path(__file__).resolve().parents[1] / "baselines" / "mse_vs_m.png"
    with Image.open(source) as picture:
        return save_png(picture.convert("RGB"), out / "mse_vs_m.png")


def same_targets(out: Path) -> Path:
    """Each row: one item's targets (m, b, sigma, fore_r) under eight nuisance draws."""
    params = Spirograph("train", subset=4).params
    variations = nuisance_variations(params, 8, space=ParameterSpace(), seed=0)  # (4, 8, 10)
    images = render(variations).flatten(0, 1)
    return save_png(image_grid(images, nrow=8, scale=3, padding=2), out / "same_targets.png")


def main(argv: list[str] | None = None) -> int:
    """Write all figures; print where they went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ASSETS, help=f"folder to write (default {ASSETS})")
    args = parser.parse_args(argv)
    written = [samples(args.out), banner(args.out), normalisation(args.out), *traversals(args.out)]
    written += [same_targets(args.out), mse_vs_m(args.out)]
    for path in written:
        print(f"{path} ({path.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
