"""``diamond``'s denoiser, training loss and sampler against DIAMOND's own numbers (``denoiser_cases.pt``).

DIAMOND's weights are loaded into the suite's modules through the package's key mapping; every shape
(batch, context, steps, actions) is read from the data. Floats agree to ATOL; 8-bit frames may differ
in a handful of elements by exactly one quantisation step (values that sit on a step boundary; the
reference README reports this between 1 and 2 threads); in sampling such an element moves the steps after it
by at most that step.
"""

from __future__ import annotations

import pytest
import torch

from diamond_reference import ATOL, QUANT_STEP, load_cases, load_weights, num_actions, u8_to_float
from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.diffusion.edm import preconditioners
from jedi_bench.diffusion.sampler import karras_sigmas
from jedi_bench.worldmodels import make_world_model
from jedi_bench.worldmodels.diamond_checkpoint import load_diamond_weights, split_diamond_state_dict


@pytest.fixture(scope="module")
def cases():
    return load_cases("denoiser_cases.pt")


def diamond_model(context: int, extra_ar_targets: int = 1):
    """The suite's ``diamond`` world model at DIAMOND's Atari sizes, holding DIAMOND's reference weights."""
    weights = load_weights()
    wm = make_world_model(
        "diamond", WorldModelConfig(context=context, extra_ar_targets=extra_ar_targets), num_actions(weights)
    )
    parts = split_diamond_state_dict(weights)
    load_diamond_weights(wm.denoiser, parts["denoiser"], "denoiser")
    return wm.eval()


