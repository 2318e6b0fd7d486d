import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skiplessons import experiments, results
from skiplessons.experiments.configs import as_dict
from skiplessons.report import provenance_line

CONFIG = {"a": 1, "seeds": [0]}


def store(folder, config=None, summary=None):
    config = config or CONFIG
    prov = results.provenance("cpu", 1.5, [0])
    return results.save("demo", "smoke", config, summary or {"x": 1.0}, {"curve": np.arange(5.0)}, prov,
                        folder=folder)


def leftovers(folder):
    """Temporary files and arrays that no JSON points at."""
    used = {json.loads(j.read_text())["arrays_file"] for j in folder.glob("*.json")}
    return [p.name for p in folder.iterdir() if p.suffix == ".tmp" or (p.suffix == ".npz" and p.name not in used)]


def test_roundtrip_with_provenance(tmp_path):
    store(tmp_path)
    r = results.load("demo", "smoke", CONFIG, folder=tmp_path)
    assert r.summary == {"x": 1.0} and np.array_equal(r.arrays["curve"], np.arange(5.0))
    for key in ("commit", "torch", "skiplessons", "device", "wall_time_s", "date", "seeds"):
        assert key in r.provenance
    # independent: the file name is the experiment, the scale and the sha256 of the sorted-key JSON config
    import hashlib
    h = hashlib.sha256(json.dumps(CONFIG, sort_keys=True).encode()).hexdigest()[:16]
    assert r.source == str(tmp_path / f"demo-smoke-{h}.json") and r.key == f"demo-smoke-{h}"
    assert not leftovers(tmp_path), "no temporary files or orphaned arrays are left behind"


def test_provenance_has_peak_memory_and_a_commit_from_the_environment(monkeypatch):
    import resource

    # independent: the kernel's own record of this process's peak resident set (KiB on Linux), which only grows
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    prov = results.provenance("cpu", 1.0, [0])
    assert prov["peak_memory_of"] == "process peak RSS"
    assert prov["peak_memory_bytes"] >= before > 0
    monkeypatch.setenv("SKIPLESSONS_COMMIT", "0123abcd")
    assert results.provenance("cpu", 1.0, [0])["commit"] == "0123abcd"


def test_other_config_is_stored_beside_never_over(tmp_path):
    first = store(tmp_path)
    before = open(first.source).read()
    assert results.load("demo", "smoke", {"a": 2, "seeds": [0]}, folder=tmp_path) is None
    second = store(tmp_path, {"a": 2, "seeds": [0]}, {"x": 2.0})
    assert second.source != first.source and open(first.source).read() == before
    assert results.load("demo", "smoke", CONFIG, folder=tmp_path).summary == {"x": 1.0}
    assert results.load("demo", "smoke", {"a": 2, "seeds": [0]}, folder=tmp_path).summary == {"x": 2.0}
    assert len(results.stored(tmp_path)) >= 2


def _edit(path, change):
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(change(meta)))


@pytest.mark.parametrize("damage", ["truncate_json", "flip_npz", "delete_npz", "edit_config", "edit_summary",
                                    "no_summary", "a_list", "not_json_object_fields"])
