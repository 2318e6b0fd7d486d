"""Resumable experiments: a run killed mid-way (SIGKILL or SIGTERM) resumes from its checkpoint to the same numbers, and a
net whose loss turns NaN is dropped, reported and marked while the others train on."""
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from skiplessons.curvature import SpectrumSettings
from skiplessons import data, experiments, models, train

SETTINGS = dict(steps=3000, record_every=250, seeds=[0])
RUN = textwrap.dedent(f"""
    import sys
    from skiplessons import experiments
    experiments.load_or_run("training", "smoke", folder=sys.argv[1], **{SETTINGS!r})
""")


def start(folder):
    return subprocess.Popen([sys.executable, "-c", RUN, str(folder)])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_mid_run_resumes_to_the_same_numbers(tmp_path, sig):
    from skiplessons import results
    from skiplessons.experiments.configs import as_dict

    config = as_dict(experiments.config_for("training", "smoke", **SETTINGS))
    ckpt = tmp_path / "killed" / "checkpoints" / results.key("training", "smoke", config) / "train.pt"
    p = start(tmp_path / "killed")
    deadline = time.monotonic() + 300
    while not ckpt.is_file() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(sig)
    p.wait()
    if p.returncode == 0:
        pytest.skip("the run finished before it could be killed")
    assert p.returncode == -sig
    step = torch.load(ckpt, weights_only=True)["step"]        # no pickle needed to read it
    assert 0 < step < SETTINGS["steps"], step
    assert not list((tmp_path / "killed").glob("*.json")), "nothing stored by the killed run"

    assert start(tmp_path / "killed").wait(timeout=600) == 0           # resumes from `step`
    assert start(tmp_path / "whole").wait(timeout=600) == 0            # never interrupted
    resumed = results.load("training", "smoke", config, folder=tmp_path / "killed")
    whole = results.load("training", "smoke", config, folder=tmp_path / "whole")
    assert resumed.summary == whole.summary
    for k, v in whole.arrays.items():
        assert np.array_equal(resumed.arrays[k], v), k                # bit-identical on CPU
    assert not ckpt.parent.exists(), "checkpoints are removed once the result is stored"


def test_a_nan_net_is_dropped_reported_and_marked_while_the_others_train_on():
    d = data.mnist1d(n_samples=300, seed=1)
    spec = models.NetSpec(40, 10, depth=4, width=8)
    members = [models.Member("plain", 0), models.Member("residual", 1)]
    calls = []

    def poisoned_penalty(net):             # NaN for net 1 from its 7th call (step 6) on
        calls.append(1)
        return torch.tensor([0.0, float("nan") if len(calls) >= 7 else 0.0])

    net = models.DeepMLPs(spec, members)
    with pytest.warns(RuntimeWarning, match=r"net 1 \(residual s1\) became nan at step 6"):
        hist = train.train(net, d, steps=40, batch_size=16, record_every=10, regularizer=poisoned_penalty,
                           on_nonfinite="drop", progress=False)
    a = hist.arrays()
    assert hist.failed == {1: 6} and a["failed_step"].tolist() == [-1, 6]
    assert np.isnan(a["acc"][1, 1:]).all() and a["acc"][1, 0] == a["acc"][1, 0]   # marked from step 6 on
    # independent: net 0 trained alone, with no NaN beside it, gives the same numbers
    alone = models.DeepMLPs(spec, members[:1])
    ref = train.train(alone, d, steps=40, batch_size=16, record_every=10, progress=False).arrays()
    for k in ("loss", "acc", "test_loss", "test_acc"):
        assert np.array_equal(a[k][0], ref[k][0]), k


def test_the_training_experiment_reports_a_dropped_net_and_keeps_the_others(monkeypatch):
    from skiplessons.experiments import part3

    real, calls = part3.train, []

    def poisoned(net, d, **kw):                 # net 1's loss becomes NaN at step 6
        def penalty(net):
            calls.append(1)
            v = torch.zeros(len(net))
            v[1] = float("nan") if len(calls) >= 7 else 0.0
            return v
        return real(net, d, regularizer=penalty, **kw)

    monkeypatch.setattr(part3, "train", poisoned)
    config = experiments.config_for("training", "smoke")
    with pytest.warns(RuntimeWarning, match="net 1"):
        summary, arrays = part3.run_training(config, experiments.RunContext(torch.device("cpu")))
    assert summary["failed"] == [{"net": 1, "label": "plain s1", "step": 6}]
    assert arrays["failed_step"].tolist() == [-1, 6, -1, -1, -1, -1]
    assert np.isnan(arrays["acc"][1, -1]) and np.isfinite(np.delete(arrays["acc"][:, -1], 1)).all()


