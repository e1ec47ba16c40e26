from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.evaluation import (
    EVALUATION_STREAM,
    EvaluationResult,
    InvarianceResult,
    evaluate,
    feature_averaging,
    invariance,
)
from spirograph.evaluation._encoding import _Features
from spirograph.references import OracleEncoder, PixelEncoder, RandomEncoder
from spirograph.robustness import SHIFT_FAMILIES, RobustnessResult, ShiftFamily, robustness
from spirograph.space import DEFAULT_BOUNDS, PARAMETER_NAMES, ParameterSpace
from spirograph.tasks import nuisance_tasks, target_tasks, tasks_from_names


@pytest.fixture(scope="module")
def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module")
def train() -> Spirograph:
    return Spirograph("train", subset=256)


@pytest.fixture(scope="module")
def test() -> Spirograph:
    return Spirograph("test", subset=128)


class Recorder(nn.Module):
    """An oracle-style encoder that keeps every parameter batch it is given."""

    encodes_parameters = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.grad_enabled: list[bool] = []
        self.training_seen: list[bool] = []

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        self.seen.append(params.clone())
        self.grad_enabled.append(torch.is_grad_enabled())
        self.training_seen.append(self.training)
        return params[:, :4]


# ---------------------------------------------------------------------- reference points
@pytest.mark.parametrize("probe", ["lbfgs", "ridge"])
def test_oracle_scores_zero(train: Spirograph, test: Spirograph, probe: str, device: str) -> None:
    result = evaluate(OracleEncoder(), train=train, test=test, probe=probe, device=device, progress=False)  # type: ignore[arg-type]
    assert result.mse_mean < 1e-9
    assert all(r2 > 1 - 1e-8 for r2 in result.r2.values())
    assert result.tasks == ["m", "b", "sigma", "fore_r"]
    assert result.feature_dim == 4


def test_features_independent_of_targets_score_the_prior_variance(train: Spirograph, test: Spirograph) -> None:
    blind = OracleEncoder(["h", "back_r", "back_g"])
    result = evaluate(blind, train=train, test=test, probe="ridge", progress=False)
    for task, value in result.normalized_mse.items():
        assert 0.8 < value < 1.3, (task, value)
    assert all(r2 < 0.1 for r2 in result.r2.values())


def test_pixels_and_random_network_beat_the_prior(train: Spirograph, test: Spirograph, device: str) -> None:
    encoder = RandomEncoder(seed=0, width=8).to(device)
    random_features = evaluate(encoder, train=train, test=test, probe="ridge", device=device, progress=False)
    assert random_features.feature_dim == 128
    assert random_features.normalized_mse["fore_r"] < 0.5  # colour is easy to read off linearly


def test_random_encoder_is_a_pure_function_of_its_seed() -> None:
    state = torch.random.get_rng_state()
    first, second, other = (
        RandomEncoder(seed=3, width=4),
        RandomEncoder(seed=3, width=4),
        RandomEncoder(seed=4, width=4),
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first(images), second(images))
    assert not torch.equal(first(images), other(images))


def test_pixel_encoder_flattens() -> None:
    images = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(PixelEncoder()(images), images.reshape(3, -1))
    with pytest.raises(ParameterError, match=r"PixelEncoder: `images` must have shape \(B, C, H, W\), got \(3, 32\)"):
        PixelEncoder()(torch.zeros(3, 32))


# ---------------------------------------------------------------------- protocol details
def test_draws_are_the_documented_pure_function(train: Spirograph, test: Spirograph) -> None:
    recorder = Recorder()
    evaluate(recorder, train=train, test=test, probe="ridge", batch_size=100, seed=5, progress=False)
    seen = torch.cat(recorder.seen[:3])  # the train set, in three batches
    space = ParameterSpace()
    expected = space.sample_nuisance(
        train.targets, seed=5, index=torch.arange(len(train)), stream=(EVALUATION_STREAM, train.seed, 0)
    )
    torch.testing.assert_close(seen, expected, rtol=0, atol=0)
    # Targets are kept, nuisance is redrawn (not the dataset's static table).
    torch.testing.assert_close(seen[:, list(space.target_index)], train.targets, rtol=0, atol=0)
    assert not torch.equal(seen, train.params)
    assert not any(recorder.grad_enabled)
    assert not any(recorder.training_seen)
    assert recorder.training  # the encoder's own mode is restored


