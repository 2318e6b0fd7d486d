import subprocess
import sys

import pytest
import torch

from skiplessons import env


def test_scale_is_validated(monkeypatch):
    env.scale_from_environment.cache_clear()
    for bad in ("huge", "SMOKE", ""):
        monkeypatch.setenv("SKIPLESSONS_SCALE", bad)
        with pytest.raises(ValueError, match="SKIPLESSONS_SCALE=.* is not a valid scale; choose one of smoke, default, paper"):
            env.scale_from_environment()
        env.scale_from_environment.cache_clear()
    monkeypatch.setenv("SKIPLESSONS_SCALE", "paper")
    assert env.scale_from_environment() == "paper"
    monkeypatch.setenv("SKIPLESSONS_SCALE", "smoke")
    assert env.scale_from_environment() == "paper", "the scale is read once per process"
    env.scale_from_environment.cache_clear()


def test_setup_chooses_scale_and_device_explicitly(monkeypatch):
    """`setup(scale=..., device=...)` holds for the rest of the process, whatever the environment says."""
    try:
        e = env.setup(seed=0, scale="paper", device="cpu", quiet=True)
        assert (e.scale, e.device.type) == ("paper", "cpu")
        assert env.current_scale() == "paper" and env.current_device().type == "cpu"
        with pytest.raises(ValueError, match="scale='huge' is not a valid scale"):
            env.setup(scale="huge", quiet=True)
        with pytest.raises(ValueError, match="device='tpu' is not valid; choose one of cpu, cuda"):
            env.setup(device="tpu", quiet=True)
    finally:
        env.setup(seed=0, scale=env.scale_from_environment(), quiet=True)


def test_setup_prints_one_line_and_is_deterministic(capsys):
    e = env.setup(seed=7)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "seed=7" in out[0] and f"scale={e.scale}" in out[0]
    a = torch.randn(5)
    env.setup(seed=7, quiet=True)
    assert torch.equal(a, torch.randn(5))


@pytest.mark.parametrize("seed", [-1, 1.5, "3"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        env.setup(seed=seed, quiet=True)


def test_same_seed_same_numbers_in_fresh_processes():
    code = ("from skiplessons import setup, models, train, data;import torch;setup(3, quiet=True);"
            "d=data.teacher(n_train=64,n_test=16,d_in=5,n_out=2);"
            "n=models.DeepMLPs(models.NetSpec(5,2,depth=3,width=8,act='tanh'),[models.Member('residual',1)]);"
            "train.train(n,d,steps=5,batch_size=16,record_every=5);print(repr(n.W.sum().item()))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].strip()


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with env.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


class _Stop(Exception):
    pass


@pytest.mark.parametrize("scale, asked, shown", [("smoke", None, False), ("default", None, False),
                                                 ("paper", None, True), ("default", True, True),
                                                 ("paper", False, False)])
def test_progress_bars_are_the_sessions_setting(monkeypatch, tmp_path, scale, asked, shown):
    """Progress bars are on at `paper` only unless `setup(progress=...)` says otherwise (so the site, built at
    `default`, has none), and `load_or_run` hands the session's choice to the run."""
    import dataclasses

    from skiplessons import experiments

    seen = []

    def run(config, ctx):
        seen.append(ctx.progress)
        raise _Stop

    fake = dataclasses.replace(experiments.get("training"), run=run)
    monkeypatch.setattr(experiments, "get", lambda name: fake)
    try:
        assert env.setup(scale=scale, progress=asked, device="cpu", quiet=True).progress is shown
        assert env.current_progress() is shown
        with pytest.raises(_Stop):
            experiments.load_or_run("training", "smoke", force=True, folder=tmp_path)
        assert seen == [shown]
    finally:
        env.setup(seed=0, scale=env.scale_from_environment(), quiet=True)


def test_progress_must_be_a_bool():
    with pytest.raises(ValueError, match=r"progress='yes' must be True, False or None \(None: on at paper scale only\)"):
        env.setup(progress="yes", quiet=True)
