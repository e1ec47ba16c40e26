"""Downstream tasks: which parameter each regression task predicts, and its prior.

The paper scores a representation by linear regression of four *target* parameters
(``m``, ``b``, ``sigma``, ``fore_r``) from frozen features. A [`Task`][spirograph.tasks.Task] names one
such regression: the column of the ``(N, 10)`` parameter table holding its label and
the mean and variance of that parameter's prior. The prior variance is the mean
squared error of the best constant guess (the prior mean), so ``mse / prior_variance``
is an error normalized across tasks of very different scales.

Tasks can be built for any parameter: [`nuisance_tasks()`][spirograph.tasks.nuisance_tasks] measures how much
nuisance information a representation keeps, and [`tasks_from_names()`][spirograph.tasks.tasks_from_names] builds a
task set from any names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import torch

from spirograph._checks import check_instance, check_int, check_names, check_number, check_tensor
from spirograph.errors import ParameterError
from spirograph.space import PARAMETER_NAMES, ParameterSpace, check_space

__all__ = [
    "Task",
    "TaskSet",
    "nuisance_tasks",
    "target_tasks",
    "tasks_from_names",
]


@dataclass(frozen=True)
class Task:
    """One downstream regression task: predict parameter ``name`` from features.

    Args:
        name: the task name (by convention, the parameter's name).
        index: the parameter's column in the canonical ``(N, 10)`` table.
        prior_variance: variance of the parameter's prior, ``> 0``.
        prior_mean: mean of the parameter's prior.

    Raises:
        ParameterError: an empty name, an index outside ``[0, 10)``, or a prior variance
            that is not a finite number ``> 0``.

    Examples:
        >>> task = target_tasks()[0]
        >>> task.name, task.index, round(task.prior_variance, 4)
        ('m', 0, 0.75)
    """

    name: str
    index: int
    prior_variance: float
    prior_mean: float = 0.0

    def __post_init__(self) -> None:
        check_instance(self.name, "name", str, where="Task", expected="a non-empty string")
        if not self.name:
            raise ParameterError("Task: `name` must be a non-empty string, got ''")
        check_int(self.index, "index", where="Task", minimum=0, maximum=len(PARAMETER_NAMES) - 1)
        variance = check_number(self.prior_variance, "prior_variance", where="Task", above=0)
        mean = check_number(self.prior_mean, "prior_mean", where="Task")
        object.__setattr__(self, "prior_variance", variance)
        object.__setattr__(self, "prior_mean", mean)

    def labels(self, params: torch.Tensor) -> torch.Tensor:
        """The labels of this task, read from a parameter table.

        Args:
            params: parameters in canonical order.

        Returns:
            The column ``params[..., index]``.

        Shape:
            ``(..., 10) -> (...)``.
        """
        _check_params(params, f"Task({self.name!r}).labels")
        return params[..., self.index]


class TaskSet(Sequence[Task]):
    """An ordered, immutable collection of tasks with distinct names.

    Args:
        tasks: the tasks, at least one, names unique.

    Raises:
        ParameterError: no tasks, an element that is not a [`Task`][spirograph.tasks.Task], or a repeated name.

    Examples:
        >>> tasks = target_tasks()
        >>> tasks.names
        ('m', 'b', 'sigma', 'fore_r')
        >>> tasks.labels(ParameterSpace().sample(5, seed=0)).shape
        torch.Size([5, 4])
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        items = tuple(tasks)
        if not items:
            raise ParameterError("TaskSet: `tasks` must hold at least one Task, got none")
        for position, task in enumerate(items):
            check_instance(task, f"tasks[{position}]", Task, where="TaskSet")
        names = [task.name for task in items]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ParameterError(f"TaskSet: task names must be unique, got {repeated} more than once in {names}")
        self._tasks = items

    @overload
    def __getitem__(self, index: int) -> Task: ...

    @overload
    def __getitem__(self, index: slice) -> TaskSet: ...

    def __getitem__(self, index: int | slice) -> Task | TaskSet:
        if isinstance(index, slice):
            return TaskSet(self._tasks[index])
        return self._tasks[index]

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskSet) and self._tasks == other._tasks

    def __hash__(self) -> int:
        return hash(self._tasks)

    def __repr__(self) -> str:
        return f"TaskSet({list(self.names)})"

    @property
    def names(self) -> tuple[str, ...]:
        """Task names, in order."""
        return tuple(task.name for task in self._tasks)

    @property
    def columns(self) -> tuple[int, ...]:
        """Canonical parameter columns of the tasks, in order."""
        return tuple(task.index for task in self._tasks)

    @property
    def prior_variance(self) -> torch.Tensor:
        """Prior variances as a float64 tensor of shape ``(n_tasks,)``."""
        return torch.tensor([task.prior_variance for task in self._tasks], dtype=torch.float64)

    @property
    def prior_mean(self) -> torch.Tensor:
        """Prior means as a float64 tensor of shape ``(n_tasks,)``."""
        return torch.tensor([task.prior_mean for task in self._tasks], dtype=torch.float64)

    def labels(self, params: torch.Tensor) -> torch.Tensor:
        """Labels of every task, read from a parameter table.

        Args:
            params: parameters in canonical order.

        Returns:
            One column per task, in task order, same dtype and device as ``params``.

        Shape:
            ``(N, 10) -> (N, n_tasks)`` (any leading shape is kept).
        """
        _check_params(params, "TaskSet.labels")
        return params[..., list(self.columns)]


def _check_params(params: object, where: str) -> None:
    check_tensor(params, "params", where=where, shape=(..., len(PARAMETER_NAMES)))


def tasks_from_names(names: Sequence[str], space: ParameterSpace | None = None) -> TaskSet:
    """A task set predicting the named parameters, priors taken from ``space``.

    Args:
        names: parameter names from [`spirograph.PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES], in the order
            wanted.
        space: the parameter space giving each prior (the paper's by default).

    Returns:
        One [`Task`][spirograph.tasks.Task] per name.

    Raises:
        ParameterError: ``names`` is a single string, empty, repeats a name, or names an
            unknown parameter.

    Examples:
        >>> tasks_from_names(["h", "m"]).names
        ('h', 'm')
    """
    space = check_space(space, where="tasks_from_names")
    chosen = check_names(names, "names", where="tasks_from_names", allowed=PARAMETER_NAMES)
    variances = space.prior_variance(chosen)
    means = space.prior_mean(chosen)
    return TaskSet(
        [
            Task(name, PARAMETER_NAMES.index(name), variance, mean)
            for name, variance, mean in zip(chosen, variances, means, strict=True)
        ]
    )


def target_tasks(space: ParameterSpace | None = None) -> TaskSet:
    """The downstream tasks: one per target of ``space`` (the paper's four by default).

    Args:
        space: the parameter space (the paper's by default: ``m, b, sigma, fore_r``).

    Returns:
        The target tasks, in target order.
    """
    space = check_space(space, where="target_tasks")
    return tasks_from_names(space.targets, space)


def nuisance_tasks(space: ParameterSpace | None = None) -> TaskSet:
    """One task per nuisance parameter of ``space``, to measure retained nuisance information.

    Args:
        space: the parameter space (the paper's by default: ``h, fore_g, fore_b, back_*``).

    Returns:
        The nuisance tasks, in nuisance order.
    """
    space = check_space(space, where="nuisance_tasks")
    return tasks_from_names(space.nuisance_names, space)