def test_seed_changes_draws_but_result_is_reproducible(train: Spirograph, test: Spirograph) -> None:
    kwargs: dict[str, Any] = {"train": train, "test": test, "probe": "ridge", "progress": False}
    first = evaluate(RandomEncoder(width=4), seed=1, **kwargs)
    again = evaluate(RandomEncoder(width=4), seed=1, **kwargs)
    other = evaluate(RandomEncoder(width=4), seed=2, **kwargs)
    assert first.mse == again.mse
    assert first.mse != other.mse


def test_default_protocol_uses_half_of_each_split() -> None:
    # The oracle needs no rendering, so the full-size default protocol is quick.
    result = evaluate(OracleEncoder(), progress=False)
    assert (result.n_train, result.n_test) == (50_000, 10_000)
    assert result.splits == {"train": "train", "test": "test"}
    assert (result.probe, result.l2, result.steps, result.n_draws, result.M) == ("lbfgs", 1e-8, 500, 1, 1)
    assert result.normalize == "row"
    assert result.mse_mean < 1e-9


# ---------------------------------------------------------------------- feature averaging
def test_averaging_an_invariant_encoder_changes_nothing(train: Spirograph, test: Spirograph) -> None:
    result = evaluate(OracleEncoder(["m", "b", "sigma", "fore_r"]), train=train, test=test, n_draws=[1, 4],
                      probe="ridge", progress=False)  # fmt: skip
    assert result.feature_averaging is not None
    assert result.feature_averaging[4] == pytest.approx(result.feature_averaging[1], rel=1e-9, abs=1e-15)


def test_curve_from_one_pass_equals_separate_runs(device: str) -> None:
    small_train, small_test = Spirograph("train", subset=96), Spirograph("test", subset=48)
    kwargs: dict[str, Any] = {"train": small_train, "test": small_test, "probe": "ridge", "progress": False}
    kwargs["device"] = device
    encoder = RandomEncoder(seed=1, width=4).to(device)
    curve = evaluate(encoder, n_draws=[1, 2, 5, 30], **kwargs)
    assert curve.n_draws == 30 and curve.M == 30 and curve.feature_averaging is not None
    assert sorted(curve.feature_averaging) == [1, 2, 5, 30]
    for m in (2, 5):
        alone = evaluate(encoder, n_draws=m, **kwargs)
        assert alone.feature_averaging is None
        assert curve.feature_averaging[m] == pytest.approx(alone.mse_mean, rel=1e-9)
        assert curve.feature_averaging_per_task is not None
        assert curve.feature_averaging_per_task[m] == pytest.approx(alone.mse, rel=1e-9)
    assert curve.mse_mean == pytest.approx(curve.feature_averaging[30])
    # Averaging pixels over nuisance draws helps the linear probe.
    assert curve.feature_averaging[30] < curve.feature_averaging[1]
    assert feature_averaging(encoder, n_draws=(2, 5), **kwargs) == pytest.approx(
        {m: curve.feature_averaging[m] for m in (2, 5)}, rel=1e-9
    )


def test_each_draw_is_encoded_once(train: Spirograph, test: Spirograph) -> None:
    recorder = Recorder()
    evaluate(recorder, train=train, test=test, n_draws=[1, 2, 3], probe="ridge", progress=False)
    assert sum(batch.shape[0] for batch in recorder.seen) == 3 * (len(train) + len(test))


# ---------------------------------------------------------------------- robustness
@pytest.mark.parametrize("name", sorted(SHIFT_FAMILIES))
def test_each_family_moves_only_its_own_prior(name: str) -> None:
    family = SHIFT_FAMILIES[name]
    base = ParameterSpace()
    for value in family.grid:
        space = family.space(value)
        changed = {p for p in PARAMETER_NAMES if space.bounds[p] != base.bounds[p]}
        assert changed == (set() if value == 0 else set(family.parameters)), (name, value)
        assert (space.targets, space.nuisance) == (base.targets, base.nuisance)
        draws = space.sample(4000, seed=0)
        for parameter in family.parameters:
            low, high = space.bounds[parameter]
            column = draws[:, PARAMETER_NAMES.index(parameter)]
            assert low <= float(column.min()) and float(column.max()) <= high
            assert float(column.mean()) == pytest.approx((low + high) / 2, abs=0.03 * (high - low))


