"""Shards of an experiment's seeds merge into the result one run stores (bit for bit on CPU), and bad sets of
shards are refused with one clear error; the store's soft lock holds with two writers."""
import itertools
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_results import WRITER, cli, leftovers

from skiplessons import experiments, locks, results
from skiplessons.experiments import shards
from skiplessons.experiments.views import ResultView

SEEDS = [0, 1, 2]


def same(a, b):
    """Equal summaries, and arrays equal bit for bit with the same dtypes."""
    assert a.summary == b.summary
    assert a.arrays.keys() == b.arrays.keys()
    for k in a.arrays:
        assert a.arrays[k].dtype == b.arrays[k].dtype, k
        assert a.arrays[k].tobytes() == b.arrays[k].tobytes(), k


@pytest.mark.parametrize("name", ["training", "degeneracy"])
def test_sharded_and_merged_equals_unsharded(tmp_path, name):
    whole = experiments.load_or_run(name, "smoke", folder=tmp_path / "whole", seeds=SEEDS)
    for i in (1, 2, 3):
        part = shards.run_shard(name, "smoke", i, 3, folder=tmp_path / "parts", seeds=SEEDS)
        assert part.provenance["shard"] == {"index": i, "count": 3, "of": whole.stored.key}
        assert list(part.config.seeds) == [SEEDS[i - 1]]
    merged = shards.merge(name, "smoke", folder=tmp_path / "parts", seeds=SEEDS)
    assert merged.stored.key == whole.stored.key and merged.config == whole.config
    same(merged, whole)
    assert [p["shard"]["index"] for p in merged.provenance["shards"]] == [1, 2, 3]
    assert merged.provenance["seeds"] == SEEDS
    again = experiments.load_or_run(name, "smoke", folder=tmp_path / "parts", seeds=SEEDS)
    assert again.stored.source == merged.stored.source, "load_or_run finds the merged result, it does not run"


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """The three shards of `training` at smoke over seeds 0, 1, 2."""
    folder = tmp_path_factory.mktemp("three")
    for i in (1, 2, 3):
        shards.run_shard("training", "smoke", i, 3, folder=folder, seeds=SEEDS)
    return folder


@pytest.fixture
def parts(three, tmp_path):
    shutil.copytree(three, tmp_path / "parts")
    return tmp_path / "parts"


def shard_file(folder, index):
    for path in folder.glob("training-smoke-*.json"):
        if json.loads(path.read_text())["provenance"].get("shard", {}).get("index") == index:
            return path
    raise AssertionError(f"no shard {index}")


def test_a_missing_shard_is_named_with_the_command_that_makes_it(parts):
    shard_file(parts, 2).unlink()
    with pytest.raises(ValueError, match=r"shards missing for seeds \[1\] .*\(shard 2/3\): run `python -m "
                                         r"skiplessons run training --scale smoke --shard 2/3`"):
        shards.merge("training", "smoke", folder=parts, seeds=SEEDS)


def test_no_shards_at_all(tmp_path):
    with pytest.raises(ValueError, match=r"shards missing for seeds \[0, 1, 2\].*--shard i/n"):
        shards.merge("training", "smoke", folder=tmp_path, seeds=SEEDS)


def test_shards_of_two_splits_are_duplicates(parts):
    shards.run_shard("training", "smoke", 2, 2, folder=parts, seeds=SEEDS)        # seeds 1 and 2
    with pytest.raises(ValueError, match=r"seed 1 is in two shards: 2/3 .* and 2/2 .*keep the shards of one split"):
        shards.merge("training", "smoke", folder=parts, seeds=SEEDS)


def test_a_shard_of_another_config_is_refused(parts):
    r = results.read(shard_file(parts, 3))
    results.save(r.name, r.scale, {**r.config, "lr": 0.5}, r.summary, r.arrays, r.provenance, folder=parts)
    with pytest.raises(ValueError, match=r"shard 3/3 .* is of another config: lr=0.5 there, 0.001 in the config"):
        shards.merge("training", "smoke", folder=parts, seeds=SEEDS)


