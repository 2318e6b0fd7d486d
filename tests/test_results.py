import json
import subprocess
import sys

import numpy as np
import pytest

from skiplessons import experiments, results
from skiplessons.experiments.configs import as_dict
from skiplessons.report import provenance_line


def store(tmp_path, config=None):
    config = config or {"a": 1, "seeds": [0]}
    prov = results.provenance("cpu", 1.5, [0])
    return results.save("demo", "smoke", config, {"x": 1.0}, {"curve": np.arange(5.0)}, prov, folder=tmp_path)


def test_roundtrip_with_provenance(tmp_path):
    store(tmp_path)
    r = results.load("demo", "smoke", {"a": 1, "seeds": [0]}, folder=tmp_path)
    assert r.summary == {"x": 1.0} and np.array_equal(r.arrays["curve"], np.arange(5.0))
    for key in ("commit", "torch", "skiplessons", "device", "wall_time_s", "date", "seeds"):
        assert key in r.provenance
    assert not list(tmp_path.glob("*.tmp")), "no temporary files are left behind"


def test_provenance_has_peak_memory_and_a_commit_from_the_environment(monkeypatch):
    import resource

    # independent: the kernel's own record of this process's peak resident set (KiB on Linux), which only grows
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    prov = results.provenance("cpu", 1.0, [0])
    assert prov["peak_memory_of"] == "process peak RSS"
    assert prov["peak_memory_bytes"] >= before > 0
    monkeypatch.setenv("SKIPLESSONS_COMMIT", "0123abcd")
    assert results.provenance("cpu", 1.0, [0])["commit"] == "0123abcd"


def test_other_config_is_not_used(tmp_path):
    store(tmp_path)
    assert results.load("demo", "smoke", {"a": 2, "seeds": [0]}, folder=tmp_path) is None


@pytest.mark.parametrize("damage", ["truncate_json", "flip_npz", "delete_npz"])
def test_corrupt_files_are_detected(tmp_path, damage):
    store(tmp_path)
    jpath, npath = results.paths("demo", "smoke", tmp_path)
    if damage == "truncate_json":
        jpath.write_text(jpath.read_text()[:20])
    elif damage == "flip_npz":
        blob = bytearray(npath.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        npath.write_bytes(bytes(blob))
    else:
        npath.unlink()
    with pytest.warns(UserWarning, match="corrupt"):
        assert results.load("demo", "smoke", folder=tmp_path) is None


def test_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the old result intact, never a half-written file."""
    store(tmp_path)
    jpath, _ = results.paths("demo", "smoke", tmp_path)
    before = jpath.read_text()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(OSError):
        store(tmp_path, {"a": 9, "seeds": [0]})
    assert jpath.read_text() == before


def test_load_or_run_runs_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    r1 = experiments.load_or_run("training", "smoke", seeds=[0], steps=4)
    r2 = experiments.load_or_run("training", "smoke", seeds=[0], steps=4)
    assert r1.provenance["date"] == r2.provenance["date"] and r2.provenance["wall_time_s"] > 0
    r3 = experiments.load_or_run("training", "smoke", seeds=[0], steps=6)
    assert r3.config["steps"] == 6 and r3.arrays["step"][-1] == 6
    meta = json.loads(results.paths("training", "smoke", tmp_path)[0].read_text())
    assert meta["config"]["steps"] == 6
    line = provenance_line(r3)
    for part in ("training at smoke scale", "data mnist1d", "3 nets", f"{r3.summary['n_params']:,} parameters",
                 r3.provenance["device"], "peak memory", r3.provenance["commit"][:12]):
        assert part in line, (part, line)


def test_committed_paper_results_load_and_match_their_experiments():
    """The stored paper-scale results the chapters show: intact (checksums), with provenance, and run with
    the experiment's current paper config (so `load_or_run` at paper scale reuses them)."""
    for name in ("training", "degeneracy", "depth_sweep"):
        r = experiments.stored(name, "paper")
        assert r is not None, f"results/{name}-paper.json is missing"
        cfg = experiments.config_for(name, "paper", data=r.config["data"])
        assert results.config_hash(r.config) == results.config_hash(as_dict(cfg)), name
        assert r.provenance["device"] != "" and r.provenance["peak_memory_bytes"] > 0


def test_unknown_setting_and_experiment():
    with pytest.raises(ValueError, match="no setting depht"):
        experiments.config_for("training", "smoke", depht=3)
    with pytest.raises(ValueError, match="unknown experiment 'trainig'; choose one of"):
        experiments.get("trainig")


def cli(*args, env_scale="smoke", folder=None):
    import os
    env = dict(os.environ, SKIPLESSONS_SCALE=env_scale, SKIPLESSONS_RESULTS=str(folder))
    return subprocess.run([sys.executable, "-m", "skiplessons", *args], capture_output=True, text=True, env=env)


def test_cli_list_and_run(tmp_path):
    assert "training" in cli("list", folder=tmp_path).stdout
    out = cli("run", "training", "--scale", "smoke", "--seeds", "0", folder=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "training-smoke.json").is_file()


@pytest.mark.parametrize("args,env_scale,match", [
    (("run", "nope"), "smoke", "unknown experiment 'nope'"),
    (("run", "training", "--scale", "huge"), "smoke", "--scale='huge' is not a valid scale"),
    (("run", "training"), "bad", "SKIPLESSONS_SCALE='bad'"),
    (("run", "training", "--scale", "smoke", "--data", "imagenet"), "smoke", "data='imagenet'"),
])
def test_cli_bad_input_gives_one_clear_line(tmp_path, args, env_scale, match):
    out = cli(*args, env_scale=env_scale, folder=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0] and "Traceback" not in out.stderr