def test_family_bounds_are_the_papers() -> None:
    assert SHIFT_FAMILIES["h_shift"].space(-0.5).bounds["h"] == (0.0, 2.0)
    assert SHIFT_FAMILIES["h_spread"].space(-0.5).bounds["h"] == (1.0, 2.0)
    assert SHIFT_FAMILIES["h_spread"].space(0.3).bounds["h"] == (0.2, 2.8)
    assert SHIFT_FAMILIES["background_shift"].space(0.4).bounds["back_g"] == (0.4, 1.0)
    assert SHIFT_FAMILIES["background_spread"].space(-0.2).bounds["back_r"] == (0.2, 0.4)
    assert SHIFT_FAMILIES["background_spread"].space(0.4).bounds["back_b"] == (0.0, 1.0)
    assert SHIFT_FAMILIES["h_shift"].grid == (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5)
    assert SHIFT_FAMILIES["background_shift"].grid == (0.0, 0.1, 0.2, 0.3, 0.4)


def test_robustness_trains_and_tests_under_the_shift(train: Spirograph, test: Spirograph) -> None:
    recorder = Recorder()
    narrow = ShiftFamily("narrow_h", ("h",), "spread", (-0.9,))
    result = robustness(recorder, [narrow], train=train, test=test, probe="ridge", progress=False)
    h = torch.cat(recorder.seen)[:, PARAMETER_NAMES.index("h")]
    assert float(h.min()) >= 1.4 and float(h.max()) <= 1.6  # U(1.4, 1.6) for probe-train and test
    assert isinstance(result, RobustnessResult) and list(result) == ["narrow_h"]
    assert result.records["narrow_h"][-0.9].bounds["h"] == [1.4, 1.6]


def test_robustness_of_pixels(train: Spirograph, test: Spirograph) -> None:
    family = ShiftFamily("h_two", ("h",), "shift", (-0.5, 0.5))
    result = robustness(PixelEncoder(), [family, "background_shift"], train=Spirograph("train", subset=64),
                        test=Spirograph("test", subset=32), probe="ridge", progress=False)  # fmt: skip
    assert set(result) == {"h_two", "background_shift"}
    assert list(result["background_shift"]) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert set(result.per_task["h_two"][0.5]) == {"m", "b", "sigma", "fore_r"}
    assert result["h_two"][0.5] == pytest.approx(sum(result.per_task["h_two"][0.5].values()) / 4)
    json.dumps(result.to_dict())
    assert result["h_two"][-0.5] != result["h_two"][0.5]


def test_bad_families() -> None:
    with pytest.raises(ParameterError, match=r"robustness: `families` must be one of \['background_shift'.*got 'hue'"):
        robustness(PixelEncoder(), ["hue"])
    with pytest.raises(ParameterError, match=r"value -1.5 gives invalid bounds: .*needs low < high, got \(2.0, 1.0\)"):
        SHIFT_FAMILIES["h_spread"].space(-1.5)
    with pytest.raises(ParameterError, match=r"`kind` must be one of \['shift', 'spread'\], got 'tilt'"):
        ShiftFamily("x", ("h",), "tilt", (0.1,))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"ShiftFamily: `parameters` has unknown names \['hue'\]"):
        ShiftFamily("x", ("hue",), "shift", (0.1,))
    with pytest.raises(ParameterError, match="`value` must be a finite number, got nan"):
        SHIFT_FAMILIES["h_shift"].bounds(math.nan)


# ---------------------------------------------------------------------- invariance
def test_invariance_of_an_invariant_encoder_and_of_pixels(train: Spirograph, test: Spirograph, device: str) -> None:
    kwargs: dict[str, Any] = {"n_examples": 64, "n_draws": 4, "train": train, "test": test, "progress": False}
    kwargs["device"] = device
    oracle = invariance(OracleEncoder(), probe="ridge", **kwargs)
    assert oracle.conditional_variance == 0.0
    assert oracle.conditional_variance_normalized == 0.0
    assert oracle.nuisance_share == 0.0
    # Targets carry no nuisance information: the probe does no better than the prior mean.
    assert oracle.nuisance_mse is not None and oracle.nuisance_mse_prior_mean is not None
    assert oracle.nuisance_mse == pytest.approx(oracle.nuisance_mse_prior_mean, rel=0.2)
    pixels = invariance(PixelEncoder(), nuisance_probe=False, **kwargs)
    assert pixels.conditional_variance > 0
    assert 0 < pixels.conditional_variance_normalized <= 1.5
    assert 0.3 < pixels.nuisance_share <= 1
    assert pixels.nuisance_mse is None