def test_bad_resume_settings():
    d = data.mnist1d(n_samples=300, seed=1)
    net = models.DeepMLPs(models.NetSpec(40, 10, depth=2, width=4), [models.Member("plain", 0)])
    with pytest.raises(ValueError, match="on_nonfinite='skip' is not valid; choose one of stop, drop"):
        train.train(net, d, steps=2, on_nonfinite="skip")
    with pytest.raises(ValueError, match="checkpoint_seconds=0 must be > 0"):
        train.train(net, d, steps=2, checkpoint_seconds=0)
    with pytest.raises(ValueError, match="part='../x' must be a name"):
        experiments.Checkpoints(Path("/tmp")).path("../x")


def test_depth_sweep_interrupted_after_one_depth_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    """Ctrl-C while the second depth trains: the first depth's finished checkpoint is reused, and the result
    equals an uninterrupted run's."""
    from skiplessons import results
    from skiplessons.experiments import part3
    from skiplessons.experiments.configs import as_dict

    real, calls = part3.train, []

    def interrupted(*a, **kw):
        calls.append(kw["checkpoint"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(part3, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        experiments.load_or_run("depth_sweep", "smoke", folder=tmp_path / "cut")
    monkeypatch.undo()
    assert calls[0].is_file() and calls[0].name == "depth_2.pt", "the finished depth's checkpoint is kept"
    resumed = experiments.load_or_run("depth_sweep", "smoke", folder=tmp_path / "cut")
    whole = experiments.load_or_run("depth_sweep", "smoke", folder=tmp_path / "whole")
    for k, v in whole.arrays.items():
        assert np.array_equal(resumed.arrays[k], v), k
    key = results.key("depth_sweep", "smoke", as_dict(experiments.config_for("depth_sweep", "smoke")))
    assert not (tmp_path / "cut" / "checkpoints" / key).exists()


class _Interrupt(Exception):
    pass


def test_tracked_training_interrupted_resumes_to_the_same_measurements(tmp_path):
    """`degeneracy.train_tracked` killed after its first measurements and a checkpoint resumes to the same
    curves and the same Hessian measurements as an uninterrupted run (bit for bit on CPU)."""
    from skiplessons import data, degeneracy as dg
    from skiplessons.models import DeepMLPs, Member, NetSpec

    d = data.mnist1d(n_samples=300)
    x, y = d.x_train[:60], d.y_train[:60]
    settings = SpectrumSettings(method="dense", dense_max=2000)

    def run(checkpoint=None, stop_at=None):
        torch.manual_seed(0)
        net = DeepMLPs(NetSpec(d.d_in, d.n_classes, depth=3, width=5), [Member("plain", 0), Member("residual", 1)])
        calls = {"n": 0}

        def regularizer(net):                  # called once per step: a kill switch after `stop_at` steps
            calls["n"] += 1
            if stop_at is not None and calls["n"] > stop_at:
                raise _Interrupt
            return torch.zeros(len(net))

        return dg.train_tracked(net, d, 24, [0, 8, 16, 24], x, y, settings, checkpoint=checkpoint, lr=3e-3,
                                batch_size=32, record_every=8, checkpoint_every=10, regularizer=regularizer)

    path = tmp_path / "train.pt"
    with pytest.raises(_Interrupt):
        run(path, stop_at=13)                   # measured at 0 and 8, checkpointed at 10, killed at 14
    assert path.is_file() and (tmp_path / "train-measured.pt").is_file()
    hist, tracked = run(path)
    ref_hist, ref_tracked = run()
    for key, value in ref_hist.arrays().items():
        np.testing.assert_array_equal(hist.arrays()[key], value, err_msg=key)
    assert tracked.step == ref_tracked.step == [0, 8, 16, 24]
    for key, value in ref_tracked.arrays().items():
        np.testing.assert_array_equal(tracked.arrays()[key], value, err_msg=key)
