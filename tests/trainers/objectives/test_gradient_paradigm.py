"""The unified gradient paradigm: closed-form GD / W / R of InfoNCE, ArcCon, MPT, MET against autograd, the
gradient diagnostics (closed form and least-squares fit), hyperparameter validation and ``build_objective``."""

import math

import pytest
import torch
import torch.nn.functional as F

from sentcse.trainers.diagnostics import (
    anchor_gradient,
    batch_components,
    fit_gradient_components,
    gradient_diagnostics,
)
from sentcse.trainers.objectives import (
    MET,
    MPT,
    OBJECTIVES,
    VARIANT_OBJECTIVES,
    ArcCon,
    CseObjective,
    InfoNCE,
    build_objective,
)

B, D = 12, 24
CLOSED_FORM = {"infonce": InfoNCE, "arccon": ArcCon, "mpt": MPT, "met": MET}
KEYS = {"grad/gd", "grad/active", "grad/w_max", "grad/w_hardest", "grad/w_entropy", "grad/ratio", "grad/norm",
        "grad/fit_residual", "grad/closed_form"}


# Tiny models: one intra-op thread (conftest.py's single_thread) for every test of this file.
pytestmark = pytest.mark.usefixtures("single_thread")


def make_views(batch=B, dim=D, seed=0, noise=0.6, shift=0.0, dtype=torch.float64):
    """Two correlated views (positives closer than negatives), optionally sharing a mean direction."""
    generator = torch.Generator().manual_seed(seed)
    base = (torch.randn(batch, dim, generator=generator, dtype=dtype)
            + shift * torch.randn(dim, generator=generator, dtype=dtype))
    anchor = base + noise * torch.randn(batch, dim, generator=generator, dtype=dtype)
    positive = base + noise * torch.randn(batch, dim, generator=generator, dtype=dtype)
    return anchor, positive


def paradigm_gradient(gd, weight, ratio, h_pos):
    """GD_i * sum_{j != i} W_ij (h'_j - R_i h'_i)."""
    return gd[:, None] * (weight @ h_pos - (ratio * weight.sum(dim=-1))[:, None] * h_pos)


