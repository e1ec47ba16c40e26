from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.space import DEFAULT_BOUNDS, PARAMETER_NAMES, ParameterSpace
from spirograph.tasks import Task, TaskSet, nuisance_tasks, target_tasks, tasks_from_names


def test_target_tasks_are_the_papers_four() -> None:
    tasks = target_tasks()
    assert tasks.names == ("m", "b", "sigma", "fore_r")
    assert tasks.columns == (0, 1, 3, 4)
    for task in tasks:
        low, high = DEFAULT_BOUNDS[task.name]
        assert task.prior_variance == pytest.approx((high - low) ** 2 / 12)
        assert task.prior_mean == pytest.approx((high + low) / 2)


def test_nuisance_tasks_follow_the_space() -> None:
    assert nuisance_tasks().names == ("h", "fore_g", "fore_b", "back_r", "back_g", "back_b")
    space = ParameterSpace(targets=("m", "h"))
    assert target_tasks(space).names == ("m", "h")
    assert "h" not in nuisance_tasks(space).names
    shifted = ParameterSpace().replace(bounds={"h": (1.0, 2.0)})
    assert nuisance_tasks(shifted)[0].prior_variance == pytest.approx(1 / 12)


def test_labels_read_the_right_columns() -> None:
    params = ParameterSpace().sample(7, seed=3)
    tasks = tasks_from_names(["back_b", "m", "sigma"])
    labels = tasks.labels(params)
    assert labels.shape == (7, 3)
    torch.testing.assert_close(labels[:, 0], params[:, 9])
    torch.testing.assert_close(labels[:, 1], params[:, 0])
    torch.testing.assert_close(tasks[2].labels(params), params[:, 3])
    # Leading dimensions are kept.
    assert tasks.labels(params.reshape(7, 1, 10)).shape == (7, 1, 3)


def test_prior_variance_is_the_mse_of_the_prior_mean() -> None:
    # The empirical MSE of always predicting the prior mean approaches the prior variance.
    params = ParameterSpace().sample(200_000, seed=0, dtype=torch.float64)
    tasks = target_tasks()
    mse = (tasks.labels(params) - tasks.prior_mean).pow(2).mean(0)
    torch.testing.assert_close(mse, tasks.prior_variance, rtol=0.02, atol=0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(PARAMETER_NAMES), min_size=1, max_size=10, unique=True))
def test_any_names_make_a_task_set(names: list[str]) -> None:
    tasks = tasks_from_names(names)
    assert tasks.names == tuple(names)
    assert tasks.prior_variance.shape == (len(names),)
    assert bool((tasks.prior_variance > 0).all())
    assert tasks[: len(names)] == tasks


def test_unknown_task_names() -> None:
    with pytest.raises(ParameterError, match=r"tasks_from_names: `names` has unknown names \['radius'\]"):
        tasks_from_names(["m", "radius"])
    with pytest.raises(ParameterTypeError, match="tasks_from_names: `names` must be a sequence of names, got str 'm'"):
        tasks_from_names("m")


def test_bad_tasks_and_sets() -> None:
    with pytest.raises(ParameterError, match="prior_variance` must be a finite number > 0, got 0"):
        Task("m", 0, 0)
    with pytest.raises(ParameterError, match=r"Task: `index` must be an int in \[0, 9\], got 10"):
        Task("m", 10, 1.0)
    with pytest.raises(ParameterTypeError, match=r"Task: `index` must be an int in \[0, 9\], got float 1.0"):
        Task("m", 1.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="Task: `prior_variance` must be a finite number > 0, got str '1'"):
        Task("m", 0, "1")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="non-empty string"):
        Task("", 0, 1.0)
    with pytest.raises(ParameterError, match="at least one Task"):
        TaskSet([])
    with pytest.raises(ParameterError, match=r"unique, got \['m'\]"):
        TaskSet([Task("m", 0, 1.0), Task("m", 1, 1.0)])
    with pytest.raises(ParameterTypeError, match=r"`tasks\[0\]` must be a Task, got str"):
        TaskSet(["m"])  # type: ignore[list-item]
    with pytest.raises(ParameterError, match=r"must have shape \(\.\.\., 10\), got \(3, 9\)"):
        target_tasks().labels(torch.zeros(3, 9))
    with pytest.raises(ParameterTypeError, match=r"must be a torch\.Tensor"):
        target_tasks().labels([[0.0] * 10])  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="target_tasks: `space` must be a ParameterSpace or None, got str"):
        target_tasks("paper")  # type: ignore[arg-type]