def test_nuisance_share_against_a_direct_computation() -> None:
    data = Spirograph("test", subset=32)
    recorder = Recorder()
    result = invariance(recorder, data=data, n_examples=32, n_draws=3, nuisance_probe=False, progress=False)
    features = torch.stack([batch[:, :4] for batch in recorder.seen]).to(torch.float64)  # (draws, n, 4)
    conditional = features.var(dim=0).mean(0).sum()
    total = features.reshape(-1, 4).var(dim=0).sum()
    assert result.nuisance_share == pytest.approx(float(conditional / total), rel=1e-9)
    # Only sigma-free target columns: m, b, h(!), sigma -> h moves, so the share is positive.
    assert result.nuisance_share > 0


def test_nuisance_probe_on_nuisance_revealing_features(train: Spirograph, test: Spirograph) -> None:
    leaky = OracleEncoder(["m", "h", "back_r"])
    result = invariance(leaky, n_examples=16, n_draws=2, train=train, test=test, probe="ridge", progress=False)
    assert result.nuisance_mse_per_task is not None and result.nuisance_mse_prior_mean_per_task is not None
    assert result.nuisance_mse_per_task["h"] < 1e-9
    assert result.nuisance_mse_per_task["fore_g"] == pytest.approx(
        result.nuisance_mse_prior_mean_per_task["fore_g"], rel=0.3
    )


# ---------------------------------------------------------------------- records
def test_json_round_trip(tmp_path: Path, train: Spirograph, test: Spirograph) -> None:
    result = evaluate(RandomEncoder(width=4), train=train, test=test, n_draws=[1, 2], probe="ridge", progress=False)
    text = result.to_json()
    assert EvaluationResult.from_json(text) == result
    path = tmp_path / "deep" / "result.json"
    result.to_json(path)
    assert EvaluationResult.from_json(path) == result
    assert EvaluationResult.from_dict(json.loads(path.read_text())) == result
    data = result.to_dict()
    assert result.render_settings == train.settings
    assert "render_settings" not in data and {"size", "n_points", "extent", "normalize"} <= set(data)
    assert data["package_version"] == "0.1.0"
    assert set(data["timings"]) == {"encode", "fit", "total"}
    assert data["bounds"]["h"] == list(DEFAULT_BOUNDS["h"])
    assert data["seeds"] == {"evaluation": 0, "train": train.seed, "test": test.seed}
    assert not list(tmp_path.glob("deep/*.tmp"))

    diagnostics = invariance(PixelEncoder(), n_examples=8, n_draws=2, nuisance_probe=False, progress=False)
    assert InvarianceResult.from_json(diagnostics.to_json()) == diagnostics
    assert set(diagnostics.to_dict()) >= {
        "conditional_variance",
        "conditional_variance_normalized",
        "nuisance_share",
        "nuisance_mse",
        "nuisance_mse_prior_mean",
    }
    with pytest.raises(ParameterError, match=r"lacks the fields \['mse'\]"):
        EvaluationResult.from_dict({k: v for k, v in data.items() if k != "mse"})
    with pytest.raises(ParameterError, match=r"unknown fields \['colour'\]"):
        EvaluationResult.from_dict({**data, "colour": 1})


def test_a_record_with_the_old_averaging_field_is_refused_by_name(train: Spirograph, test: Spirograph) -> None:
    data = evaluate(PixelEncoder(), train=train, test=test, probe="ridge", progress=False).to_dict()
    old = {("averaging" if key == "n_draws" else key): value for key, value in data.items()}
    with pytest.raises(ParameterError, match=r"EvaluationResult.from_dict: .*`averaging` is now `n_draws`"):
        EvaluationResult.from_dict(old)
    with pytest.raises(ParameterError, match=r"`averaging` is now `n_draws`"):
        EvaluationResult.from_json(json.dumps(old))


