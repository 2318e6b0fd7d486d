"""The re-keying of stored results under today's config hashing (scripts/rekey_results.py): a result stored
under the former hashing (spectrum settings without a seed, locations in the hash) is found again by
`experiments.stored` with the same numbers, a damaged one is left in place, and a second pass changes nothing."""
from __future__ import annotations

import json
import shutil

import numpy as np

from scripts import rekey_results
from skiplessons import experiments, results
from skiplessons.experiments import reproduce

PROV = {"commit": "0123456789abcdef", "date": "2026-12-01T00:00:00+00:00", "device": "cpu", "wall_time_s": 1.0,
        "seeds": [0, 1]}


def former(name: str, scale: str, folder, data_dir: str = "data") -> tuple[dict, dict]:
    """A result of `name`'s registered config stored as the code before issue 29 stored it: spectrum settings
    without `seed` and `n_eigs`, `data_dir` in the hash. Returns (its JSON, its arrays)."""
    config = reproduce.registered(name, scale) | {"data_dir": data_dir}
    config["spectrum"] = {k: v for k, v in config["spectrum"].items() if k not in rekey_results.FILLED}
    arrays = {"arch": np.array(["plain", "residual"]), "seed": np.array([0, 1]), "loss": np.array([0.25, 0.5])}
    made = results.save(name, scale, config, {"data": "mnist1d", "n_params": 7}, arrays, PROV, folder)
    jpath = folder / f"{made.key}.json"
    meta = json.loads(jpath.read_text())
    stem = f"{name}-{scale}-{rekey_results.former_hash(config)}"
    (folder / meta["arrays_file"]).rename(folder / f"{stem}.{meta['arrays_sha256'][:16]}.npz")
    meta |= {"config_hash": rekey_results.former_hash(config), "arrays_file": f"{stem}.{meta['arrays_sha256'][:16]}.npz"}
    meta["checksum"] = results.checksum(meta)
    jpath.unlink()
    (folder / f"{stem}.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta, arrays


def test_a_result_of_the_former_hashing_is_found_again_with_the_same_numbers(tmp_path, capsys):
    meta, arrays = former("degeneracy", "smoke", tmp_path, data_dir="/somewhere/else")
    assert experiments.stored("degeneracy", "smoke", folder=tmp_path) is None
    assert rekey_results.main([str(tmp_path)]) == 0
    found = experiments.stored("degeneracy", "smoke", folder=tmp_path)
    assert found is not None and found.stored.source.startswith(str(tmp_path))
    assert found.summary == meta["summary"] and found.provenance == PROV
    assert all(np.array_equal(found.arrays[k], v) for k, v in arrays.items())
    assert found.config.spectrum.seed == 0 and found.config.data_dir == "/somewhere/else"
    assert "the registered smoke config of degeneracy" in reproduce.describe(found)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"{found.stored.key}.json"]
    assert len(list(tmp_path.glob("*.npz"))) == 1
    capsys.readouterr()
    assert rekey_results.main([str(tmp_path)]) == 0                     # a second pass: nothing to do
    assert capsys.readouterr().out == f"{found.stored.key}.json: current\n"


def test_a_damaged_result_is_left_in_place_and_reported(tmp_path, capsys):
    meta, _ = former("depth_sweep", "smoke", tmp_path)
    jpath = next(tmp_path.glob("*.json"))
    jpath.write_text(jpath.read_text().replace('"n_params": 7', '"n_params": 8'))
    assert rekey_results.main([str(tmp_path)]) == 1
    assert "left in place, its content does not match the checksum" in capsys.readouterr().err
    assert list(tmp_path.glob("*.json")) == [jpath]


def test_a_hash_that_matches_neither_hashing_is_refused(tmp_path, capsys):
    former("depth_sweep", "smoke", tmp_path)
    jpath = next(tmp_path.glob("*.json"))
    meta = json.loads(jpath.read_text())
    meta["config"]["steps"] += 1                                         # a config edited after the run
    meta["checksum"] = results.checksum(meta)
    jpath.write_text(json.dumps(meta))
    assert rekey_results.main([str(tmp_path)]) == 1
    assert "matches its recorded hash under neither" in capsys.readouterr().err


def test_the_committed_results_are_under_todays_keys(tmp_path, capsys):
    """The committed paper results were re-keyed: a pass over a copy of them finds nothing to do."""
    folder = tmp_path / "copy"
    shutil.copytree(results.shipped_dir(), folder)
    assert rekey_results.main([str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(list(folder.glob("*.json"))) >= 6 and all(line.endswith(": current") for line in out)
