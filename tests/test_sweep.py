"""The sweep on submitit: a grid of experiments x shards as jobs (here: the local executor), merged at the end;
a job's checkpoints survive a requeue."""
import subprocess
import sys

import pytest

from skiplessons import experiments, sweep

submitit = pytest.importorskip("submitit", reason="the sweep needs submitit (pip install 'skiplessons[cluster]')")


def test_local_sweep_of_two_experiments_in_three_shards_completes_and_merges(tmp_path):
    lines = []
    merged = sweep.sweep(["training", "degeneracy"], "smoke", 3, folder=tmp_path / "shared",
                         scratch=tmp_path / "scratch", say=lines.append, seeds=[0, 1, 2])
    jobs = [line for line in lines if line.startswith("[")]
    assert len(jobs) == 6 and all("done in" in line for line in jobs), lines
    assert sorted(m.name for m in merged) == ["degeneracy", "training"]
    for m in merged:
        whole = experiments.load_or_run(m.name, "smoke", folder=tmp_path / "shared", seeds=[0, 1, 2])
        assert whole.stored.source == m.stored.source, "the merged result is the one load_or_run finds"
        assert len(m.provenance["shards"]) == 3 and list(m.config.seeds) == [0, 1, 2]
    assert not list((tmp_path / "scratch").rglob("*.json")), "task folders are removed once copied"
    again = [sweep.ShardTask(sweep.ShardJob("training", "smoke", i, 3, {"seeds": (0, 1, 2)}), tmp_path / "shared",
                             tmp_path / "scratch")() for i in (1, 2, 3)]
    assert all(out["reused"] for out in again), "a sweep run again reuses the stored shards"


def test_a_failed_job_is_reported_and_the_sweep_refuses_to_merge(tmp_path, monkeypatch):
    (tmp_path / "scratch").write_text("a file where the task folders should be")
    lines = []
    with pytest.raises(ValueError, match=r"1 of 1 jobs failed \(logs in .*\); run the same sweep again"):
        sweep.sweep(["training"], "smoke", 1, folder=tmp_path / "shared", scratch=tmp_path / "scratch",
                    say=lines.append, seeds=[0])
    assert len(lines) == 1 and "FAILED (ValueError: results folder" in lines[0] and "log " in lines[0], lines


def test_a_requeued_job_gets_its_checkpoints_back(tmp_path):
    job = sweep.ShardJob("training", "smoke", 2, 3, {"seeds": (0, 1, 2)})
    task = sweep.ShardTask(job, tmp_path / "shared", tmp_path / "scratch")
    key = task.key()
    local = task.local(key) / "checkpoints" / key
    local.mkdir(parents=True)
    (local / "train.pt").write_bytes(b"state")
    again = task.checkpoint()
    assert (tmp_path / "shared" / "checkpoints" / key / "train.pt").read_bytes() == b"state"
    assert isinstance(again, submitit.helpers.DelayedSubmission) and again.function is task


def test_the_grid_is_the_product_of_the_settings():
    jobs = sweep.plan(["training"], "smoke", 2, ["lr=0.001,0.003", "steps=10,20,30"], seeds=[0, 1])
    assert len(jobs) == 2 * 3 * 2
    assert {(j.overrides["lr"], j.overrides["steps"]) for j in jobs} == {
        (lr, s) for lr in (0.001, 0.003) for s in (10, 20, 30)}
    assert str(jobs[0]) == "training lr=0.001 seeds=(0, 1) steps=10 shard 1/2"


@pytest.mark.parametrize("setting,match", [
    ("lr", "must be SETTING=VALUE"), ("lr=", "must be SETTING=VALUE"), ("wings=2", "has no single-valued setting"),
    ("seeds=1,2", "has no single-valued setting 'seeds'"), ("steps=ten", "steps takes int values like 30")])
def test_bad_grid_settings(setting, match):
    with pytest.raises(ValueError, match=match):
        sweep.plan(["training"], "smoke", 2, [setting])


def test_bad_executor_and_job_settings(tmp_path):
    with pytest.raises(ValueError, match="--executor='pbs' is not valid; choose one of local, slurm"):
        sweep.make_executor("pbs", tmp_path, sweep.JobSettings())
    with pytest.raises(ValueError, match="parallel=0 must be an integer >= 1"):
        sweep.JobSettings(parallel=0)
    with pytest.raises(ValueError, match=r"4 shards of 3 seeds"):
        sweep.plan(["training"], "smoke", 4, seeds=[0, 1, 2])


def test_cli_sweep_bad_input_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "skiplessons", "sweep", "training", "--scale", "smoke", "--shards",
                          "2", "--set", "wings=2"], capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "has no single-valued setting 'wings'" in lines[0], out.stderr