# ---------------------------------------------------------------------- bad input
def test_bad_encoder_outputs(train: Spirograph, test: Spirograph) -> None:
    kwargs: dict[str, Any] = {"train": train, "test": test, "probe": "ridge", "progress": False}
    with pytest.raises(ParameterTypeError, match=r"encoder output must be a torch.Tensor of shape \(B, d\), got list"):
        evaluate(lambda images: images.flatten(1).tolist(), **kwargs)
    with pytest.raises(ParameterError, match=r"= \(256, d\) for a batch of 256 inputs, got \(255, 3072\)"):
        evaluate(lambda images: images.flatten(1)[1:], batch_size=256, **kwargs)
    with pytest.raises(ParameterError, match=r"got \(128, 3, 32, 32\) \(flatten"):
        evaluate(lambda images: images, batch_size=128, **kwargs)

    def nan_encoder(images: torch.Tensor) -> torch.Tensor:
        features = images.flatten(1).clone()
        features[0, 0] = float("inf")
        features[1, 0] = float("nan")
        return features

    with pytest.raises(ParameterError, match="encoder output must be finite, got 2 NaN/inf values"):
        evaluate(nan_encoder, **kwargs)
    with pytest.raises(ParameterTypeError, match=r"`encoder` must be an nn\.Module or a callable, got str"):
        evaluate("resnet18", **kwargs)  # type: ignore[arg-type]


def test_features_of_any_real_dtype_are_accumulated_in_float64(train: Spirograph, test: Spirograph) -> None:
    # Half-precision and integer features are added into the float64 sums as they are.
    kwargs: dict[str, Any] = {"train": train, "test": test, "probe": "ridge", "n_draws": [1, 2], "progress": False}
    weights = torch.randn(3 * 32 * 32, 8, generator=torch.Generator().manual_seed(0))

    def half(images: torch.Tensor) -> torch.Tensor:
        return (images.flatten(1) @ weights).to(torch.float16)

    def counts(images: torch.Tensor) -> torch.Tensor:
        return (images.flatten(1) @ weights * 100).round().to(torch.int32)

    for low, wide in [(half, lambda x: half(x).float()), (counts, lambda x: counts(x).double())]:
        assert evaluate(low, **kwargs).feature_averaging == evaluate(wide, **kwargs).feature_averaging


def test_huge_finite_features_pass_the_finite_check() -> None:
    # The check sums the batch in float64 first; a sum that overflows is not an error.
    features = _Features(lambda x: x, torch.device("cpu"), "evaluate")
    huge = torch.full((4, 3), 1e308, dtype=torch.float64)
    assert torch.equal(features.check(huge, 4), huge)
    huge[2, 1] = -math.inf
    with pytest.raises(ParameterError, match="encoder output must be finite, got 1 NaN/inf values"):
        features.check(huge, 4)


def test_bad_settings(train: Spirograph, test: Spirograph) -> None:
    kwargs: dict[str, Any] = {"train": train, "test": test, "progress": False}
    encoder = PixelEncoder()
    with pytest.raises(ParameterError, match=r"evaluate: `n_draws` must be an int >= 1, got 0"):
        evaluate(encoder, n_draws=0, **kwargs)
    with pytest.raises(ParameterError, match=r"evaluate: `n_draws\[1\]` must be an int >= 1, got -2"):
        evaluate(encoder, n_draws=[1, -2], **kwargs)
    with pytest.raises(ParameterError, match=r"`n_draws` must be an int M >= 1 or a non-empty list"):
        evaluate(encoder, n_draws=[], **kwargs)
    with pytest.raises(ParameterError, match=r"`probe` must be one of \['lbfgs', 'ridge'\], got 'svm'"):
        evaluate(encoder, probe="svm", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="evaluate: `steps` must be an int >= 1, got 0"):
        evaluate(encoder, steps=0, **kwargs)
    with pytest.raises(ParameterError, match="evaluate: `batch_size` must be an int >= 1, got 0"):
        evaluate(encoder, batch_size=0, **kwargs)
    with pytest.raises(ParameterError, match=r"tasks_from_names: `names` has unknown names \['radius'\]"):
        evaluate(encoder, tasks=tasks_from_names(["radius"]), **kwargs)
    with pytest.raises(ParameterError, match=r"tasks \['h'\] are nuisance parameters"):
        evaluate(encoder, tasks=tasks_from_names(["m", "h"]), n_draws=2, **kwargs)
    with pytest.raises(ParameterError, match="same renderer"):
        evaluate(encoder, train=train, test=Spirograph("test", subset=8, normalize="image"), progress=False)
    with pytest.raises(
        ParameterError, match="evaluate: `device` must name a torch device such as 'cpu' or 'cuda', got 'gpu0'"
    ):
        evaluate(encoder, device="gpu0", **kwargs)
    with pytest.raises(ParameterError, match=r"feature_averaging: `n_draws\[0\]` must be an int >= 1, got 0"):
        feature_averaging(encoder, n_draws=[0, 2], **kwargs)
    with pytest.raises(ParameterError, match="invariance: `n_draws` must be an int >= 2, got 1"):
        invariance(encoder, n_draws=1)
    with pytest.raises(ParameterError, match="`n_examples` must be <= len\\(data\\) = 8, got 9"):
        invariance(encoder, data=Spirograph("test", subset=8), n_examples=9)


