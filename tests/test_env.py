import subprocess
import sys

import pytest
import torch

from skiplessons import env


def test_scale_is_validated(monkeypatch):
    env.scale.cache_clear()
    monkeypatch.setenv("SKIPLESSONS_SCALE", "huge")
    with pytest.raises(ValueError, match="smoke, default, paper"):
        env.scale()
    env.scale.cache_clear()
    monkeypatch.setenv("SKIPLESSONS_SCALE", "paper")
    assert env.scale() == "paper"
    monkeypatch.setenv("SKIPLESSONS_SCALE", "smoke")
    assert env.scale() == "paper", "the scale is read once per process"
    env.scale.cache_clear()


def test_device_override(monkeypatch):
    monkeypatch.setenv("SKIPLESSONS_DEVICE", "cpu")
    assert env.device().type == "cpu"
    monkeypatch.setenv("SKIPLESSONS_DEVICE", "tpu")
    with pytest.raises(ValueError, match="cpu, cuda"):
        env.device()


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
