import numpy as np
import pytest
import torch

from skiplessons import data, models, train

SPEC = dict(depth=4, width=8)


def small_data():
    return data.mnist1d(n_samples=300, seed=1)


def make(members, dtype=torch.float64, act="relu"):
    return models.DeepMLPs(models.NetSpec(40, 10, act=act, **SPEC), members, dtype=dtype)


def test_batched_training_equals_training_each_net_alone():
    """Independent check: each net alone is an ordinary nn.Module trained with torch.optim.Adam by hand."""
    d = small_data().to(dtype=torch.float64)
    members = [models.Member(a, s) for a in models.ARCHS for s in (0, 1)]
    net = make(members)
    alone = [net.member(m) for m in range(len(members))]
    train.train(net, d, steps=30, lr=1e-2, batch_size=32, record_every=10, progress=False)
    for m, mlp in enumerate(alone):
        opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
        for t in range(30):
            idx = torch.as_tensor(train._batches(len(d.x_train), 32, 0, t))
            loss = torch.nn.functional.cross_entropy(mlp(d.x_train[idx]), d.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        for name, p in mlp.named_parameters():
            assert (p - getattr(net, name)[m]).abs().max().item() <= 1e-12, (members[m].label, name)


def test_training_reduces_the_loss_and_records_curves():
    net = make([models.Member("residual", 0), models.Member("plain", 0)], dtype=torch.float32)
    hist = train.train(net, small_data(), steps=60, lr=3e-3, batch_size=32, record_every=20, progress=False)
    a = hist.arrays()
    assert a["step"].tolist() == [0, 20, 40, 60] and a["acc"].shape == (2, 4)
    assert (a["loss"][:, -1] < a["loss"][:, 0]).all()


def test_nan_stops_with_the_net_and_step():
    net = make([models.Member("plain", 0), models.Member("residual", 1)], dtype=torch.float32)

    def poison(step, net):
        if step == 3:
            with torch.no_grad():
                net.W_out[1].fill_(float("nan"))

    with pytest.raises(FloatingPointError, match=r"net 1 \(residual s1\).*step 3"):
        train.train(net, small_data(), steps=10, batch_size=16, callback=poison, progress=False)


def test_nan_found_in_a_bulk_check_names_the_first_bad_step():
    """Without a callback the losses are checked every CHECK_EVERY steps; the error still names the step."""
    net = make([models.Member("plain", 0), models.Member("residual", 1)], dtype=torch.float32)
    calls = []

    def poisoned_penalty(net):             # NaN for net 1 from its 7th call (step 6) on
        calls.append(1)
        bad = len(calls) >= 7
        return torch.tensor([0.0, float("nan") if bad else 0.0])

    with pytest.raises(FloatingPointError, match=r"net 1 \(residual s1\).*nan at step 6;"):
        train.train(net, small_data(), steps=40, batch_size=16, record_every=40, regularizer=poisoned_penalty,
                    progress=False)
    assert len(calls) == train.CHECK_EVERY          # it stopped at the first bulk check


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    d = small_data()
    members = [models.Member("plain", 0), models.Member("hyper", 1)]
    settings = dict(steps=40, lr=1e-2, batch_size=32, record_every=10, progress=False)
    straight = make(members)
    h1 = train.train(straight, d, **settings)

    class Interrupt(Exception):
        pass

    def stop(step, net):
        if step == 25:
            raise Interrupt

    ckpt = tmp_path / "run.pt"
    resumed = make(members)
    with pytest.raises(Interrupt):
        train.train(resumed, d, checkpoint=ckpt, checkpoint_every=10, callback=stop, **settings)
    assert ckpt.is_file()
    fresh = make(members)  # a new process would start from a fresh init, then load the checkpoint
    h2 = train.train(fresh, d, checkpoint=ckpt, checkpoint_every=10, **settings)
    for name, p in straight.named_parameters():
        assert torch.equal(p, getattr(fresh, name)), name
    assert np.array_equal(h1.arrays()["loss"], h2.arrays()["loss"])


def test_checkpoint_of_another_run_is_not_resumed(tmp_path):
    d = small_data()
    ckpt = tmp_path / "run.pt"
    train.train(make([models.Member("plain", 0)]), d, steps=10, batch_size=32, checkpoint=ckpt, progress=False)
    other = make([models.Member("plain", 5)])
    before = other.W.detach().clone()
    h = train.train(other, d, steps=10, batch_size=32, checkpoint=ckpt, progress=False)
    assert h.step[0] == 0 and not torch.equal(before, other.W)


@pytest.mark.parametrize("kwargs,match", [
    (dict(steps=0), "steps"), (dict(lr=0.0), "lr"), (dict(optimizer="lbfgs"), "adam, sgd"),
    (dict(batch_size=0), "batch_size")])
def test_bad_training_arguments(kwargs, match):
    args = dict(steps=5, batch_size=8) | kwargs
    with pytest.raises(ValueError, match=match):
        train.train(make([models.Member("plain", 0)]), small_data(), **args)


def test_wrong_input_size_is_refused():
    net = models.DeepMLPs(models.NetSpec(64, 10, depth=2, width=4), [models.Member("plain", 0)])
    with pytest.raises(ValueError, match="d_in=64"):
        train.train(net, small_data(), steps=2)


def test_bad_step_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match="step_mode='jit' is not valid; choose one of auto, graph, eager"):
        train.train(make([models.Member("plain", 0)]), small_data(), steps=2, step_mode="jit")


