"""The dataset card (``README.md``) of the hub copy: YAML front matter and the text around it.

The front matter's ``configs:`` block maps each config and split to its Parquet shards,
so ``datasets.load_dataset(folder_or_repo, config)`` needs no loading script, and
``dataset_info`` carries the column types so images decode as ``PIL`` images.
"""

from __future__ import annotations

from typing import Any

from spirograph.hub.schema import DEFAULT_CONFIG, DEFAULT_REPO_ID, MANIFEST_NAME, TORCH_SPLITS, features

__all__ = ["CITATION", "DESCRIPTION", "HOMEPAGE", "LICENSE", "dataset_card"]

HOMEPAGE = "https://arxiv.org/abs/2010.09515"
LICENSE = "mit"
DESCRIPTION = (
    "Spirograph: RGB images (32x32 in the canonical config) of hypotrochoid curves rendered differentiably from ten "
    "continuous parameters (Foster, Pukdee & Rainforth, ICLR 2021). Four parameters (m, b, sigma, fore_r) are "
    "regression targets; the other six (h, fore_g, fore_b, back_r, back_g, back_b) are nuisance "
    "transformations."
)
CITATION = """\
@inproceedings{foster2021improving,
  title     = {Improving Transformation Invariance in Contrastive Representation Learning},
  author    = {Foster, Adam and Pukdee, Rattana and Rainforth, Tom},
  booktitle = {International Conference on Learning Representations},
  year      = {2021},
  url       = {https://arxiv.org/abs/2010.09515}
}"""


def _front_matter(manifest: dict[str, Any]) -> str:
    import yaml

    configs = []
    infos = []
    feature_list = features()._to_yaml_list()
    for name, config in manifest["configs"].items():
        entry: dict[str, Any] = {"config_name": name}
        if name == DEFAULT_CONFIG or len(manifest["configs"]) == 1:
            entry["default"] = True
        entry["data_files"] = [
            {"split": split, "path": f"{config['directory']}/{split}-*.parquet"} for split in config["splits"]
        ]
        configs.append(entry)
        infos.append(
            {
                "config_name": name,
                "features": feature_list,
                "splits": [
                    {"name": split, "num_bytes": info["num_bytes"], "num_examples": info["num_rows"]}
                    for split, info in config["splits"].items()
                ],
                "download_size": sum(
                    manifest["files"][path]["bytes"] for info in config["splits"].values() for path in info["files"]
                ),
                "dataset_size": sum(info["num_bytes"] for info in config["splits"].values()),
            }
        )
    total = sum(info["num_rows"] for config in manifest["configs"].values() for info in config["splits"].values())
    size_category = (
        next(
            label
            for limit, label in (
                (1_000, "n<1K"),
                (10_000, "1K<n<10K"),
                (100_000, "10K<n<100K"),
                (1_000_000, "100K<n<1M"),
            )
            if total < limit
        )
        if total < 1_000_000
        else "1M<n<10M"
    )
    front = {
        "license": LICENSE,
        "pretty_name": "Spirograph",
        "size_categories": [size_category],
        "task_categories": ["image-feature-extraction"],
        "tags": ["synthetic", "contrastive-learning", "invariance", "regression", "differentiable-rendering"],
        "configs": configs,
        "dataset_info": infos,
    }
    return "---\n" + yaml.safe_dump(front, sort_keys=False, default_flow_style=False) + "---\n"


def _table(manifest: dict[str, Any]) -> str:
    lines = ["| config | size | normalisation | split | rows | files |", "|---|---|---|---|---|---|"]
    for name, config in manifest["configs"].items():
        for split, info in config["splits"].items():
            lines.append(
                f"| `{name}` | {config['size']}x{config['size']} | `{config['normalize']}` | `{split}` "
                f"(torch `{TORCH_SPLITS[split]}`, seed {info['seed']}) | {info['num_rows']:,} | {len(info['files'])} |"
            )
    return "\n".join(lines)


