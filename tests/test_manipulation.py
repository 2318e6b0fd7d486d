"""Manipulation checks of Part IV's controls: the measures at initialization on nets whose Jacobians are known,
and the verdict "like the reference nets or not" on made-up measures (a null and a clear gap)."""
import numpy as np
import pytest
import torch

from skiplessons import manipulation as M
from skiplessons.models import DeepMLPs, Member, NetSpec

D64 = torch.float64


def net_with_hidden(spec, W, members=1):
    """A batch of `members` plain nets of `spec` whose hidden weights are all `W` (zero biases)."""
    net = DeepMLPs(spec, [Member("plain", s) for s in range(members)], dtype=D64)
    with torch.no_grad():
        net.W.copy_(W.expand_as(net.W))
    return net


def test_identity_stack_has_every_singular_value_one():
    spec = NetSpec(5, 3, depth=6, width=7, act="linear")
    net = net_with_hidden(spec, torch.eye(7, dtype=D64), members=2)
    x = torch.randn(4, 5, dtype=D64)
    sv = M.jacobian_singular_values(net, x)
    assert sv.shape == (2, 4, 7) and np.allclose(sv, 1.0)
    m = M.measure(net, x)
    assert np.allclose(m["top"], 1) and np.allclose(m["band"], 1) and np.allclose(m["rank"], 1)
    assert np.allclose(m["growth"], 1)


def test_linear_stack_jacobian_is_the_weight_product():
    """h_D = h_1 W_1 ... W_{D-1}: the Jacobian's singular values are the product's."""
    spec = NetSpec(5, 3, depth=5, width=6, act="linear")
    net = DeepMLPs(spec, [Member("plain", 3)], dtype=D64)
    prod = torch.linalg.multi_dot(list(net.W[0].detach()))
    sv = M.jacobian_singular_values(net, torch.randn(2, 5, dtype=D64))
    assert np.allclose(sv[0], torch.linalg.svdvals(prod).numpy()[None], rtol=1e-10)


def test_plain_he_relu_layer_jacobian_is_the_masked_weights():
    """One ReLU layer after the first: J = diag(z > 0) W^T per input, so the rank is the active units'."""
    spec = NetSpec(4, 2, depth=2, width=8)
    net = DeepMLPs(spec, [Member("plain", 0)], dtype=D64)
    x = torch.randn(3, 4, dtype=D64)
    _, hidden, pre = net(x, return_hidden=True, return_preacts=True)
    sv = M.jacobian_singular_values(net, x)
    for i in range(3):
        J = torch.diag((pre[1][0, i] > 0).to(D64)) @ net.W[0, 0].detach().T
        assert np.allclose(sv[0, i], torch.linalg.svdvals(J).numpy(), atol=1e-12)
    dead = ((pre[1][0] <= 0).all(0)).to(D64).mean().item()
    assert M.dead_branch_fraction(net, x)[0] == pytest.approx(dead)


def test_minus_identity_relu_stack_is_dead():
    """ReLU layers with W = -I on non-negative inputs: every unit of layers 2..D is off on every input, the
    Jacobian is zero and the numerical rank counts nothing."""
    spec = NetSpec(4, 2, depth=4, width=5)
    net = net_with_hidden(spec, -torch.eye(5, dtype=D64))
    x = torch.randn(6, 4, dtype=D64)
    assert M.dead_branch_fraction(net, x)[0] == 1.0
    assert np.allclose(M.jacobian_singular_values(net, x), 0.0)


def test_the_measures_refuse_batch_norm_and_bad_shapes():
    net = DeepMLPs(NetSpec(4, 2, depth=3, width=5, bn_layer=2), [Member("plain")])
    with pytest.raises(ValueError, match="batch-normalization"):
        M.jacobian_singular_values(net, torch.randn(3, 4))
    with pytest.raises(ValueError, match="singular_values must be"):
        M.summarize(np.ones((2, 3)))


def measures(groups: dict, width: int = 8):
    """{group: {property: per net}} from {group: {property: values}} (the other properties equal for all)."""
    base = {"top": [5.0, 6.0, 4.0, 5.5], "band": [0.03, 0.04, 0.03, 0.02], "rank": [0.16, 0.15, 0.17, 0.16],
            "growth": [0.8, 0.7, 0.9, 0.75], "dead": [0.28, 0.29, 0.3, 0.27]}
    out = {}
    for g, over in groups.items():
        vals = {p: np.asarray(over.get(p, base[p]), dtype=float) for p in base}
        out[g] = vals | {"sv": np.ones((len(vals["top"]), 2, width))}
    return out


