"""Barlow Twins, VICReg, MHE, MHS (orig and mod): loss values and gradients against METHODS.md section 3.

The references below are written from METHODS.md's equations, independently of trainers/objectives: per-element
loops, the literal (N, N, D) distances, no numerical guards. Everything in float64 on random tensors; the data
are chosen so that the gradient-dissipation mask (w_gd) keeps some rows and detaches others in both views.
"""

import itertools
import math

import pytest
import torch

from sentcse.trainers.objectives import MHE, MHS, VARIANT_OBJECTIVES, BarlowTwins, VICReg, build_objective

N, D = 10, 6
MARGIN, TAU = 0.30, 0.05


# Tiny models: one intra-op thread (conftest.py's single_thread) for every test of this file.
pytestmark = pytest.mark.usefixtures("single_thread")


# ----------------------------------------------------------------------------------------------- references
def ref_views(x0, x1, w_gd, m):
    """L2-normalise; under w_gd row i of a view keeps its gradient iff 1 - max_{j != i} u_i . u_j < m."""
    views = []
    for x in (x0, x1):
        u = x / torch.sqrt((x * x).sum(dim=1, keepdim=True))
        if w_gd:
            rows = []
            for i in range(u.shape[0]):
                nearest = max(float((u[i] @ u[j]).detach()) for j in range(u.shape[0]) if j != i)
                rows.append(u[i] if 1 - nearest < m else u[i].detach())
            u = torch.stack(rows)
        views.append(u)
    return views


def ref_mhe(x0, x1, lam, m, tau, ratio, w_gd, w_w, w_r):
    u0, u1 = ref_views(x0, x1, w_gd, m)
    n = u0.shape[0]
    align = torch.stack([2 - 2 * (u0[i] @ u1[i]) for i in range(n)])
    scale = tau if w_w else 1.0
    total_align, total_uniform = 0.0, 0.0
    for u in (u0, u1):
        pairs = torch.stack([u[i] @ u[j] / scale for i in range(n) for j in range(n) if i > j])
        uniform = torch.logsumexp(pairs, dim=0)
        total_uniform = total_uniform + lam * uniform
        for i in range(n):
            if w_w:
                row = torch.stack([u[i] @ u[j] / tau for j in range(n) if j != i]).detach()
                omega = torch.exp(torch.logsumexp(row, dim=0) - uniform.detach()) / tau
                a = align[i] * omega / 2
            else:
                a = align[i] / (2 * n)
            total_align = total_align + (a * ratio if w_r else a)
    return total_align, total_uniform


def ref_mhs(x0, x1, lam, m, ratio, w_gd, w_w, w_r):
    u0, u1 = ref_views(x0, x1, w_gd, m)
    n = u0.shape[0]
    align = 2 - 2 * (u0 * u1).sum(dim=1)
    total_align, total_uniform = 0.0, 0.0
    for u, other in ((u0, u1), (u1, u0)):
        distance = ((u[:, None, :] - other.detach()[None, :, :]) ** 2).sum(dim=-1).add(1e-4).sqrt()  # literal (N, N, D)
        dmin = torch.stack([min((distance[i, j] for j in range(n) if j != i), key=lambda t: float(t.detach()))
                            for i in range(n)])
        total_uniform = total_uniform + lam * (-dmin).mean()
        a = align * ratio / (2 * dmin.detach()) if w_r else align / 2
        total_align = total_align + a.mean()
    return total_align, total_uniform


def ref_weight(v, tau, w_w):
    """The (N, N) detached weights built from view v's self-similarity (diagonal included)."""
    v = v.detach()
    n = v.shape[0]
    if w_w:
        e = torch.exp(v @ v.T / tau)
        return e / sum(e[i, j] for i in range(n) for j in range(n) if i != j)
    return 2 * v @ v.T / n**2


def ref_vicreg_bt(x0, x1, lam, m, tau, ratio, w_gd, w_w, w_r, barlow):
    u0, u1 = ref_views(x0, x1, w_gd, m)
    n = u0.shape[0]
    total_align, total_uniform = 0.0, 0.0
    for a_, b_ in ((u0, u1), (u1, u0)):  # f(u1, u2) with u1 = a_, u2 = b_
        weight = ref_weight(b_ if barlow else a_, tau, w_w)
        for i in range(n):
            neg = sum(weight[i, j] * (a_[i] @ a_[j].detach()) for j in range(n))  # diagonal with gradient, literally
            if w_r:
                off = sum(weight[i, j] for j in range(n) if j != i)
                pos = lam * ratio * off * -(a_[i] @ b_[i])
            elif barlow:
                c = a_.detach().T @ b_.detach() / n  # (D, D)
                pos = sum((1 - (1 - lam) * c[k, k]) * 2 / n * -(a_[i, k] * b_[i, k].detach())
                          for k in range(a_.shape[1]))
            else:
                pos = -(2 / n) * (a_[i] @ b_[i].detach())
            total_align = total_align + pos
            total_uniform = total_uniform + lam * neg
    return total_align, total_uniform


