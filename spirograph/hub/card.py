"""The dataset card (``README.md``) of the hub copy: YAML front matter and the text around it.

The front matter's ``configs:`` block maps each exported config and split to its Parquet
shards, so ``datasets.load_dataset(folder_or_repo, config)`` needs no loading script, and
``dataset_info`` carries the column types so images decode as PIL images. The text
describes only what the export holds, names the repository it is meant for, and carries
what an image dataset card should: the factors, a traversal picture, the evaluation
protocol with the paper's numbers, uses and limitations, and the sources.
"""

from __future__ import annotations

from typing import Any

from spirograph.hub.schema import CONFIGS, DEFAULT_CONFIG, MANIFEST_NAME, TORCH_SPLITS, features
from spirograph.space import PARAMETER_MEANINGS

__all__ = [
    "CITATION",
    "DESCRIPTION",
    "DOCUMENTATION",
    "HOMEPAGE",
    "LICENSE",
    "PAPER",
    "REPOSITORY",
    "TRAVERSAL_PICTURE",
    "dataset_card",
]

REPOSITORY = "https://github.com/spirograph-dataset/spirograph"
"""The source repository of the package."""

DOCUMENTATION = "https://spirograph-dataset.github.io/spirograph/"
"""The package's documentation site."""

PAPER = "https://arxiv.org/abs/2010.09515"
"""Foster, Pukdee & Rainforth, ICLR 2021, on arXiv."""

HOMEPAGE = REPOSITORY
LICENSE = "mit"
TRAVERSAL_PICTURE = "traversals.png"
"""The file name, inside an export, of the picture sweeping each factor over its range."""

PLACEHOLDER_REPO_ID = "YOUR-NAME/spirograph"
"""What the card's snippets say when the export was not told its repository."""

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


# The paper's Table (SPEC section 4): ResNet-18, 3 seeds, test MSE at M = 1, mean +- standard error.
_PAPER_MSE = (
    ("m", "6.77e-4 ± 0.42e-4", "5.07e-4 ± 0.06e-4"),
    ("b", "1.125e-2 ± 0.021e-2", "7.36e-3 ± 0.09e-3"),
    ("sigma", "9.14e-5 ± 0.88e-5", "5.27e-5 ± 0.21e-5"),
    ("fore_r", "2.32e-5 ± 0.04e-5", "2.79e-6 ± 0.05e-6"),
    ("mean", "2.93e-3 ± 0.07e-3", "1.95e-3 ± 0.03e-3"),
)
_PAPER_CURVES = (
    ("no penalty", "2.97, 2.71, 2.59, 2.50, 2.45, 2.33, 2.26, 2.23"),
    ("penalty (λ = 1e-2)", "1.99, 1.63, 1.46, 1.36, 1.28, 1.11, 1.00, 0.957"),
)


_CURVE_EQUATIONS = r"""$$x_k = (m - h)\cos t_k + h \cos\frac{(m - h)\, t_k}{b}, \qquad
y_k = (m - h)\sin t_k - h \sin\frac{(m - h)\, t_k}{b}$$

$$v_{ij} = \frac{1}{T} \sum_{k=1}^{T}
\exp\left(-\frac{(g_i - x_k)^2 + (g_j - y_k)^2}{\sigma}\right), \qquad
\mathrm{image}_{cij} = \hat v_{ij}\, \mathrm{fore}_c + (1 - \hat v_{ij})\, \mathrm{back}_c$$"""


