"""Typed readers of stored results: the one way chapters, claims and tests read an experiment's numbers.

A `ResultView` wraps a stored `results.Result` and answers questions by name rather than by array position:
`result.final("acc", by="arch")` is {group: one number per net}, `result.groups("arch")` the groups in the
order they were run. Each experiment module defines the subclass of its result next to the code that writes
it (e.g. `part3.DegeneracyResult.degenerate(tol=1e-3, step=-1)`).
"""
from __future__ import annotations

import functools

import numpy as np

from .. import data as _data
from ..results import Result


class ResultView:
    """A stored result read through accessors; `name`, `scale`, `config` (its experiment's frozen dataclass),
    `summary`, `provenance` and the raw `arrays` stay available for provenance lines and for arrays no accessor
    covers (the stored JSON config is `stored.config`)."""

    #: the label array that `by=` selects by default
    default_by = "arch"
    #: a sweep's array of grid points (depths, widths), ahead of the nets in its per-net arrays: (points, nets)
    grid_name: str | None = None

    def __init__(self, stored: Result):
        if not isinstance(stored, Result):
            raise TypeError(f"stored must be a skiplessons.results.Result, got {type(stored).__name__}")
        self.stored = stored
        self.name, self.scale = stored.name, stored.scale
        self.summary = stored.summary
        self.provenance, self.arrays = stored.provenance, stored.arrays

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, scale={self.scale!r}, nets={len(self)})"

    @functools.cached_property
    def config(self):
        """The config the result was computed with, as its experiment's frozen dataclass (`configs.from_dict` of
        the stored JSON against the registered config's type; a ValueError names fields that do not fit)."""
        from . import get                   # the registry is built above the views
        from .configs import from_dict

        return from_dict(get(self.name).configs[self.scale], self.stored.config)

    def __len__(self) -> int:
        return len(self.labels()) if self.default_by in self.arrays else 0

    # ---- groups of nets
    def labels(self, by: str | None = None) -> np.ndarray:
        """One label per net (e.g. its architecture or condition)."""
        by = by or self.default_by
        if by not in self.arrays:
            raise ValueError(f"by={by!r} is not a label of result {self.name!r}; it has "
                             f"{', '.join(k for k in ('arch', 'condition', 'seed') if k in self.arrays)}")
        return np.asarray(self.arrays[by]).astype(str)

    def groups(self, by: str | None = None) -> list[str]:
        """The distinct labels in the order the nets were run."""
        return list(dict.fromkeys(self.labels(by).tolist()))

    def split(self, values, by: str | None = None, axis: int = 0) -> dict[str, np.ndarray]:
        """{group: values of its nets}, for an array with one entry per net along `axis`."""
        labels, values = self.labels(by), np.asarray(values)
        return {g: np.compress(labels == g, values, axis=axis) for g in self.groups(by)}

    # ---- sweeps
    @property
    def points(self) -> np.ndarray:
        """A sweep's grid points (its `grid_name` array)."""
        if self.grid_name is None:
            raise ValueError(f"result {self.name!r} is not a sweep: it has no grid of points")
        return np.asarray(self.arrays[self.grid_name])

    def along_grid(self, key: str, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (grid points, nets)} of a sweep's per-net array `key`."""
        return self.split(np.asarray(self.arrays[key], dtype=float), by, axis=1)

    # ---- training curves
    @property
    def record_steps(self) -> np.ndarray:
        """The training steps at which the curves were recorded."""
        return np.asarray(self.arrays["step"])

    def curves(self, key: str = "acc", by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, records)} of training curve `key` ("acc", "loss", "test_acc", "test_loss")."""
        return self.split(self._array(key), by)

    def final(self, key: str = "acc", by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets,)} the last recorded value of training curve `key`."""
        return self.split(self._array(key)[:, -1], by)

    @property
    def middle_step(self) -> int:
        """The recorded step half-way through training: where a verdict is judged again at a shorter training."""
        return int(self.record_steps[len(self.record_steps) // 2])

    def at_step(self, step: int, key: str = "acc", by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets,)} training curve `key` at recorded step `step` (a verdict judged at a shorter training)."""
        steps = self.record_steps
        if step not in steps:
            raise ValueError(f"step={step!r} was not recorded in result {self.name!r}; recorded steps run from "
                             f"{steps[0]} to {steps[-1]} every {steps[1] - steps[0] if len(steps) > 1 else 0}")
        return self.split(self._array(key)[:, int(np.flatnonzero(steps == step)[0])], by)

    def _array(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise ValueError(f"key={key!r} is not stored in result {self.name!r}; stored: "
                             f"{', '.join(sorted(self.arrays))}")
        return np.asarray(self.arrays[key], dtype=float)

    # ---- facts of the setting
    @property
    def data(self) -> str:
        return str(self.summary["data"] if "data" in self.summary else self.config.data)

    @property
    def n_classes(self) -> int:
        """The number of classes of the result's data set."""
        if "n_classes" in self.summary:
            return int(self.summary["n_classes"])
        if self.data not in _data.CLASS_COUNTS:
            raise ValueError(f"result {self.name!r}: data set {self.data!r} has no class count")
        return _data.CLASS_COUNTS[self.data]

    @property
    def tols(self) -> tuple:
        """The tolerances (relative to max|λ|) at which degenerate fractions were stored."""
        return tuple(float(t) for t in self.summary["tols"])

    def tol_index(self, tol: float) -> int:
        """The position of `tol` among the stored tolerances; a ValueError names the ones measured."""
        matches = [i for i, t in enumerate(self.tols) if np.isclose(t, tol)]
        if not matches:
            raise ValueError(f"tol={tol!r} was not measured in result {self.name!r}; measured: {self.tols}")
        return matches[0]

    @property
    def n_params(self) -> int:
        return int(self.summary["n_params"])