def test_settings_of_the_wrong_type(train: Spirograph, test: Spirograph) -> None:
    kwargs: dict[str, Any] = {"train": train, "test": test, "progress": False}
    encoder = PixelEncoder()
    with pytest.raises(ParameterTypeError, match=r"evaluate: `n_draws` must be an int >= 1, got float 1.5"):
        evaluate(encoder, n_draws=1.5, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"evaluate: `tasks` must be a TaskSet"):
        evaluate(encoder, tasks=["m"], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="evaluate: `train` must be a Spirograph dataset or None, got list"):
        evaluate(encoder, train=[1, 2], test=test, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="evaluate: `space` must be a ParameterSpace or None, got dict"):
        evaluate(encoder, space={"h": (0, 1)}, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="evaluate: `progress` must be a bool, got int 1"):
        evaluate(encoder, train=train, test=test, progress=1)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"evaluate: `device` must be a torch\.device or a device name"):
        evaluate(encoder, device=0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="invariance: `nuisance_probe` must be a bool, got str 'yes'"):
        invariance(encoder, nuisance_probe="yes")  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_a_cuda_device_without_cuda_is_a_clear_error(train: Spirograph, test: Spirograph) -> None:
    with pytest.raises(ParameterError, match=r"evaluate: `device` is 'cuda' but CUDA is not available on this machine"):
        evaluate(PixelEncoder(), train=train, test=test, device="cuda", progress=False)
    with pytest.raises(ParameterError, match=r"invariance: `device` is 'cuda:0' but CUDA is not available"):
        invariance(PixelEncoder(), device="cuda:0", progress=False)


def test_nuisance_tasks_can_be_scored_at_one_draw(train: Spirograph, test: Spirograph) -> None:
    result = evaluate(OracleEncoder(["h"]), train=train, test=test, tasks=nuisance_tasks(), probe="ridge",
                      progress=False)  # fmt: skip
    assert result.mse["h"] < 1e-12
    assert result.normalized_mse["back_r"] > 0.8
    assert target_tasks().names != nuisance_tasks().names


def test_device_comes_from_the_encoder_when_not_given(train: Spirograph, test: Spirograph, device: str) -> None:
    encoder = RandomEncoder(seed=0, width=4).to(device)
    result = evaluate(encoder, train=train, test=test, probe="ridge", progress=False)
    assert torch.device(result.device) == next(encoder.parameters()).device
    assert evaluate(PixelEncoder(), train=train, test=test, probe="ridge", progress=False).device == "cpu"
    # The rule itself: the first parameter or buffer, else the CPU; an explicit device wins.
    from spirograph.evaluation._encoding import encoder_device

    buffers_only = nn.BatchNorm1d(2, affine=False).to(device)
    assert encoder_device(buffers_only, None, "evaluate") == torch.ones(1, device=device).device
    assert encoder_device(lambda x: x, None, "evaluate") == torch.device("cpu")
    assert encoder_device(buffers_only, "cpu", "evaluate") == torch.device("cpu")


def test_probe_sets_too_small_for_the_probe_are_refused(train: Spirograph, test: Spirograph) -> None:
    # One test item gave R^2 = 0 / 0 = NaN; one training item fits nothing.
    one_train, one_test = Spirograph("train", subset=1), Spirograph("test", subset=1)
    with pytest.raises(ParameterError, match=r"evaluate: `train` must hold at least 2 items to fit the probe, got 1"):
        evaluate(PixelEncoder(), train=one_train, test=test, probe="ridge", progress=False)
    with pytest.raises(ParameterError, match=r"evaluate: `test` must hold at least 2 items to score the probe"):
        evaluate(PixelEncoder(), train=train, test=one_test, probe="ridge", progress=False)
    # invariance() refuses them before its variance pass, under its own name.
    with pytest.raises(ParameterError, match=r"invariance: `test` must hold at least 2 items"):
        invariance(Recorder(), n_examples=4, n_draws=2, train=train, test=one_test, progress=False)
    small = evaluate(PixelEncoder(), train=Spirograph("train", subset=2), test=Spirograph("test", subset=2),
                     probe="ridge", progress=False)  # fmt: skip
    assert all(math.isfinite(value) for value in small.r2.values())