def test_graph_step_needs_a_cuda_device():
    with pytest.raises(ValueError, match="step_mode='graph' needs the nets on a CUDA device, not cpu"):
        train.train(make([models.Member("plain", 0)]), small_data(), steps=2, step_mode="graph")


def test_callback_runs_only_at_the_chosen_steps():
    seen = []
    train.train(make([models.Member("plain", 0)]), small_data(), steps=12, batch_size=16,
                callback=lambda step, net: seen.append(step), callback_at=[0, 4, 12, 99], progress=False)
    assert seen == [0, 4, 12]                            # 0: before the first step


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA graphs are checked on GPUs")


def _gpu_run(mode, dtype, steps=120, **kwargs):
    members = [models.Member(a, s) for a in models.ARCHS for s in (0, 1)]
    net = models.DeepMLPs(models.NetSpec(40, 10, depth=12, width=32, bn_layer=kwargs.pop("bn_layer", None)),
                          members, dtype=dtype, device="cuda")
    hist = train.train(net, small_data(), steps=steps, lr=3e-3, batch_size=64, record_every=40, step_mode=mode,
                       progress=False, **kwargs)
    return net, hist.arrays()


def _relative_gap(a, b):
    return max(((p - getattr(b, k)).norm() / p.norm()).item() for k, p in a.named_parameters())


@CUDA
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-3)])
def test_captured_step_gives_the_eager_numbers(dtype, tol):
    """The CUDA graph replays the same computation: float64 agrees to round-off, float32 within its own."""
    graph_net, g = _gpu_run("graph", dtype)
    eager_net, e = _gpu_run("eager", dtype)
    assert _relative_gap(graph_net, eager_net) < tol
    np.testing.assert_allclose(g["loss"], e["loss"], rtol=100 * tol)


@CUDA
def test_captured_step_with_regularizer_and_batch_norm_gives_the_eager_numbers():
    from skiplessons.regularizers import BiasRegularizer
    probe = small_data().x_train[:32]                        # on the CPU: the regularizer moves it once
    nets = [_gpu_run(mode, torch.float64, steps=60, bn_layer=6, regularizer=BiasRegularizer(probe))[0]
            for mode in ("graph", "eager")]
    assert _relative_gap(*nets) < 1e-10


@CUDA
def test_captured_run_resumes_to_the_same_result(tmp_path):
    straight, _ = _gpu_run("graph", torch.float64, steps=80)

    class Interrupt(Exception):
        pass

    def stop(step, net):
        raise Interrupt

    with pytest.raises(Interrupt):
        _gpu_run("graph", torch.float64, steps=80, checkpoint=tmp_path / "run.pt", checkpoint_every=20,
                 callback=stop, callback_at={50})
    resumed, _ = _gpu_run("graph", torch.float64, steps=80, checkpoint=tmp_path / "run.pt", checkpoint_every=20)
    assert _relative_gap(straight, resumed) < 1e-10


@CUDA
def test_nan_in_a_captured_run_names_the_net_and_step():
    def poison(step, net):
        with torch.no_grad():
            net.W_out[1].fill_(float("nan"))          # in place: the graph reads the same memory

    with pytest.raises(FloatingPointError, match=r"net 1 \(plain s1\).*step 30"):
        _gpu_run("graph", torch.float32, steps=60, callback=poison, callback_at={30})