def dataset_card(manifest: dict[str, Any], grids: dict[str, str], *, repo_id: str | None = None) -> str:
    """The full ``README.md`` of an export.

    Args:
        manifest: the export's manifest (without the card's own entry).
        grids: config name -> path (relative to the export) of its sample grid PNG.

    Returns:
        The card's text: YAML front matter then Markdown.
    """
    first = next(iter(manifest["configs"]))
    pictures = "\n\n".join(f"![Samples of config {name}]({path})" for name, path in grids.items())
    subset = manifest.get("subset")
    subset_note = (
        f"\n\n**This copy holds only the first {subset:,} rows of each split**; the full splits hold "
        "100,000 / 10,000 / 20,000 rows.\n"
        if subset is not None
        else ""
    )
    return f"""{_front_matter(manifest)}
# Spirograph

{DESCRIPTION}

This copy was exported by the `spirograph` Python package, version {manifest["package_version"]}
(dataset version `{manifest["dataset_version"]}`). Every row is rendered by the same code as the
package's torch dataset `spirograph.Spirograph(split)`: the parameters are identical bit for bit and
the images are the float images rounded to 8 bits.{subset_note}

{pictures}

## Contents

{_table(manifest)}

Columns:

| column | type | meaning |
|---|---|---|
| `index` | int64 | row index in the split (item `i` of `Spirograph(split)`) |
| `image` | image (PNG, RGB) | the rendered image, `round(255 * pixel)` |
| `m`, `b`, `h`, `sigma` | float32 | curve size, rolling-circle radius, pen distance, stroke width |
| `fore_r`, `fore_g`, `fore_b` | float32 | foreground colour |
| `back_r`, `back_g`, `back_b` | float32 | background colour |
| `targets` | list of 4 float32 | the regression targets, in order `m, b, sigma, fore_r` |

## The generative process

Ten parameters are drawn per image from independent uniform priors: m ~ U(2, 5), b ~ U(0.1, 1.1),
h ~ U(0.5, 2.5), sigma ~ U(0.25, 1), fore_r, fore_g, fore_b ~ U(0.4, 1) and back_r, back_g, back_b ~ U(0, 0.6).
Each split has a fixed seed and row `i` is a pure function of (seed, i), drawn with a counter-based
sampler. A hypotrochoid is traced at T = {manifest["configs"][first]["n_points"]} points
t_k = linspace(0, 2 pi, T):

    x_k = (m - h) cos(t_k) + h cos(t_k (m - h) / b)
    y_k = (m - h) sin(t_k) - h sin(t_k (m - h) / b)

and drawn on a grid g = linspace(-6, 6, size) with Gaussian strokes:

    v[i, j] = 1/T sum_k exp(-((g_i - x_k)^2 + (g_j - y_k)^2) / sigma)
    image[c, i, j] = v[i, j] fore[c] + (1 - v[i, j]) back[c]

after normalising `v`: config `v1` divides each image row by its maximum (`normalize="row"`, the
paper's released generator, which produced the paper's figures and numbers); `v1-image` divides the whole
image by its maximum (`normalize="image"`, the equation as printed in the paper).

## Loading

With `datasets` (any framework, no torch needed):

```python
from datasets import load_dataset

train = load_dataset("{DEFAULT_REPO_ID}", "{first}", split="train")
train[0]["image"]      # PIL image
train[0]["targets"]    # [m, b, sigma, fore_r]
```

With PyTorch, through the `spirograph` package (downloads this copy and checks every file against
the manifest's SHA-256):

```python
from spirograph import Spirograph

train = Spirograph("train", source="hub")
```

The package can also render the same data locally without any download: `Spirograph("train")`.

## Manifest

`{MANIFEST_NAME}` lists every file of this copy with its SHA-256, size and row count, the package
version, the split seeds and the renderer settings of each config. Readers verify each file they use
against it.

## Licence

MIT.

## Citation

```bibtex
{CITATION}
```
"""