def test_features_without_columns_are_refused(train: Spirograph, test: Spirograph) -> None:
    def no_features(images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :0]

    message = r"evaluate: the encoder output must have at least one feature, \(B, d\) with d >= 1, got \(256, 0\)"
    with pytest.raises(ParameterError, match=message):
        evaluate(no_features, train=train, test=test, probe="ridge", batch_size=256, progress=False)
    with pytest.raises(ParameterError, match=r"invariance: the encoder output must have at least one feature"):
        invariance(no_features, n_examples=4, n_draws=2, nuisance_probe=False, progress=False)


@pytest.mark.parametrize("probe", ["ridge", "lbfgs"])
def test_features_near_1e200_are_scored_like_their_scaled_copy(train: Spirograph, test: Spirograph, probe: str) -> None:
    # Squares of such features overflow float64: ridge raised torch's LinAlgError, L-BFGS gave NaN.
    class Scaled(nn.Module):
        encodes_parameters = True

        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, params: torch.Tensor) -> torch.Tensor:
            return params.double() * self.scale

    kwargs: dict[str, Any] = {"train": train, "test": test, "probe": probe, "progress": False}
    huge = evaluate(Scaled(1e200), **kwargs)
    plain = evaluate(Scaled(1.0), l2=0.0, **kwargs)
    assert huge.mse_mean < 1e-10
    assert huge.mse == pytest.approx(plain.mse, abs=1e-10)


def test_images_that_are_not_finite_are_not_blamed_on_the_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = Spirograph("train", subset=8), Spirograph("test", subset=8)

    def nan_images(params: torch.Tensor) -> torch.Tensor:
        images = torch.zeros(params.shape[0], 3, 32, 32)
        images[1, 0, 0, 0] = float("nan")
        return images

    monkeypatch.setattr(train, "render_params", nan_images)
    message = r"evaluate: the images of the dataset must be finite, got 1 NaN/inf values in 1 of 8 images"
    with pytest.raises(ParameterError, match=message) as info:
        evaluate(PixelEncoder(), train=train, test=test, probe="ridge", progress=False)
    assert "encoder output" not in str(info.value)
    monkeypatch.setattr(test, "render_params", nan_images)
    with pytest.raises(ParameterError, match=r"invariance: the images of the dataset must be finite"):
        invariance(PixelEncoder(), data=test, n_examples=4, n_draws=2, nuisance_probe=False, progress=False)


def test_the_meta_device_is_refused_up_front(train: Spirograph, test: Spirograph) -> None:
    # Weights or a device with no data: torch raised RuntimeError after the setup.
    kwargs: dict[str, Any] = {"train": train, "test": test, "probe": "ridge", "progress": False}
    on_meta = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4, device="meta"))
    weights = r"evaluate: `encoder` has weights on the meta device, which holds no data; materialise them first"
    with pytest.raises(ParameterError, match=weights):
        evaluate(on_meta, **kwargs)
    with pytest.raises(ParameterError, match=weights):
        evaluate(on_meta, device="cpu", **kwargs)
    with pytest.raises(ParameterError, match=r"evaluate: `encoder` has weights on the meta device"):
        evaluate(nn.Sequential(nn.Flatten(), nn.BatchNorm1d(3 * 32 * 32, affine=False).to("meta")), **kwargs)
    with pytest.raises(ParameterError, match=r"evaluate: `device` is 'meta', a device that holds no data"):
        evaluate(PixelEncoder(), device="meta", **kwargs)
    with pytest.raises(ParameterError, match=r"invariance: `device` is 'meta', a device that holds no data"):
        invariance(PixelEncoder(), n_examples=4, n_draws=2, device="meta", progress=False)
    with pytest.raises(ParameterError, match=r"invariance: `encoder` has weights on the meta device"):
        invariance(on_meta, n_examples=4, n_draws=2, progress=False)