# ------------------------------------------------------------------------------- closed forms vs autograd
@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_equals_autograd_on_the_sphere(name, seed):
    """d l_i / d h_i (h normalised, h' constant) = GD * sum_j W_ij (h'_j - R h'_i), to 1e-5 (float64)."""
    objective = CLOSED_FORM[name]()
    anchor, positive = make_views(seed=seed)
    h = F.normalize(anchor, dim=-1).requires_grad_(True)
    h_pos = F.normalize(positive, dim=-1)
    loss = objective.loss_from_similarity(h @ h_pos.T)  # no re-normalisation: the unprojected gradient
    (grad,) = torch.autograd.grad(loss, h)
    gd, weight, ratio = objective.gradient_components(h.detach(), h_pos)

    assert gd.shape == (B,) and weight.shape == (B, B) and ratio.shape == (B,)
    assert torch.all(torch.diagonal(weight) == 0)
    torch.testing.assert_close(weight.sum(dim=-1), torch.ones(B, dtype=torch.float64))
    torch.testing.assert_close(grad * B, paradigm_gradient(gd, weight, ratio, h_pos), rtol=0, atol=1e-5)
    torch.testing.assert_close(grad * B, paradigm_gradient(gd, weight, ratio, h_pos), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_closed_form_matches_forward_on_raw_embeddings(name):
    """Through ``forward`` (which normalises) the raw-embedding gradient is the tangential projection / ||x||."""
    objective = CLOSED_FORM[name]()
    anchor, positive = make_views(seed=3)
    anchor = (anchor * 3.0).requires_grad_(True)
    (loss,) = objective(anchor, positive).values()
    (grad,) = torch.autograd.grad(loss, anchor)
    h, h_pos = F.normalize(anchor.detach(), dim=-1), F.normalize(positive, dim=-1)
    g = paradigm_gradient(*objective.gradient_components(anchor.detach(), positive), h_pos) / B
    expected = (g - (g * h).sum(dim=-1, keepdim=True) * h) / anchor.detach().norm(dim=-1, keepdim=True)
    torch.testing.assert_close(grad, expected, rtol=1e-9, atol=1e-12)


def test_margin_losses_have_active_and_dissipated_anchors():
    """The data above exercise both branches of MPT's and MET's hinge (GD = 0 and GD > 0)."""
    anchor, positive = make_views(seed=0)
    for objective in (MPT(), MET()):
        gd, _, _ = objective.gradient_components(anchor, positive)
        assert bool((gd == 0).any()) and bool((gd > 0).any()), type(objective).__name__


def test_closed_form_values():
    """Spot values of the table: InfoNCE R = 1, GD = (1 - p_ii) / tau; ArcCon R = sin(theta + u) / sin(theta);
    MPT GD in {0, 1}, one-hot W on argmax s; MET W one-hot on argmin d and R = d_ik / d_ii."""
    anchor, positive = make_views(seed=5)
    s = F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T
    off = s.clone().fill_diagonal_(-math.inf)

    gd, weight, ratio = InfoNCE(temperature=0.1).gradient_components(anchor, positive)
    p = torch.softmax(s / 0.1, dim=-1)
    torch.testing.assert_close(gd, (1 - torch.diagonal(p)) / 0.1)
    torch.testing.assert_close(weight, torch.softmax(off / 0.1, dim=-1))
    assert torch.all(ratio == 1)

    _, _, ratio = ArcCon(margin_degrees=20).gradient_components(anchor, positive)
    theta = torch.arccos(torch.diagonal(s))
    torch.testing.assert_close(ratio, torch.sin(theta + math.radians(20)) / torch.sin(theta))

    gd, weight, ratio = MPT(margin=0.1).gradient_components(anchor, positive)
    k = off.argmax(dim=-1)
    torch.testing.assert_close(gd, (torch.diagonal(s) - off.max(dim=-1).values < 0.1).double())
    torch.testing.assert_close(weight, F.one_hot(k, B).double())

    gd, weight, ratio = MET(margin=0.2).gradient_components(anchor, positive)
    d = torch.sqrt(2 - 2 * s)
    d_off = d.clone().fill_diagonal_(math.inf)
    k = d_off.argmin(dim=-1)
    dik = d_off.min(dim=-1).values
    torch.testing.assert_close(weight, F.one_hot(k, B).double())
    torch.testing.assert_close(ratio, dik / torch.diagonal(d))
    torch.testing.assert_close(gd, (dik - torch.diagonal(d) < 0.2).double() / dik)


def test_losses_match_their_definitions():
    anchor, positive = make_views(seed=2)
    s = F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T
    off = s.clone().fill_diagonal_(-math.inf)
    labels = torch.arange(B)
    torch.testing.assert_close(InfoNCE()(anchor, positive)["infonce"], F.cross_entropy(s / 0.05, labels))
    arc = s.clone()
    arc[labels, labels] = torch.cos(torch.arccos(torch.diagonal(s)) + math.pi / 18)
    torch.testing.assert_close(ArcCon()(anchor, positive)["arccon"], F.cross_entropy(arc / 0.05, labels))
    mpt = torch.clamp(off.max(dim=-1).values - torch.diagonal(s) + 0.23, min=0).mean()
    torch.testing.assert_close(MPT()(anchor, positive)["mpt"], mpt)
    d = torch.sqrt(2 - 2 * s)
    met = torch.clamp(torch.diagonal(d) - d.clone().fill_diagonal_(math.inf).min(dim=-1).values + 0.45, min=0).mean()
    torch.testing.assert_close(MET()(anchor, positive)["met"], met)


# ------------------------------------------------------------------------------- diagnostics
def test_fit_recovers_infonce_closed_form():
    """The least-squares fit in the tangent space recovers the closed-form GD, W and R of InfoNCE."""
    objective = InfoNCE()
    anchor, positive = make_views(seed=4)
    g, h, h_pos = anchor_gradient(objective, anchor, positive)
    fit = fit_gradient_components(g, h, h_pos)
    gd, weight, ratio = objective.gradient_components(anchor, positive)
    assert fit.residual < 1e-10
    torch.testing.assert_close(fit.gd, gd, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(fit.weight, weight, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(fit.ratio, ratio, rtol=1e-6, atol=1e-9)
    assert bool(fit.active.all())

    closed = gradient_diagnostics(objective, anchor, positive)
    fitted = gradient_diagnostics(objective, anchor, positive, use_closed_form=False)
    assert set(closed) == set(fitted) == KEYS
    assert closed["grad/closed_form"] == 1.0 and fitted["grad/closed_form"] == 0.0
    assert closed["grad/fit_residual"] < 1e-10 and fitted["grad/fit_residual"] < 1e-10
    for key in KEYS - {"grad/closed_form", "grad/fit_residual"}:
        assert fitted[key] == pytest.approx(closed[key], rel=1e-6, abs=1e-9), key
    assert closed["grad/ratio"] == pytest.approx(1.0)
    assert 0 < closed["grad/w_entropy"] <= math.log(B - 1) + 1e-9
    assert closed["grad/w_max"] == pytest.approx(closed["grad/w_hardest"])  # softmax weight peaks at the hardest


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_closed_form_residual_is_zero(name, dtype):
    anchor, positive = make_views(seed=6, dtype=dtype, shift=1.0)
    for use_closed_form in (True, False):
        stats = gradient_diagnostics(CLOSED_FORM[name](), anchor, positive, use_closed_form=use_closed_form)
        assert stats["grad/fit_residual"] < 1e-8, (use_closed_form, stats)
    components, *_ = batch_components(CLOSED_FORM[name](), anchor, positive, use_closed_form=False)
    reference, *_ = batch_components(CLOSED_FORM[name](), anchor, positive)
    active = reference.active
    torch.testing.assert_close(components.gd, reference.gd, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(components.ratio[active], reference.ratio[active], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(VARIANT_OBJECTIVES))
@pytest.mark.parametrize("variant", ["orig", "mod"])
def test_noncontrastive_diagnostics_are_finite(name, variant):
    anchor, positive = make_views(batch=16, dim=8, seed=1, shift=1.5)
    stats = gradient_diagnostics(build_objective(name, variant=variant), anchor, positive)
    assert set(stats) == KEYS
    assert stats["grad/closed_form"] == 0.0
    # 16 sentences in 8 dimensions: the other view spans the space, so the least-squares fit must be exact
    assert stats["grad/fit_residual"] < 1e-8
    assert stats["grad/active"] > 0
    assert all(math.isfinite(value) for value in stats.values()), stats


def test_mhs_orig_lies_in_the_paradigm():
    """MHS's gradient (nearest other-view neighbour + alignment) is in the span of h': it fits exactly, one-hot."""
    anchor, positive = make_views(batch=16, dim=32, seed=2)
    stats = gradient_diagnostics(build_objective("mhs"), anchor, positive)
    assert stats["grad/fit_residual"] < 1e-8
    assert stats["grad/w_max"] == pytest.approx(1.0) and stats["grad/w_entropy"] == pytest.approx(0.0, abs=1e-8)


def test_diagnostics_leave_graph_and_grads_untouched():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(D, D).double()
    inputs = torch.randn(2 * B, D, dtype=torch.float64)
    embeddings = encoder(inputs)
    anchor, positive = embeddings[:B], embeddings[B:]
    leaf = torch.randn(B, D, dtype=torch.float64, requires_grad=True)
    leaf.grad = torch.full_like(leaf, 7.0)
    objective = InfoNCE()

    for obj in (objective, build_objective("vicreg", variant="mod")):
        assert set(gradient_diagnostics(obj, anchor, positive)) == KEYS
        assert set(gradient_diagnostics(obj, leaf, positive.detach(), use_closed_form=False)) == KEYS
        with torch.no_grad():  # the trainer may call it from a no_grad logging hook
            stats = gradient_diagnostics(obj, anchor, positive)
        assert set(stats) == KEYS and math.isfinite(stats["grad/fit_residual"])
    assert encoder.weight.grad is None and encoder.bias.grad is None
    assert torch.all(leaf.grad == 7.0)
    assert anchor.grad_fn is not None and positive.grad_fn is not None

    (loss,) = objective(anchor, positive).values()
    loss.backward()  # the graph is intact and gives the same gradient as without the diagnostics
    fresh = encoder(inputs)
    encoder_grad = encoder.weight.grad.clone()
    encoder.zero_grad()
    (objective(fresh[:B], fresh[B:])["infonce"]).backward()
    torch.testing.assert_close(encoder.weight.grad, encoder_grad)


def test_diagnostics_handle_more_sentences_than_dimensions_and_no_gradient():
    anchor, positive = make_views(batch=40, dim=8, seed=3)
    for name in ("infonce", "vicreg"):
        stats = gradient_diagnostics(build_objective(name), anchor, positive, use_closed_form=False)
        # 40 sentences in 8 dimensions: the fit is exact (rank-deficient least squares handled)
        assert stats["grad/fit_residual"] < 1e-8 and all(math.isfinite(v) for v in stats.values())
    # MPT with every anchor past the margin: no gradient at all
    anchor, positive = make_views(batch=8, dim=64, seed=0, noise=0.01)
    for use_closed_form in (True, False):
        stats = gradient_diagnostics(MPT(margin=0.0), anchor, positive, use_closed_form=use_closed_form)
        assert stats["grad/gd"] == 0.0 and stats["grad/active"] == 0.0 and stats["grad/fit_residual"] == 0.0
        assert math.isnan(stats["grad/ratio"])


def test_diagnostics_accept_half_precision():
    anchor, positive = make_views(seed=0, dtype=torch.float32)
    stats = gradient_diagnostics(InfoNCE(), anchor.bfloat16(), positive.bfloat16())
    assert stats["grad/fit_residual"] < 1e-8


# ------------------------------------------------------------------------------- validation and registry
@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (InfoNCE, dict(temperature=0.0), "temperature"),
        (ArcCon, dict(temperature=-1.0), "temperature"),
        (ArcCon, dict(margin_degrees=-5.0), "margin_degrees"),
        (ArcCon, dict(margin_degrees=180.0), "margin_degrees"),
        (MPT, dict(margin=-0.1), "margin"),
        (MET, dict(margin=-0.1), "margin"),
        (MET, dict(margin=float("nan")), "margin"),
    ],
)
def test_contrastive_hyperparameter_validation(cls, kwargs, field):
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)


def test_defaults():
    assert InfoNCE().temperature == 0.05
    arccon = ArcCon()
    assert arccon.margin_degrees == 10.0 and arccon.margin == pytest.approx(math.pi / 18) and arccon.temperature == 0.05
    assert MPT().margin == 0.23 and MET().margin == 0.45


def test_build_objective_builds_every_registered_name():
    assert set(OBJECTIVES) == {"infonce", "arccon", "mpt", "met", "barlow_twins", "vicreg", "mhe", "mhs"}
    anchor, positive = make_views(batch=6, dim=8)
    for name in OBJECTIVES:
        variants = ("orig", "mod", None) if name in VARIANT_OBJECTIVES else (None,)
        for variant in variants:
            objective = build_objective(name, variant=variant)
            assert isinstance(objective, CseObjective) and objective.name == name
            if variant is not None:
                assert objective.variant == variant
            terms = objective(anchor, positive)
            assert terms and all(t.dim() == 0 and torch.isfinite(t) for t in terms.values())
    assert build_objective("mpt", margin=0.5).margin == 0.5
    assert build_objective("mhe", variant="mod", ratio=1.25).ratio == 1.25


def test_build_objective_errors():
    with pytest.raises(ValueError, match="unknown objective"):
        build_objective("simclr")
    for name in ("infonce", "arccon", "mpt", "met"):
        with pytest.raises(ValueError, match="variant"):
            build_objective(name, variant="mod")
    with pytest.raises(ValueError, match="variant"):
        build_objective("vicreg", variant="modified")