def test_a_shard_whose_seeds_are_not_its_chunk_is_refused(parts):
    r = results.read(shard_file(parts, 3))
    entry = {**r.provenance["shard"], "index": 1}
    results.save(r.name, r.scale, r.config, r.summary, r.arrays, {**r.provenance, "shard": entry}, folder=parts)
    with pytest.raises(ValueError, match=r"shard 1/3 .* its seeds \[2\] are not that shard of seeds \[0, 1, 2\]"):
        shards.merge("training", "smoke", folder=parts, seeds=SEEDS)


def test_one_shard_with_other_numbers_in_two_folders_is_refused(parts, tmp_path):
    r = results.read(shard_file(parts, 2))
    other = {**r.arrays, "acc": r.arrays["acc"] + 1.0}
    results.save(r.name, r.scale, r.config, r.summary, other, r.provenance, folder=tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=r"shard 2/3 .* is stored twice with different numbers"):
        shards.merge("training", "smoke", folder=parts, sources=[tmp_path / "elsewhere"], seeds=SEEDS)


def test_the_same_shard_in_two_folders_is_merged_once(parts, tmp_path):
    shutil.copytree(parts, tmp_path / "copy")
    merged = shards.merge("training", "smoke", folder=parts, sources=[tmp_path / "copy"], seeds=SEEDS)
    assert len(merged.provenance["shards"]) == 3 and len(merged) == 9


def test_failed_nets_keep_their_merged_index():
    def shard(seeds, failed):
        arrays = {"seed": np.tile(seeds, 2), "arch": np.repeat(["plain", "residual"], len(seeds)),
                  "loss": np.zeros((2 * len(seeds), 3))}
        return results.Result("t", "smoke", {"seeds": seeds}, {"n": 1, "failed": failed}, arrays, {})
    a = shard([0, 1], [{"net": 3, "label": "residual s1", "step": 7}])
    b = shard([2], [{"net": 0, "label": "plain s2", "step": 4}])
    total, places = shards.order([a, b], (0, 1, 2), "t")
    assert total == 6 and [p.tolist() for p in places] == [[0, 1, 3, 4], [2, 5]]
    assert shards.merge_summary([a, b], places) == {"n": 1, "failed": [
        {"net": 2, "label": "plain s2", "step": 4}, {"net": 4, "label": "residual s1", "step": 7}]}
    merged = shards.merge_arrays([a, b], total, places, "t", ResultView)
    assert merged["seed"].tolist() == [0, 1, 2, 0, 1, 2]
    assert merged["arch"].tolist() == ["plain"] * 3 + ["residual"] * 3


def test_a_sweep_view_says_where_its_nets_are():
    """A sweep keeps its nets on axis 1 behind the grid, which every shard shares; other results on axis 0."""
    sweeps = [experiments.get(n).reader for n in ("depth_sweep", "width_sweep")]
    assert [shards.net_axis(v, "acc") for v in sweeps] == [1, 1]
    assert [shards.net_axis(v, g) for v, g in zip(sweeps, ("depth", "width"))] == [None, None]
    assert shards.net_axis(experiments.get("training").reader, "acc") == 0
    assert shards.net_axis(ResultView, "ckpt_loss") == 1 and shards.net_axis(ResultView, "step") is None


@pytest.mark.parametrize("text,match", [("0/3", "--shard='0/3' must be i/n"), ("4/3", "must be i/n"),
                                        ("a/b", "must be i/n"), ("2", "must be i/n")])
def test_bad_shard_text(text, match):
    with pytest.raises(ValueError, match=match):
        shards.parse(text)


def test_chunks_cover_the_seeds_once():
    seeds = tuple(range(7))
    parts = [shards.chunk(seeds, i, 3) for i in (1, 2, 3)]
    assert sum(parts, ()) == seeds and sorted(map(len, parts)) == [2, 2, 3]
    with pytest.raises(ValueError, match="8 shards of 7 seeds"):
        shards.chunk(seeds, 1, 8)


