"""Configs in one place: every experiment's sizes per scale as frozen dataclasses, derived where they share."""
from __future__ import annotations

import dataclasses

import pytest

from skiplessons import experiments, results
from skiplessons.curvature import SpectrumSettings
from skiplessons.experiments import configs


def test_every_experiment_has_a_frozen_config_per_scale():
    for name, exp in experiments.registry().items():
        assert set(exp.configs) == set(configs.SCALES), name
        for scale, c in exp.configs.items():
            assert dataclasses.is_dataclass(c) and type(c).__dataclass_params__.frozen, (name, scale)
            with pytest.raises(dataclasses.FrozenInstanceError):
                c.seeds = (0,)


def test_controls_share_the_degeneracy_settings():
    """Part IV's data, nets, optimizer and spectrum method are Part III's. Two kinds of field may differ:
    `checkpoints` (Part IV's own: when its Hessians are measured) and the fields a scale names in
    `CONTROLS_OVERRIDES`, which must be a training length or a Hessian batch size (the time budget; never the nets,
    data, optimizer or spectrum method), must be set at `default` only (paper and smoke stay Part III's), and
    must keep the Hessian batch above the rank bound (N(C-1) > P) where it shrinks it."""
    overrides = configs.CONTROLS_OVERRIDES
    assert set(overrides) == set(configs.SCALES) and not overrides["paper"] and not overrides["smoke"]
    assert set(overrides["default"]) <= {"steps", "hessian_samples"}
    for table in (configs.INIT_CONTROLS, configs.REMEDIES, configs.SKIP_STRENGTH):
        for scale in configs.SCALES:
            shared = [f.name for f in dataclasses.fields(configs.Controls)
                      if f.name != "checkpoints" and f.name not in overrides[scale]]
            assert {k: getattr(table[scale], k) for k in shared} == \
                {k: getattr(configs.DEGENERACY[scale], k) for k in shared}, scale
            assert {k: getattr(table[scale], k) for k in overrides[scale]} == overrides[scale], scale
    c = configs.INIT_CONTROLS["default"]
    n_params = c.width * (40 + 1) + (c.depth - 1) * c.width * (c.width + 1) + 10 * (c.width + 1)   # MNIST-1D: 40 in, 10 out
    assert c.hessian_samples * (10 - 1) > n_params, (c.hessian_samples, n_params)


def test_sizes_grow_with_the_scale():
    for table, key in ((configs.PART1, "n_samples"), (configs.PART2, "n_init"), (configs.TRAINING, "steps"),
                       (configs.DEGENERACY, "hessian_samples")):
        sizes = [getattr(table[s], key) for s in configs.SCALES]
        assert sizes[0] < sizes[1] <= sizes[2], (key, sizes)


def test_overrides_are_checked_and_lists_become_tuples():
    c = experiments.config_for("training", "smoke", seeds=[3, 4], data=None)
    assert c.seeds == (3, 4) and c.data == configs.TRAINING["smoke"].data
    with pytest.raises(ValueError, match="no setting depht; its settings are"):
        experiments.config_for("training", "smoke", depht=3)


def test_spectrum_settings_are_stored_whole_and_the_seed_is_in_the_hash():
    config = configs.DEGENERACY["paper"]
    assert isinstance(config.spectrum, SpectrumSettings)
    stored = configs.as_dict(config)["spectrum"]
    assert stored == configs.as_dict(config.spectrum) and stored["seed"] == 0
    reseeded = dataclasses.replace(config, spectrum=dataclasses.replace(config.spectrum, seed=1))
    assert results.config_hash(configs.as_dict(reseeded)) != results.config_hash(configs.as_dict(config))


def test_a_stored_config_reads_back_as_its_dataclass():
    """`configs.from_dict` rebuilds every registered config from its stored JSON form (nested settings, tuples),
    a result's `config` is that dataclass, and a stored config of other fields is refused by name."""
    from skiplessons.experiments import registry
    from skiplessons.experiments.configs import as_dict, from_dict

    for name, e in registry().items():
        for scale, c in e.configs.items():
            assert from_dict(c, as_dict(c)) == c, (name, scale)
    c = registry()["exact_zeros"].configs["default"]
    view = registry()["exact_zeros"].reader(results.Result("exact_zeros", "default", as_dict(c), {}, {}, {}))
    assert view.config == c and view.config.spectrum.n_steps == c.spectrum.n_steps
    assert isinstance(view.config.slq_sizes[0], tuple)
    with pytest.raises(ValueError, match=r"missing \['width'\], unknown \['wide'\]"):
        from_dict(c, {**{k: v for k, v in as_dict(c).items() if k != "width"}, "wide": 6})