def test_manipulation_check_null_passes_and_a_clear_gap_fails():
    from skiplessons.claims import FAILS, HOLDS, part4

    null = measures({"plain": {}, "control": {"top": [5.2, 5.6, 4.4, 5.1]}})
    check = part4.manipulation_check(null, "control")
    assert all(v.verdict == HOLDS for v in check.values()) and part4.passes(check)
    assert all(v.expectation == "equal" for v in check.values())
    # the main malicious construction: top singular value 1, half its values in the band, most branch units dead
    gap = measures({"plain": {}, "control": {"top": [1.0, 1.0, 1.0, 1.0], "band": [0.47, 0.46, 0.48, 0.47],
                                             "dead": [0.6, 0.61, 0.6, 0.62]}})
    check = part4.manipulation_check(gap, "control")
    assert {p for p, v in check.items() if v.verdict == FAILS} == {"top", "band", "dead"}
    assert not part4.passes(check)
    assert "→ fails" in part4.check_cells(gap, check, "control")
    with pytest.raises(ValueError, match=r"no nets \['other'\]"):
        part4.manipulation_check(gap, "other")


def test_search_rows_show_each_start_beside_its_check():
    """Chapter IV.1's search table: mean ± std of each property per start, plain the reference, and each other
    start's check in words."""
    from skiplessons.claims import part4

    search = measures({"plain": {}, "control": {"top": [1.0, 1.0, 1.0, 1.0], "band": [0.47, 0.46, 0.48, 0.47],
                                                "dead": [0.6, 0.61, 0.6, 0.62]}})
    checks = {"control": part4.manipulation_check(search, "control")}
    plain, control = part4.search_rows(search, checks, ["plain", "control"])
    assert plain["like plain nets?"] == "reference" and plain["start"] == "plain"
    word = control["like plain nets?"]
    assert word == part4.check_word(checks["control"]) and word.startswith("fails")
    assert list(control)[1:-1] == list(M.PROPERTIES.values()) and plain[M.PROPERTIES["top"]] == "5.12 ± 0.85"


class Checked:
    """A reader stand-in with a comparison's accuracies and the manipulation measures."""

    name = "fake"

    def __init__(self, acc, measured):
        self.acc, self.measured = acc, measured

    def final(self, key="acc", by=None):
        return {g: np.asarray(v, dtype=float) for g, v in self.acc.items()}

    def manipulation(self, by=None):
        return self.measured


def test_a_control_that_fails_its_check_supports_no_verdict():
    from skiplessons.claims import HOLDS, UNTESTED, judge, part4
    from skiplessons.stats import welch

    acc = {"plain": [0.5, 0.52, 0.51, 0.5], part4.MALICIOUS: [0.9, 0.91, 0.92, 0.9]}
    raw = judge("acc", welch(acc[part4.MALICIOUS], acc["plain"]), "numbers")
    assert raw.verdict == HOLDS
    ok = part4._controlled(raw, Checked(acc, measures({"plain": {}, part4.MALICIOUS: {}})), part4.MALICIOUS)
    assert ok.verdict == HOLDS and "→ passes" in ok.numbers
    bad = measures({"plain": {}, part4.MALICIOUS: {"top": [1.0] * 4}})
    v = part4._controlled(raw, Checked(acc, bad), part4.MALICIOUS)
    assert v.verdict == UNTESTED and "fails its manipulation check" in v.numbers
    assert "the comparison alone: holds" in v.numbers
    old = part4._controlled(raw, Checked(acc, None), part4.MALICIOUS)
    assert old.verdict == HOLDS and "not measured in this stored result" in old.numbers
    assert part4.control_passes(Checked(acc, bad), part4.MALICIOUS) is False
    assert part4.control_passes(Checked(acc, None), part4.MALICIOUS) is None


def test_search_measures_every_start_as_built_by_hand(tmp_path, monkeypatch):
    """`manipulation_search` at smoke: one entry per start, each equal to `measure` of the same nets."""
    from skiplessons.experiments import config_for
    from skiplessons.doubling import stream, width_doubled
    from skiplessons.experiments.part4 import (DOUBLED, DOUBLED_STREAM, JACOBIAN_INPUTS, PLAIN_2N,
                                               SEARCH_CONDITIONS, manipulation_search)
    from skiplessons.experiments.parts import load_data

    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    config = config_for("malicious_wide", "smoke")
    found = manipulation_search(config, 2)
    assert list(found) == [label for label, _ in SEARCH_CONDITIONS] + [PLAIN_2N, DOUBLED, DOUBLED_STREAM]
    d = load_data(config)
    spec = NetSpec(d.d_in, d.n_classes, depth=config.depth, width=config.width)
    x = d.x_train[:JACOBIAN_INPUTS]
    by_hand = M.measure(DeepMLPs(spec, [Member("residual", s, init="malicious") for s in range(2)]), x)
    doubled = width_doubled(spec, [Member("residual", s) for s in range(2)])
    for p in list(M.PROPERTIES) + ["sv"]:
        assert np.allclose(found["residual, malicious"][p], by_hand[p])
        assert np.allclose(found[DOUBLED][p], M.measure(doubled, x)[p])
    assert found[PLAIN_2N]["sv"].shape[-1] == 2 * config.width
    for p in ("top", "band", "rank", "growth"):     # in the residual state's coordinates: the residual nets
        assert np.allclose(found[DOUBLED_STREAM][p], found["residual"][p], rtol=1e-4)
    assert np.allclose(M.measure(doubled, x, stream=stream(config.width))["sv"], found[DOUBLED_STREAM]["sv"])
    with pytest.raises(ValueError, match="seeds=1"):
        manipulation_search(config, 1)


