import pytest
import torch

from skiplessons.models import ARCHS, VARIANTS, DeepMLPs, MLP, Member, NetSpec, branch_scale, forward, hidden_rms


def rms_ratio(net, x):
    with torch.no_grad():
        _, hidden = net(x, return_hidden=True)
    return (hidden[-1].pow(2).mean((1, 2)) / hidden[0].pow(2).mean((1, 2))).sqrt()


@pytest.mark.parametrize("act", ["relu", "tanh", "linear"])
def test_activation_scale_bounded_at_depth_30(act):
    """The init bound stated in models' docstring: RMS at depth 30 within a factor 4 of the first layer."""
    members = [Member(a, s) for a in ARCHS + VARIANTS for s in range(3)]
    members += [Member(a, 0, alpha=al) for a in ("residual", "hyper", "hyper_mean") for al in (0.25, 0.5, 0.75)]
    members += [Member("plain", 0, init=i) for i in ("orthogonal", "identity")]
    net = DeepMLPs(NetSpec(40, 10, depth=30, width=64, act=act), members)
    ratio = rms_ratio(net, torch.randn(512, 40))
    assert ((ratio > 0.25) & (ratio < 4)).all(), dict(zip([m.label for m in members], ratio.tolist()))


def test_unscaled_residual_would_explode():
    """The bound is not vacuous: He-initialized residual branches blow up at depth 30."""
    spec = NetSpec(40, 10, depth=30, width=64)
    net = DeepMLPs(spec, [Member("residual", 0)])
    with torch.no_grad():
        net.W.mul_((1 / branch_scale(1.0, "relu", 30)) ** 0.5)
    assert rms_ratio(net, torch.randn(256, 40)).item() > 100


def test_batched_forward_equals_each_member():
    spec = NetSpec(7, 3, depth=5, width=6, act="tanh")
    members = [Member("plain", 0), Member("residual", 1, alpha=0.3), Member("hyper", 2)]
    net = DeepMLPs(spec, members, dtype=torch.float64)
    x = torch.randn(11, 7, dtype=torch.float64)
    y = net(x)
    for m in range(3):
        assert torch.allclose(y[m], net.member(m)(x), atol=1e-13)


def test_forward_matches_written_out_equations():
    """An independent, loop-by-loop evaluation of the three architectures' equations."""
    spec = NetSpec(4, 2, depth=4, width=5)
    for arch in ARCHS + VARIANTS:
        mlp = MLP(spec, Member(arch, 3), dtype=torch.float64)
        p = {k: v.detach() for k, v in mlp.named_parameters()}
        x = torch.randn(6, 4, dtype=torch.float64)
        hs = [torch.relu(x @ p["W_in"] + p["b_in"])]
        for l in range(3):
            branch = torch.relu(hs[-1] @ p["W"][l] + p["b"][l])
            if arch == "plain":
                hs.append(branch)
            elif arch == "residual":
                hs.append(branch + hs[-1])
            elif arch == "hyper":
                hs.append(branch + 0.75 * hs[-1] + 0.25 * sum(hs) / len(hs))
            else:
                hs.append(branch + sum(hs) / len(hs))
        y = hs[-1] @ p["W_out"] + p["b_out"]
        assert torch.allclose(mlp(x), y, atol=1e-12), arch


def test_alpha_interpolates_plain_and_residual():
    spec = NetSpec(4, 2, depth=3, width=5)
    p = MLP(spec, Member("plain", 1), dtype=torch.float64)
    params = {k: v.detach() for k, v in p.named_parameters()}
    x = torch.randn(8, 4, dtype=torch.float64)
    assert torch.allclose(forward(params, x, "relu", 0.0, 0.0), p(x))
    r0 = MLP(spec, Member("residual", 1, alpha=0.0), dtype=torch.float64, params=params)
    assert torch.allclose(r0(x), p(x))


def test_same_seed_same_init_whatever_the_batch():
    spec = NetSpec(5, 2, depth=3, width=4)
    a = DeepMLPs(spec, [Member("plain", 4)])
    b = DeepMLPs(spec, [Member("residual", 0), Member("plain", 4)])
    assert torch.equal(a.W_in[0], b.W_in[1])


@pytest.mark.parametrize("kwargs,match", [
    (dict(depth=0), "depth"), (dict(depth=-3), "depth"), (dict(width=0), "width"),
    (dict(act="gelu"), "relu, tanh, linear")])
def test_bad_spec(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetSpec(5, 2, **kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(arch="dense"), "plain, residual, hyper, hyper_mean"), (dict(arch="plain", alpha=1.5), r"\[0, 1\]"),
    (dict(arch="plain", alpha=-0.1), "alpha"), (dict(arch="plain", init="zeros"), "default, orthogonal, identity, malicious, malicious_plain"),
    (dict(arch="plain", seed=-1), "seed")])
def test_bad_member(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Member(**kwargs)


def test_orthogonal_init_is_orthogonal():
    net = MLP(NetSpec(5, 2, depth=4, width=6, act="linear"), Member("plain", 0, init="orthogonal"),
              dtype=torch.float64)
    W = net.W.detach()
    eye = torch.eye(6, dtype=torch.float64)
    assert torch.allclose(W[0].T @ W[0], eye, atol=1e-12)


def test_hidden_rms_matches_the_hidden_layers():
    spec = NetSpec(5, 2, depth=4, width=6)
    net = DeepMLPs(spec, [Member("plain", 0), Member("residual", 1)], dtype=torch.float64)
    x = torch.randn(9, 5, dtype=torch.float64)
    rms = hidden_rms(net, x)
    assert rms.shape == (2, 4)
    for m in range(2):
        _, hidden = net.member(m)(x, return_hidden=True)
        direct = torch.tensor([float((h.detach() ** 2).sum() / h.numel()) ** 0.5 for h in hidden], dtype=torch.float64)
        assert torch.allclose(rms[m], direct, rtol=1e-12)
        assert torch.allclose(hidden_rms(net.member(m), x), direct, rtol=1e-12)
    with pytest.raises(TypeError, match="net must be"):
        hidden_rms(torch.nn.Linear(5, 2), x)
