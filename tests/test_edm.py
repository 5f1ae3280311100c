"""EDM core: preconditioners against their closed forms, training sigma, loss, Karras schedule, samplers."""

import math

import pytest
import torch

from jedi_bench.config.world_model import DiffusionConfig
from jedi_bench.diffusion.edm import add_noise, denoise, denoising_loss, preconditioners, sample_train_sigma
from jedi_bench.diffusion.sampler import karras_sigmas, sample


@pytest.mark.parametrize("sigma", [0.002, 0.1, 0.5, 1.0, 5.0, 20.0])
def test_preconditioners_match_closed_forms_with_offset_noise(sigma):
    sd, off = 0.5, 0.3
    pc = preconditioners(torch.tensor([sigma]), sd, off)
    s = math.sqrt(sigma**2 + off**2)
    assert pc.c_in.item() == pytest.approx(1 / math.sqrt(s**2 + sd**2), rel=1e-5)
    assert pc.c_skip.item() == pytest.approx(sd**2 / (s**2 + sd**2), rel=1e-5)
    assert pc.c_out.item() == pytest.approx(s * sd / math.sqrt(s**2 + sd**2), rel=1e-5)
    assert pc.c_noise.item() == pytest.approx(math.log(s) / 4, rel=1e-5)
    assert pc.c_in.shape == (1, 1, 1, 1) and pc.c_noise.shape == (1,)


def test_c_skip_tends_to_one_and_c_out_to_zero_without_offset_noise():
    pc = preconditioners(torch.tensor([1e-1, 1e-3, 1e-6]), 0.5, 0.0)
    assert pc.c_skip.flatten().tolist() == pytest.approx([0.25 / 0.26, 1.0, 1.0], abs=1e-4)
    assert pc.c_skip.flatten()[-1].item() == pytest.approx(1.0, abs=1e-9)
    assert pc.c_out.flatten()[-1].item() < 1e-5
    # with offset noise the effective sigma never drops below 0.3, so c_skip stays below 1
    with_offset = preconditioners(torch.tensor([1e-6]), 0.5, 0.3)
    assert with_offset.c_skip.item() == pytest.approx(0.25 / 0.34, rel=1e-5)


@pytest.mark.parametrize(
    "cfg",
    [
        DiffusionConfig(),
        DiffusionConfig(train_log_mean=0.5, train_log_std=0.6, train_sigma_min=1e-2, train_sigma_max=50.0),
    ],
    ids=["default", "other"],
)
def test_train_sigma_is_log_normal_with_the_configured_mean_and_std_and_clipped(cfg):
    """(DIAMOND's own values, log-mean -0.4 and log-std 1.2, are pinned by the parity test of its training
    loss, which replays its draws.)"""
    torch.manual_seed(0)
    s = sample_train_sigma(200_000, cfg)
    assert s.min() >= cfg.train_sigma_min and s.max() <= cfg.train_sigma_max
    assert s.log().median().item() == pytest.approx(cfg.train_log_mean, abs=0.02)
    assert s.log().std().item() == pytest.approx(cfg.train_log_std, rel=0.025)


def test_train_sigma_is_clipped_to_the_configured_range():
    narrow = DiffusionConfig(train_log_mean=0.0, train_log_std=5.0, train_sigma_min=0.1, train_sigma_max=2.0)
    s = sample_train_sigma(10_000, narrow)
    assert s.min().item() == pytest.approx(0.1) and s.max().item() == pytest.approx(2.0)


def test_offset_noise_is_constant_per_sample_and_channel():
    torch.manual_seed(0)
    x0 = torch.zeros(64, 3, 8, 8)
    noisy = add_noise(x0, torch.zeros(64), 0.3)
    assert torch.allclose(noisy, noisy[..., :1, :1].expand_as(noisy))
    assert noisy[:, :, 0, 0].std().item() == pytest.approx(0.3, rel=0.15)


def test_loss_target_makes_a_perfect_net_reach_zero_and_denoise_recovers_x0():
    """A net that outputs the exact target gives zero loss and its denoised estimate equals x0."""
    torch.manual_seed(0)
    cfg = DiffusionConfig()
    x0 = torch.rand(4, 3, 8, 8) * 2 - 1
    sigma = torch.tensor([0.01, 0.5, 2.0, 10.0])
    torch.manual_seed(1)
    noisy = add_noise(x0, sigma, cfg.sigma_offset_noise)
    pc = preconditioners(sigma, cfg.sigma_data, cfg.sigma_offset_noise)

    def oracle(scaled, c_noise):
        return (x0 - pc.c_skip * (scaled / pc.c_in)) / pc.c_out

    torch.manual_seed(1)
    res = denoising_loss(oracle, x0, cfg, sigma=sigma)
    assert res.loss.shape == (4,) and res.loss.max().item() < 1e-8
    assert torch.allclose(res.denoised, x0, atol=1e-5)
    assert torch.allclose(denoise(oracle, noisy, sigma, cfg), x0, atol=1e-5)
    zero = denoising_loss(lambda s, c: torch.zeros_like(s), x0, cfg, sigma=sigma)
    assert zero.loss.min().item() > 1e-3


def test_karras_schedule_endpoints_and_monotonic():
    s = karras_sigmas(3, 2e-3, 5.0, 7.0)
    assert s.shape == (4,)
    # float32, as DIAMOND computes it (its exact values are a parity test)
    assert s[0].item() == pytest.approx(5.0, rel=1e-5) and s[-2].item() == pytest.approx(2e-3, rel=1e-5)
    assert s[-1].item() == 0
    assert torch.all(s[:-1] > s[1:])
    middle = ((5.0 ** (1 / 7) + 2e-3 ** (1 / 7)) / 2) ** 7
    assert s[1].item() == pytest.approx(middle, rel=1e-5)
    assert karras_sigmas(1, 2e-3, 5.0, 7.0).tolist() == pytest.approx([5.0, 0.0], rel=1e-5)
    with pytest.raises(ValueError, match="num_steps"):
        karras_sigmas(0, 2e-3, 5.0, 7.0)


@pytest.mark.parametrize("order,churn", [(1, 0.0), (2, 0.0), (1, 1.0), (2, 1.0)])
def test_sampler_reaches_the_oracle_target(order, churn):
    target = torch.full((2, 3, 4, 4), 0.25)
    calls = []

    def oracle(x, sigma):
        calls.append(sigma[0].item())
        return target

    cfg = DiffusionConfig(order=order, s_churn=churn, num_steps=3)
    out = sample(oracle, (2, 3, 4, 4), cfg)
    assert torch.allclose(out, target, atol=1e-5)
    assert len(calls) == (3 if order == 1 else 5)
    assert calls[0] == pytest.approx(cfg.sigma_max * (1 + min(churn / 3, math.sqrt(2) - 1)), rel=1e-5)


def test_the_first_denoiser_call_sees_the_initial_unit_noise_unscaled():
    """DIAMOND's start: the initial N(0, I) noise, not noise scaled by sigma_max."""
    noise = torch.randn(2, 3, 4, 4)
    seen = []
    sample(
        lambda x, s: seen.append(x.clone()) or torch.zeros_like(x),
        (2, 3, 4, 4),
        DiffusionConfig(),
        noise=noise,
    )
    assert torch.equal(seen[0], noise)