def assert_quantised_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal except for a handful of elements (at most 1 in 2000) exactly one 8-bit step apart."""
    diff = (actual - expected).abs()
    off = diff > ATOL
    assert torch.allclose(diff[off], torch.full_like(diff[off], QUANT_STEP), atol=ATOL), diff.max()
    assert off.sum() <= max(1, expected.numel() // 2000), f"{int(off.sum())} elements differ"


def test_preconditioners(cases):
    cfg = WorldModelConfig().diffusion
    pc = preconditioners(cases["cond/sigma"], cfg.sigma_data, cfg.sigma_offset_noise)
    for name in ("c_in", "c_out", "c_skip"):
        torch.testing.assert_close(getattr(pc, name), cases[f"cond/{name}"], atol=ATOL, rtol=0)
    torch.testing.assert_close(pc.c_noise, cases["cond/c_noise"].flatten(), atol=ATOL, rtol=0)


def test_conditioning_vector(cases):
    obs = cases["denoise/obs_u8"]
    wm = diamond_model(obs.shape[1])
    cfg = wm.cfg.diffusion
    c_noise = preconditioners(cases["denoise0/sigma"], cfg.sigma_data, cfg.sigma_offset_noise).c_noise
    net = wm.denoiser
    with torch.no_grad():
        noise_emb = net.noise_emb(c_noise)
        act_emb = net.act_emb(cases["denoise/act"])
        cond = net.cond_proj(noise_emb + act_emb)
    torch.testing.assert_close(noise_emb, cases["denoise0/inner/noise_emb"], atol=ATOL, rtol=0)
    torch.testing.assert_close(act_emb, cases["denoise0/inner/act_emb"], atol=ATOL, rtol=0)
    torch.testing.assert_close(cond, cases["denoise0/inner/cond"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", [0, 1])
def test_denoise(cases, case):
    obs, act = u8_to_float(cases["denoise/obs_u8"]), cases["denoise/act"]
    wm = diamond_model(obs.shape[1])
    noisy, sigma = cases[f"denoise{case}/noisy_next_obs"], cases[f"denoise{case}/sigma"]
    with torch.no_grad():
        raw = wm.model_output(noisy, sigma, obs, act)
        denoised = wm.denoise(noisy, sigma, obs, act)
    torch.testing.assert_close(raw, cases[f"denoise{case}/model_output"], atol=ATOL, rtol=0)
    assert_quantised_close(denoised, cases[f"denoise{case}/denoised"])


def replay_draws(monkeypatch, draws: list[torch.Tensor]) -> None:
    """Make torch.randn / torch.randn_like return the recorded draws, in call order, checking each shape."""
    queue = list(draws)

    def next_draw(shape):
        assert queue, "the loss drew more random numbers than DIAMOND's"
        draw = queue.pop(0)
        assert tuple(draw.shape) == tuple(shape), (
            f"draw of shape {tuple(shape)}, DIAMOND drew {tuple(draw.shape)}"
        )
        return draw.clone()

    def randn(*size, **kwargs):
        shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        return next_draw(shape)

    monkeypatch.setattr(torch, "randn", randn)
    monkeypatch.setattr(torch, "randn_like", lambda x, **kwargs: next_draw(x.shape))
    return queue


def test_training_loss(cases, monkeypatch):
    from jedi_bench.data.batch import Batch

    obs_u8, act, mask = cases["loss/obs_u8"], cases["loss/act"], cases["loss/mask_padding"]
    b, t = act.shape
    steps = sum(1 for k in cases if k.startswith("loss/step") and k.endswith("/mse"))
    context = t - steps
    wm = diamond_model(context, extra_ar_targets=steps - 1).train()
    obs = torch.where(mask[:, :, None, None, None], u8_to_float(obs_u8), torch.zeros(()))
    batch = Batch(
        obs=obs,
        act=act,
        rew=torch.zeros(b, t),
        end=torch.zeros(b, t, dtype=torch.bool),
        trunc=torch.zeros(b, t, dtype=torch.bool),
        mask=mask,
        final=torch.zeros(b, t, dtype=torch.bool),
    )
    draws = [
        cases[f"loss/step{i}/{name}"]
        for i in range(steps)
        for name in ("randn_sigma", "randn_offset", "randn_noise")
    ]
    left = replay_draws(monkeypatch, draws + draws)  # once for the steps, once for the loss
    steps_run = wm.denoiser_steps(batch)
    for i, (result, step_loss) in enumerate(steps_run):
        torch.testing.assert_close(result.sigma, cases[f"loss/step{i}/sigma"], atol=ATOL, rtol=0)
        torch.testing.assert_close(result.output, cases[f"loss/step{i}/model_output"], atol=ATOL, rtol=0)
        torch.testing.assert_close(step_loss, cases[f"loss/step{i}/mse"], atol=ATOL, rtol=0)
    loss, _ = wm.denoiser_loss(batch)
    assert not left, "the loss drew fewer random numbers than DIAMOND's"
    torch.testing.assert_close(loss, cases["loss/loss"], atol=ATOL, rtol=0)
    loss.backward()
    torch.testing.assert_close(
        wm.denoiser.conv_out.weight.grad, cases["loss/grad_conv_out_weight"], atol=ATOL, rtol=0
    )


def test_sigma_schedule(cases):
    sigmas = cases["sample/sigmas"]
    cfg = WorldModelConfig().diffusion
    torch.testing.assert_close(
        karras_sigmas(len(sigmas) - 1, cfg.sigma_min, cfg.sigma_max, cfg.rho), sigmas, atol=0, rtol=0
    )


def test_sampling(cases):
    prev_obs, prev_act = u8_to_float(cases["sample/prev_obs_u8"]), cases["sample/prev_act"]
    trajectory, per_step = cases["sample/trajectory"], cases["sample/denoised_per_step"]
    steps = per_step.shape[1]
    wm = diamond_model(prev_obs.shape[1])
    wm.cfg.diffusion.num_steps = steps
    seen_x, seen_denoised = [], []
    x = wm.sample_next(
        prev_obs,
        prev_act,
        noise=trajectory[:, 0],
        on_step=lambda x, d: (seen_x.append(x), seen_denoised.append(d)),
    )
    flipped = torch.zeros_like(x, dtype=torch.bool)  # elements whose estimate landed one step away
    for k in range(steps):
        assert_quantised_close(seen_denoised[k], per_step[:, k])
        flipped |= (seen_denoised[k] - per_step[:, k]).abs() > ATOL
        diff = (seen_x[k] - trajectory[:, k + 1]).abs()
        assert diff[~flipped].max() <= ATOL, f"step {k}: {diff[~flipped].max()}"
        assert diff[flipped].le(QUANT_STEP + ATOL).all(), f"step {k}: {diff.max()}"
    assert_quantised_close(x, trajectory[:, -1])