def test_width_doubled_plain_net_is_the_residual_net():
    """Chapter 0's exercise 3 built: a plain ReLU net of width 2n started at a residual net of width n computes
    its outputs and hidden states (h = u + s - c) to round-off in float64, on inputs of any sign, and its
    Jacobian in those coordinates has the residual net's singular values; in its own units the rank is <= n."""
    from skiplessons import doubling

    spec = NetSpec(7, 3, depth=6, width=5)
    members = [Member("residual", s) for s in range(3)]
    res = DeepMLPs(spec, members, dtype=D64)
    dbl = doubling.width_doubled(spec, members, dtype=D64)
    assert dbl.spec.width == 10 and all(m.arch == "plain" for m in dbl.members)
    x = 3 * torch.randn(40, 7, dtype=D64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y_res, h_res = res(x, return_hidden=True)
        y_dbl, h_dbl = dbl(x, return_hidden=True)
    assert (y_res - y_dbl).abs().max() < 1e-10
    P, c = doubling.stream(5)
    assert max(float((a - (b @ P - c)).abs().max()) for a, b in zip(h_res, h_dbl)) < 1e-10
    # the Jacobians agree wherever they are defined: not at an input where a unit sits at its ReLU's kink (an
    # input whose first hidden layer is all zero gives branch pre-activations of exactly 0 in the residual net,
    # round-off around 0 in the doubled one)
    _, pre = res(x, return_preacts=True)
    smooth = ~torch.stack([(z == 0).any(-1) for z in pre]).any(0).any(0)
    assert 10 <= int(smooth.sum()) < len(x)
    sv_res = M.jacobian_singular_values(res, x[smooth])
    assert np.abs(M.jacobian_singular_values(dbl, x[smooth], stream=(P, c)) - sv_res).max() < 1e-10
    own = M.measure(dbl, x)
    assert own["rank"].max() <= 0.5 and own["sv"].shape == (3, 40, 10)
    streamed = M.measure(dbl, x[smooth], stream=(P, c))
    for p in ("top", "band", "rank", "growth"):
        assert np.allclose(streamed[p], M.measure(res, x[smooth])[p], rtol=1e-10)
    with pytest.raises(ValueError, match="full skip"):
        doubling.doubled_weights(spec, Member("residual", 0, alpha=0.5))
    with pytest.raises(ValueError, match="stream must be"):
        M.jacobian_singular_values(dbl, x, stream=(P[:5], c))


@pytest.mark.parametrize("layer", [1, 3])
def test_batch_norm_frozen_at_the_batch_is_the_affine_map(layer):
    """A BN net with its statistics frozen at x equals it on x (outputs and hidden layers) but no longer couples
    the inputs: on a part of x it differs from the BN net, which normalizes with that part's statistics. The
    measures of a BN net are those of its frozen form; the per-input Jacobian of the BN net itself is refused."""
    spec = NetSpec(6, 3, depth=5, width=7, bn_layer=layer)
    net = DeepMLPs(spec, [Member("plain", s) for s in range(2)], dtype=D64)
    with torch.no_grad():
        net.bn_gain.mul_(1.7)
        (net.b_in if layer == 1 else net.b[:, layer - 2]).add_(0.2)
    x = torch.randn(30, 6, dtype=D64, generator=torch.Generator().manual_seed(2))
    frozen = M.freeze_batch_norm(net, x)
    assert frozen.spec.bn_layer is None and not hasattr(frozen, "bn_gain")
    assert (frozen(x) - net(x)).abs().max() < 1e-10
    assert (frozen(x[:4]) - net(x[:4])).abs().max() > 1e-3
    assert (frozen(x[:4]) - frozen(x)[:, :4]).abs().max() < 1e-12        # the inputs are independent now
    found, by_hand = M.measure(net, x), M.measure(frozen, x)
    assert all(np.allclose(found[p], by_hand[p]) for p in by_hand)
    plain = DeepMLPs(NetSpec(6, 3, depth=5, width=7), [Member("plain")])
    assert M.freeze_batch_norm(plain, x) is plain
    with pytest.raises(TypeError, match="DeepMLPs batch"):
        M.measure(net.member(0), x)