def test_corrupt_files_are_detected(tmp_path, damage):
    r = store(tmp_path)
    jpath = tmp_path / os.path.basename(r.source)
    npath = tmp_path / json.loads(jpath.read_text())["arrays_file"]
    if damage == "truncate_json":
        jpath.write_text(jpath.read_text()[:20])
    elif damage == "flip_npz":
        blob = bytearray(npath.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        npath.write_bytes(bytes(blob))
    elif damage == "delete_npz":
        npath.unlink()
    elif damage == "edit_config":             # the config edited, its hash left as it was
        _edit(jpath, lambda m: {**m, "config": {**m["config"], "a": 5}})
    elif damage == "edit_summary":
        _edit(jpath, lambda m: {**m, "summary": {"x": 0.99}})
    elif damage == "no_summary":
        _edit(jpath, lambda m: {k: v for k, v in m.items() if k != "summary"})
    elif damage == "a_list":
        jpath.write_text("[1, 2]")
    else:
        jpath.write_text('{"name": 1}')
    with pytest.warns(UserWarning, match="corrupt"):
        assert results.load("demo", "smoke", CONFIG, folder=tmp_path) is None


def test_a_failure_between_the_writes_keeps_the_previous_result(tmp_path, monkeypatch):
    """The arrays are written, then writing the JSON fails (disk full): the old pair still loads, and the new
    arrays and every temporary file are gone."""
    store(tmp_path)
    real, calls = results.atomic_write, []

    def fail_second(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(results, "atomic_write", fail_second)
    with pytest.raises(OSError, match="No space"):
        store(tmp_path, summary={"x": 7.0})
    monkeypatch.undo()
    assert results.load("demo", "smoke", CONFIG, folder=tmp_path).summary == {"x": 1.0}
    assert not leftovers(tmp_path)


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    store(tmp_path)

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(OSError):
        store(tmp_path, summary={"x": 3.0})
    monkeypatch.undo()
    assert results.load("demo", "smoke", CONFIG, folder=tmp_path).summary == {"x": 1.0}
    assert not leftovers(tmp_path)


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from skiplessons import results
    folder, me = sys.argv[1], int(sys.argv[2])
    prov = results.provenance("cpu", 1.0, [0])
    for i in range(25):
        results.save("demo", "smoke", {"a": 1, "seeds": [0]}, {"writer": me, "i": i},
                     {"curve": np.full(2000, me * 100 + i, dtype=float)}, prov, folder=folder)
""")


def test_two_writers_at_once_leave_a_valid_result(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(me)]) for me in (1, 2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    r = results.load("demo", "smoke", CONFIG, folder=tmp_path)
    assert r.summary["writer"] in (1, 2) and r.summary["i"] == 24
    assert (r.arrays["curve"] == r.summary["writer"] * 100 + 24).all(), "the arrays belong to the JSON"
    assert not leftovers(tmp_path)


def fake_run(monkeypatch, run):
    """Replace the `training` experiment's run function for one test."""
    import dataclasses

    monkeypatch.setitem(experiments._REGISTRY, "training", dataclasses.replace(experiments.get("training"), run=run))


def test_unwritable_folder_fails_before_the_compute(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=f"results folder {blocker / 'sub'} is not writable"):
        results.check_writable(blocker / "sub")
    ran = []
    fake_run(monkeypatch, lambda *a, **k: ran.append(1))
    with pytest.raises(ValueError, match="not writable"):
        experiments.load_or_run("training", "smoke", folder=blocker / "sub")
    assert not ran


def test_load_or_run_runs_once_then_loads_and_keeps_other_configs(tmp_path):
    r1 = experiments.load_or_run("training", "smoke", seeds=[0], steps=4, folder=tmp_path)
    r2 = experiments.load_or_run("training", "smoke", seeds=[0], steps=4, folder=tmp_path)
    assert r1.provenance["date"] == r2.provenance["date"] and r2.provenance["wall_time_s"] > 0
    r3 = experiments.load_or_run("training", "smoke", seeds=[0], steps=6, folder=tmp_path)
    assert r3.config.steps == 6 and r3.arrays["step"][-1] == 6 and r3.stored.source != r1.stored.source
    again = experiments.load_or_run("training", "smoke", seeds=[0], steps=4, folder=tmp_path)
    assert again.stored.source == r1.stored.source
    forced = experiments.load_or_run("training", "smoke", seeds=[0], steps=4, folder=tmp_path, force=True)
    assert forced.stored.source == r1.stored.source and forced.provenance["date"] >= r1.provenance["date"]
    assert np.array_equal(forced.arrays["acc"], r1.arrays["acc"]), "recomputed: the same numbers"
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())
    line = provenance_line(r3)
    for part in ("training at smoke scale", "data mnist1d", "3 nets", f"{r3.summary['n_params']:,} parameters",
                 r3.provenance["device"], "peak memory", r3.provenance["commit"][:12]):
        assert part in line, (part, line)


def test_committed_paper_results_ship_with_the_package_and_match_their_experiments(tmp_path):
    """The stored paper-scale results the chapters show: found with an empty results folder (as outside a
    checkout), intact (checksums), with provenance, and run with the experiment's current paper config."""
    for name in ("training", "degeneracy", "depth_sweep"):
        r = experiments.stored(name, "paper", folder=tmp_path)
        assert r is not None, f"the package's {results.SHIPPED}/{name}-paper-*.json is missing"
        assert os.path.dirname(r.stored.source) == str(results.shipped_dir())
        cfg = experiments.config_for(name, "paper", data=r.config.data)
        assert results.config_hash(r.stored.config) == results.config_hash(as_dict(cfg)), name
        assert r.provenance["device"] != "" and r.provenance["peak_memory_bytes"] > 0


def test_a_run_with_other_settings_cannot_replace_the_shipped_result(tmp_path, monkeypatch):
    shipped = experiments.stored("training", "paper", folder=tmp_path).stored
    before = open(shipped.source, "rb").read()
    fake_run(monkeypatch, lambda config, ctx: ({"data": "x"}, {}))
    other = experiments.load_or_run("training", "paper", seeds=[0], data="mnist1d", folder=tmp_path)
    assert os.path.dirname(other.stored.source) == str(tmp_path) and open(shipped.source, "rb").read() == before
    assert experiments.stored("training", "paper", folder=tmp_path).stored.source == shipped.source


def test_missing_result_is_a_message_not_a_crash(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "SHIPPED", "no_such_folder")
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    assert experiments.stored_or_say("training", "paper") is None
    out = capsys.readouterr().out
    assert "no stored paper-scale result of training" in out
    assert "python -m skiplessons run training --scale paper" in out


def test_unknown_setting_and_experiment():
    with pytest.raises(ValueError, match="no setting depht"):
        experiments.config_for("training", "smoke", depht=3)
    with pytest.raises(ValueError, match="unknown experiment 'trainig'; choose one of"):
        experiments.get("trainig")


@pytest.mark.parametrize("overrides,match", [
    (dict(seeds=[0, 0]), "seeds=\\[0, 0\\] must be distinct"),
    (dict(seeds=[-1]), r"must be distinct integers in \[0, 2\*\*32\)"),
    (dict(seeds=[2**32]), r"seeds=\[4294967296\] must be distinct integers in \[0, 2\*\*32\)"),
    (dict(seeds=[]), "seeds=\\[\\] must be distinct"),
    (dict(seeds=0), "seeds=0 must be a tuple"),
    (dict(steps="10"), "steps='10' must be a int"),
    (dict(steps=True), "steps=True must be a int"),
    (dict(data="teacher"), "data='teacher' is not a classification set"),
    (dict(lr="big"), "lr='big' must be a float"),
])
def test_bad_settings_are_refused_naming_them(overrides, match):
    with pytest.raises(ValueError, match=match):
        experiments.config_for("training", "smoke", **overrides)


def cli(*args, env_scale="smoke", folder=None, **kw):
    env = dict(os.environ, SKIPLESSONS_SCALE=env_scale, SKIPLESSONS_RESULTS=str(folder))
    return subprocess.run([sys.executable, "-m", "skiplessons", *args], capture_output=True, text=True, env=env,
                          **kw)


def test_cli_list_and_run(tmp_path):
    out = cli("run", "training", "--scale", "SMOKE", "--seeds", "0", folder=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(list(tmp_path.glob("training-smoke-*.json"))) == 1
    listed = cli("list", folder=tmp_path).stdout
    assert "training " in listed and "training-smoke-" in listed and "training-paper-" in listed


def fake_cifar(root, kind):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for f in ("train", "test"):
        (folder / f).write_bytes(np.random.default_rng(0).bytes(500) if kind == "random" else b"\x80\x04\x95")


@pytest.mark.parametrize("args,env_scale,match", [
    (("run", "nope"), "smoke", "unknown experiment 'nope'"),
    (("run", "training", "--scale", "huge"), "smoke", "--scale='huge' is not a valid scale"),
    (("run", "training", "--scale", ""), "smoke", "--scale='' is not a valid scale"),
    (("run", "training"), "bad", "SKIPLESSONS_SCALE='bad'"),
    (("run", "training", "--scale", "smoke", "--data", "imagenet"), "smoke", "data='imagenet'"),
    (("run", "training", "--data", "teacher"), "smoke", "data='teacher' is not a classification set"),
    (("run", "training", "--seeds", "0", "0"), "smoke", "seeds=[0, 0] must be distinct"),
    (("run", "training", "--seeds", "-3"), "smoke", "argument --seeds: -3 is out of range; seeds are integers in [0, 2**32)"),
    (("run", "training", "--seeds", "99999999999999999999"), "smoke", "argument --seeds: 99999999999999999999 is out of range"),
    (("run", "training", "--seeds", "x"), "smoke", "argument --seeds: 'x' is not an integer"),
    (("run", "training", "--wait", "-1"), "smoke", "argument --wait: '-1' must be a finite number of seconds >= 0"),
    (("run", "training", "--bogus"), "smoke", "unrecognized arguments: --bogus"),
    (("frobnicate",), "smoke", "invalid choice: 'frobnicate'"),
    ((), "smoke", "required: command"),
    (("run", "training", "--data", "cifar100", "--data-dir", "{tmp}/rnd"), "smoke", "rnd/cifar-100-python/train is not a CIFAR batch"),
    (("run", "training", "--data", "cifar100", "--data-dir", "{tmp}/cut"), "smoke", "cut/cifar-100-python/train is not a CIFAR batch"),
])
def test_cli_bad_input_gives_one_clear_line(tmp_path, args, env_scale, match):
    fake_cifar(tmp_path / "rnd", "random")
    fake_cifar(tmp_path / "cut", "truncated")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = cli(*args, env_scale=env_scale, folder=tmp_path / "res")
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0] and "Traceback" not in out.stderr, out.stderr


def test_cli_unwritable_results_folder_fails_before_training(tmp_path):
    (tmp_path / "file").write_text("")
    out = cli("run", "training", "--scale", "smoke", folder=tmp_path / "file" / "res")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "is not writable" in lines[0], out.stderr


@pytest.mark.parametrize("signame, code, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_cli_ctrl_c_and_sigterm_are_one_line_saying_what_was_kept(tmp_path, signame, code, word):
    import signal
    import time

    env = dict(os.environ, SKIPLESSONS_SCALE="smoke", SKIPLESSONS_RESULTS=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-m", "skiplessons", "run", "training", "--scale", "smoke"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().startswith("running training")      # past the imports, into the run
    time.sleep(0.2)
    p.send_signal(getattr(signal, signame))
    _, err = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    kept = sorted((tmp_path / "checkpoints").rglob("*.pt"))
    said = (f"checkpoints are kept in {kept[0].parent}: run the same command again to resume" if kept else
            "no checkpoint had been written yet: the same command starts again from the beginning")
    assert p.returncode == code and err.strip().splitlines() == [f"skiplessons: error: {word}; {said}"], err
    assert not list(tmp_path.rglob("*.tmp")), "the cleanup ran: no temporary file is left"


def test_shown_dir_names_no_machine_path(tmp_path, monkeypatch):
    """Pages name the results folder relative to the checkout or the home folder, never by its absolute path."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / "book").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[project]\nname = "skiplessons"\n')
    monkeypatch.chdir(repo / "book")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SKIPLESSONS_RESULTS", raising=False)
    assert results.shown_dir() == "results/"
    assert results.shown_dir(home / ".cache" / "skiplessons" / "results") == "~/.cache/skiplessons/results/"
    assert results.shown_dir(tmp_path / "elsewhere") == str((tmp_path / "elsewhere").resolve())