def reference(name, x0, x1, lam, ratio, w_gd, w_w, w_r):
    if name == "mhe":
        return ref_mhe(x0, x1, lam, MARGIN, TAU, ratio, w_gd, w_w, w_r)
    if name == "mhs":
        return ref_mhs(x0, x1, lam, MARGIN, ratio, w_gd, w_w, w_r)
    return ref_vicreg_bt(x0, x1, lam, MARGIN, TAU, ratio, w_gd, w_w, w_r, barlow=name == "barlow_twins")


# ----------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def views():
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(N, D, generator=generator, dtype=torch.float64) * 2.0
    x1 = x0 + 0.7 * torch.randn(N, D, generator=generator, dtype=torch.float64)
    return x0, x1


def test_data_exercise_the_dissipation_mask(views):
    for x in views:
        u = torch.nn.functional.normalize(x, dim=1)
        s = u @ u.T
        s.fill_diagonal_(-math.inf)
        keep = (1 - s.max(dim=1).values) < MARGIN
        assert 0 < int(keep.sum()) < N, "the mask should keep some rows and detach others"


# orig, mod, and every switch alone / every switch removed from mod
SWITCHES = [(False, False, False), (True, True, True)] + [
    tuple(k == i for k in range(3)) for i in range(3)
] + [tuple(k != i for k in range(3)) for i in range(3)]
CLASSES = {"barlow_twins": BarlowTwins, "vicreg": VICReg, "mhe": MHE, "mhs": MHS}
ORIG_LAMBDA = {"barlow_twins": 30.0, "vicreg": 30.0, "mhe": 10.0, "mhs": 1.0}
RATIO = {"barlow_twins": 1.50, "vicreg": 1.50, "mhe": 1.75, "mhs": 1.75}


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: "gd{}-w{}-r{}".format(*s))
def test_matches_methods_equations(name, switches, views):
    w_gd, w_w, w_r = switches
    variant = "mod" if all(switches) else "orig"
    lam = ORIG_LAMBDA[name] if variant == "orig" else 1.0
    objective = build_objective(name, variant=variant, w_gd=w_gd, w_w=w_w, w_r=w_r)
    assert (objective.lambda_, objective.ratio, objective.margin) == (lam, RATIO[name], MARGIN)

    x0, x1 = (x.clone().requires_grad_(True) for x in views)
    terms = objective(x0, x1)
    assert set(terms) == {f"{name}_align", f"{name}_uniform"}
    total = sum(terms.values())
    g0, g1 = torch.autograd.grad(total, (x0, x1))

    r0, r1 = (x.clone().requires_grad_(True) for x in views)
    ref_align, ref_uniform = reference(name, r0, r1, lam, RATIO[name], w_gd, w_w, w_r)
    rg0, rg1 = torch.autograd.grad(ref_align + ref_uniform, (r0, r1))

    torch.testing.assert_close(terms[f"{name}_align"], ref_align, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(terms[f"{name}_uniform"], ref_uniform, rtol=1e-10, atol=1e-10)
    scale = max(float(rg0.abs().max()), float(rg1.abs().max()))
    torch.testing.assert_close(g0, rg0, rtol=1e-7, atol=1e-9 * scale)
    torch.testing.assert_close(g1, rg1, rtol=1e-7, atol=1e-9 * scale)
    # w_gd: a detached row has no path to its raw embedding at all, so its gradient is exactly zero
    dissipated = bool((g0.abs().sum(dim=1) == 0).any() and (g1.abs().sum(dim=1) == 0).any())
    assert dissipated == w_gd


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_other_hyperparameters_reach_the_loss(name, views):
    """Non-default lambda / ratio / temperature / margin are used as the equations say."""
    lam, ratio, m = 3.0, 1.25, 0.37
    kwargs = dict(variant="mod", lambda_=lam, ratio=ratio, margin=m)
    if name != "mhs":
        kwargs["temperature"] = 0.1
    objective = CLASSES[name](**kwargs)
    x0, x1 = (x.clone().requires_grad_(True) for x in views)
    total = sum(objective(x0, x1).values())
    g0, g1 = torch.autograd.grad(total, (x0, x1))
    r0, r1 = (x.clone().requires_grad_(True) for x in views)
    if name == "mhe":
        ref = sum(ref_mhe(r0, r1, lam, m, 0.1, ratio, True, True, True))
    elif name == "mhs":
        ref = sum(ref_mhs(r0, r1, lam, m, ratio, True, True, True))
    else:
        ref = sum(ref_vicreg_bt(r0, r1, lam, m, 0.1, ratio, True, True, True, barlow=name == "barlow_twins"))
    rg0, rg1 = torch.autograd.grad(ref, (r0, r1))
    torch.testing.assert_close(total, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close((g0, g1), (rg0, rg1), rtol=1e-7, atol=1e-9)


def test_barlow_twins_orig_positive_uses_lambda(views):
    """pos_d = (1 - (1 - lambda) C_dd) 2/N: lambda = 1 gives VICReg's positive with the other view's weights."""
    x0, x1 = views
    a = BarlowTwins(lambda_=1.0)(x0, x1)["barlow_twins_align"]
    b = VICReg(lambda_=1.0)(x0, x1)["vicreg_align"]
    torch.testing.assert_close(a, b)
    assert not torch.isclose(BarlowTwins(lambda_=30.0)(x0, x1)["barlow_twins_align"], a)


def test_mhs_w_w_has_no_effect(views):
    x0, x1 = views
    on, off = MHS(variant="mod", w_w=True)(x0, x1), MHS(variant="mod", w_w=False)(x0, x1)
    for key in on:
        torch.testing.assert_close(on[key], off[key])


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_fp32_gradient_close_to_fp64(name, views):
    """The numerical guards (stable softmax, gradient-free diagonal) keep fp32 gradients accurate under w_w."""
    x0, x1 = views
    grads = []
    for dtype in (torch.float32, torch.float64):
        a, b = x0.to(dtype).requires_grad_(True), x1.to(dtype).requires_grad_(True)
        grads.append(torch.autograd.grad(sum(build_objective(name, variant="mod")(a, b).values()), (a, b)))
    for g32, g64 in zip(*grads):
        assert float((g32.double() - g64).norm() / g64.norm()) < 1e-4


def test_variant_defaults():
    for name in VARIANT_OBJECTIVES:
        orig, mod = build_objective(name), build_objective(name, variant="mod")
        assert orig.variant == "orig" and (orig.w_gd, orig.w_w, orig.w_r) == (False, False, False)
        assert orig.lambda_ == ORIG_LAMBDA[name]
        assert mod.variant == "mod" and (mod.w_gd, mod.w_w, mod.w_r) == (True, True, True)
        assert mod.lambda_ == 1.0 and mod.margin == 0.30 and mod.ratio == RATIO[name]
        if name != "mhs":
            assert mod.temperature == 0.05


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(variant="modified"), "variant"),
        (dict(lambda_=-1.0), "lambda_"),
        (dict(margin=-0.1), "margin"),
        (dict(ratio=0.0), "ratio"),
        (dict(ratio=-1.0), "ratio"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-0.05), "temperature"),
    ],
)
def test_hyperparameter_validation(name, kwargs, field):
    if name == "mhs" and field == "temperature":
        with pytest.raises(TypeError):
            CLASSES[name](**kwargs)  # MHS has no temperature
        return
    with pytest.raises(ValueError, match=field):
        CLASSES[name](**kwargs)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_bad_views(name):
    objective = CLASSES[name]()
    with pytest.raises(ValueError):
        objective(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError):
        objective(torch.randn(1, 3), torch.randn(1, 3))


def test_switch_combinations_are_distinct(views):
    """Each switch changes the loss or the gradient (a switch silently ignored would pass the reference tests only
    if the reference ignored it too)."""
    x0, x1 = views
    for name in ("barlow_twins", "vicreg", "mhe"):
        seen = []
        for switches in itertools.product((False, True), repeat=3):
            a = x0.clone().requires_grad_(True)
            objective = build_objective(name, w_gd=switches[0], w_w=switches[1], w_r=switches[2], lambda_=1.0)
            total = sum(objective(a, x1).values())
            (g,) = torch.autograd.grad(total, a)
            seen.append(torch.cat([total.detach().reshape(1), g.flatten()]))
        for i, j in itertools.combinations(range(len(seen)), 2):
            assert not torch.allclose(seen[i], seen[j]), (name, i, j)