def test_cli_run_shard_and_merge(tmp_path):
    for i in ("1/2", "2/2"):
        out = cli("run", "training", "--scale", "smoke", "--seeds", "0", "1", "--shard", i, folder=tmp_path)
        assert out.returncode == 0, out.stderr
    out = cli("merge", "training", "--scale", "smoke", "--seeds", "0", "1", folder=tmp_path)
    assert out.returncode == 0 and "merged 2 shards into training-smoke-" in out.stdout, out.stderr
    out = cli("merge", "training", "--scale", "smoke", "--seeds", "0", "1", "2", folder=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "shards missing for seeds [0, 1, 2]" in lines[0], out.stderr
    out = cli("run", "training", "--scale", "smoke", "--shard", "3/2", folder=tmp_path)
    assert out.returncode == 2 and "--shard='3/2' must be i/n" in out.stderr, out.stderr


def test_two_writers_with_the_soft_lock_leave_a_valid_result(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLESSONS_LOCK", "soft")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(me)]) for me in (1, 2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    r = results.load("demo", "smoke", {"a": 1, "seeds": [0]}, folder=tmp_path)
    assert r.summary["writer"] in (1, 2) and r.summary["i"] == 24
    assert (r.arrays["curve"] == r.summary["writer"] * 100 + 24).all(), "the arrays belong to the JSON"
    assert not leftovers(tmp_path) and not list(tmp_path.glob(".*.softlock"))


def test_the_soft_lock_is_chosen_for_network_mounts_or_by_the_switch(tmp_path, monkeypatch):
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/export {tmp_path / 'shared'} nfs4 rw 0 0\n")
    assert locks.fs_type(tmp_path / "shared" / "results", mounts) == "nfs4"
    assert locks.fs_type(tmp_path / "local", mounts) == "ext4"
    real = locks.fs_type
    monkeypatch.setattr(locks, "fs_type", lambda folder: real(folder, mounts))
    monkeypatch.delenv("SKIPLESSONS_LOCK", raising=False)
    assert locks.lock_mode(tmp_path / "shared") == "soft" and locks.lock_mode(tmp_path / "local") == "hard"
    assert type(locks.file_lock(tmp_path / "shared", "x")).__name__ == "SoftFileLease"
    monkeypatch.setenv("SKIPLESSONS_LOCK", "hard")
    assert locks.lock_mode(tmp_path / "shared") == "hard"
    monkeypatch.setenv("SKIPLESSONS_LOCK", "weird")
    with pytest.raises(ValueError, match="SKIPLESSONS_LOCK='weird' is not valid; choose one of auto, hard, soft"):
        locks.lock_mode(tmp_path)


def test_a_rows_lanczos_numbers_do_not_depend_on_the_rows_beside_it():
    """stacked_slq runs the nets of a batch as rows of one recurrence: a row that needs a second Gram-Schmidt
    pass or a restart must not change the others (else a net's spectrum would depend on its shard)."""
    from skiplessons.curvature.lanczos import LanczosRecurrence

    rng = np.random.default_rng(0)
    p = 300
    diags = torch.tensor(np.stack([rng.uniform(0.1, 1.0, p),                        # a generic spectrum
                                   np.r_[rng.uniform(1, 2, 4), np.zeros(p - 4)],   # rank 4: restarts
                                   np.r_[1e6, 1e3, rng.uniform(0, 1e-3, p - 2)],   # loses orthogonality
                                   np.r_[rng.uniform(1, 2, 6), np.zeros(p - 6)]]))  # rank 6: restarts later
    q = torch.tensor(rng.choice([-1.0, 1.0], (4, p))) / p ** 0.5

    def run(rows):
        lanczos = LanczosRecurrence(lambda v: v * diags[rows], q[rows].clone(), 40, torch.Generator().manual_seed(0),
                                    streams=[0] * len(rows))
        for _ in range(40):
            lanczos.step()
        return lanczos.alpha, lanczos.beta

    together = run([0, 1, 2, 3])
    for pair in itertools.combinations(range(4), 2):     # (torch's CPU bmm rounds a batch of one differently)
        apart = run(list(pair))
        for i, r in enumerate(pair):
            assert all(torch.equal(t[r], a[i]) for t, a in zip(together, apart)), f"row {r} beside {pair}"
    assert (together[1][1, 3:] == 0).any() and (together[1][3, 5:] == 0).any(), "the low-rank rows restarted"