def _size_category(total: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if total < limit:
            return label
    return "1M<n<10M"


def _front_matter(manifest: dict[str, Any]) -> str:
    import yaml

    configs, infos = [], []
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
    front = {
        "license": LICENSE,
        "pretty_name": "Spirograph",
        "size_categories": [_size_category(total)],
        "task_categories": ["image-feature-extraction"],
        "source_datasets": ["original"],
        "annotations_creators": ["machine-generated"],
        "tags": ["synthetic", "contrastive-learning", "invariance", "regression", "differentiable-rendering"],
        "configs": configs,
        "dataset_info": infos,
    }
    return "---\n" + yaml.safe_dump(front, sort_keys=False, default_flow_style=False, allow_unicode=True) + "---\n"


def _contents(manifest: dict[str, Any]) -> str:
    lines = ["| config | size | normalisation | split | rows | files |", "|---|---|---|---|---|---|"]
    for name, config in manifest["configs"].items():
        for split, info in config["splits"].items():
            lines.append(
                f"| `{name}` | {config['size']}x{config['size']} | `{config['normalize']}` | `{split}` "
                f"(torch `{TORCH_SPLITS[split]}`, seed {info['seed']}) | {info['num_rows']:,} | {len(info['files'])} |"
            )
    return "\n".join(lines)


def _factors(manifest: dict[str, Any]) -> str:
    lines = ["| factor | meaning | range (uniform prior) | role |", "|---|---|---|---|"]
    targets = set(manifest["targets"])
    for name in manifest["parameter_names"]:
        low, high = manifest["bounds"][name]
        role = "target" if name in targets else "nuisance"
        lines.append(f"| `{name}` | {PARAMETER_MEANINGS[name]} | U({low:g}, {high:g}) | {role} |")
    return "\n".join(lines)


def _normalisations(manifest: dict[str, Any]) -> str:
    said = {
        "row": '`normalize="row"` divides each image row by its maximum: the paper\'s released generator, which '
        "produced the paper's figures and numbers",
        "image": '`normalize="image"` divides the whole image by its maximum: the equation as printed in the paper',
    }
    return "\n".join(
        f"- config `{name}` ({config['size']}x{config['size']}): {said[config['normalize']]}."
        for name, config in manifest["configs"].items()
    )


def _evaluation() -> str:
    per_task = "\n".join(f"| {task} | {plain} | {penalty} |" for task, plain, penalty in _PAPER_MSE)
    curves = "\n".join(f"| {name} | {values} |" for name, values in _PAPER_CURVES)
    return f"""The protocol of the paper: freeze the encoder, encode the images, fit one linear layer on
the four targets `(m, b, sigma, fore_r)` by L-BFGS (500 steps, L2 weight 1e-8 on the weights)
on half of the training split (50,000 rows) and report the test mean squared error on half of
the test split (10,000 rows), per target and averaged. With feature averaging, the feature of an
input is the mean encoding of M renderings with independent nuisance draws (this needs the
renderer: `spirograph.evaluate(encoder, n_draws=M)`).

The paper's numbers (ResNet-18 trained 50 epochs with the SimCLR loss, with and without the
gradient penalty; 3 seeds, mean ± standard error), test MSE at M = 1:

| target | no penalty | penalty (λ = 1e-2) |
|---|---|---|
{per_task}

Mean test MSE (x 1e-3) against M = 1, 2, 3, 4, 5, 10, 20, 30:

| encoder | mean MSE x 1e-3 |
|---|---|
{curves}

This package's own baselines (reference encoders and CPU-sized reproductions, with their
configs, seeds and result files) are on the leaderboard: {REPOSITORY}/blob/main/baselines/LEADERBOARD.md"""


def _limitations(manifest: dict[str, Any]) -> str:
    row = any(config["normalize"] == "row" for config in manifest["configs"].values())
    stems = (
        '\n- **Row-normalisation stems.** With `normalize="row"` every image row is divided by its own '
        'maximum, so rows that only graze the curve are brightened into vertical "stems". They are part of '
        "the paper's data (its released generator made them); use config `v1-image` (the printed equation) "
        "for images without them."
        if row
        else ""
    )
    return f"""- **Intended use**: benchmarking representations for invariance to known, continuous
  transformations, and robustness to shifts of their distribution, with exact ground truth.
- **8-bit rounding.** Images are stored as PNG, `round(255 * pixel)`, within 0.5 / 255 of the
  float images the renderer makes; the parameters are stored exactly. For bit-exact float
  images, or gradients with respect to the parameters, use the renderer (`spirograph.render`).
- **One nuisance draw per row.** The copy is static; contrastive training, feature averaging
  and the robustness protocol need fresh nuisance draws, which the renderer gives
  (`Spirograph(split).views(n_draws)`, `spirograph.SpirographTransform`).{stems}
- **Synthetic.** Curves on a 32x32 canvas; no people, no personal data. Results on it say
  nothing by themselves about natural images."""


def _snippets(manifest: dict[str, Any], repo_id: str | None) -> str:
    repo = repo_id or PLACEHOLDER_REPO_ID
    first = next(iter(manifest["configs"]))
    config = manifest["configs"][first]
    hub_split = next(iter(config["splits"]))
    torch_split = TORCH_SPLITS[hub_split]
    renderer = "" if (config["size"], config["normalize"]) == (32, "row") else (
        f", size={config['size']}, normalize={config['normalize']!r}"
    )  # fmt: skip
    placeholder = (
        f"\n\nReplace `{PLACEHOLDER_REPO_ID}` with the repository this copy is pushed to "
        "(`spirograph export --repo-id` writes it here).\n"
        if repo_id is None
        else ""
    )
    return f"""With `datasets` (any framework, no torch needed):{placeholder}

```python
from datasets import load_dataset

data = load_dataset("{repo}", "{first}", split="{hub_split}")
data[0]["image"]      # PIL image
data[0]["targets"]    # [m, b, sigma, fore_r]
```

With PyTorch, through the `spirograph` package (`pip install "spirograph-dataset[hub]"`), which
downloads this copy and checks every file against the manifest's SHA-256. Items are float32
tensors `(3, size, size)` in `[0, 1]`, not PIL images:

```python
from spirograph.hub import hub_dataset

data = hub_dataset("{torch_split}", "{repo}"{renderer})
image, target = data[0]
```

The package also renders the same rows locally without any download: `Spirograph("{torch_split}"{renderer})`."""


def _copy_notes(manifest: dict[str, Any]) -> tuple[str, str]:
    """What this copy leaves out: the rows beyond its subset, the configs it was not given."""
    subset = manifest.get("subset")
    subset_note = (
        f"\n\n**This copy holds only the first {subset:,} rows of each split**; the full splits hold "
        "100,000 / 10,000 / 20,000 rows.\n"
        if subset is not None
        else ""
    )
    others = [name for name in CONFIGS if name not in manifest["configs"]]
    other_note = (
        f" The package knows other configs too ({', '.join(f'`{name}`' for name in others)}); export them "
        "with `spirograph export --config NAME`."
        if others
        else ""
    )
    return subset_note, other_note


def dataset_card(manifest: dict[str, Any], grids: dict[str, str], *, repo_id: str | None = None) -> str:
    """The full ``README.md`` of an export.

    Args:
        manifest: the export's manifest (without the card's own entry).
        grids: config name -> path (relative to the export) of its sample grid PNG.
        repo_id: the repository the copy is meant for, named by the loading snippets;
            ``None`` writes a placeholder and says to replace it.

    Returns:
        The card's text: YAML front matter then Markdown.
    """
    pictures = "\n\n".join(f"![Samples of config {name}]({path})" for name, path in grids.items())
    first = next(iter(manifest["configs"]))
    exported = ", ".join(f"`{name}`" for name in manifest["configs"])
    subset_note, other_note = _copy_notes(manifest)
    return f"""{_front_matter(manifest)}
# Spirograph

{DESCRIPTION}

- Paper: [Improving Transformation Invariance in Contrastive Representation Learning]({PAPER})
  (Foster, Pukdee & Rainforth, ICLR 2021)
- Code: [{REPOSITORY.removeprefix("https://github.com/")}]({REPOSITORY}), the `spirograph-dataset` Python package
- Documentation: [{DOCUMENTATION}]({DOCUMENTATION})

This copy was exported by `spirograph` version {manifest["package_version"]} (dataset version
`{manifest["dataset_version"]}`) and holds the config(s) {exported}.{other_note} Every row is rendered by
the same code as the package's torch dataset `spirograph.Spirograph(split)`: the parameters are
identical bit for bit and the images are the float images rounded to 8 bits.{subset_note}

{pictures}

## Contents

{_contents(manifest)}

Columns:

| column | type | meaning |
|---|---|---|
| `index` | int64 | row index in the split (item `i` of `Spirograph(split)`) |
| `image` | image (PNG, RGB) | the rendered image, `round(255 * pixel)` |
| `m`, `b`, `h`, `sigma` | float32 | curve size, rolling-circle radius, pen distance, stroke width |
| `fore_r`, `fore_g`, `fore_b` | float32 | foreground colour |
| `back_r`, `back_g`, `back_b` | float32 | background colour |
| `targets` | list of 4 float32 | the regression targets, in order `m, b, sigma, fore_r` |

## Factors

Each image is drawn from ten independent factors. The four targets are what a representation
should keep; the six nuisance factors are the transformations it should be invariant to (the
split is a choice: the package lets any factor move between the two sets).

{_factors(manifest)}

![Each factor swept over its range, the others fixed; the value is under each image]({TRAVERSAL_PICTURE})

## The generative process

Each split has a fixed seed and row `i` is a pure function of (seed, i), drawn with a
counter-based sampler. A hypotrochoid is traced at T = {manifest["configs"][first]["n_points"]} points
$t_k$ evenly spaced in $[0, 2\\pi]$, and drawn with Gaussian strokes on a grid $g$ of `size`
points evenly spaced in $[-6, 6]$:

{_CURVE_EQUATIONS}

where $\\hat v$ is $v$ normalised:

{_normalisations(manifest)}

## Evaluation protocol and reference numbers

{_evaluation()}

## Uses and limitations

{_limitations(manifest)}

## Loading

{_snippets(manifest, repo_id)}

## Manifest

`{MANIFEST_NAME}` lists every file of this copy with its SHA-256, size and row count, the package
version, the split seeds and the renderer settings of each config. Readers verify each file they use
against it.

## Sources

- Paper: {PAPER}
- Code and issue tracker: {REPOSITORY}
- Documentation: {DOCUMENTATION}
- Data: generated by the package's renderer from fixed seeds (no external source data).

## Licence

MIT.

## Citation

```bibtex
{CITATION}
```
"""
