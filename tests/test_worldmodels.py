"""The three world models behind one interface: gradient routing (JEDI's stop-gradient, ae-latent's
detached latents), clamps, 8-bit frames, ablations, action-space sizes, and that each one learns."""

import copy

import pytest
import torch

from jedi_bench.config.run import preset
from jedi_bench.config.world_model import JEDI_ABLATIONS, WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.worldmodels import available_methods, make_world_model
from jedi_bench.worldmodels.latent_denoiser import autoregressive_latent_loss, latent_statistics, soft_clamp
from jedi_bench.worldmodels.pixels import pixels_to_uint8, quantize_8bit

METHODS = ["diamond", "jedi", "ae-latent"]


def tiny(**changes) -> WorldModelConfig:
    cfg = preset("smoke").world_model
    for k, v in changes.items():
        setattr(cfg, k, v)
    return cfg


def moving_square_batch(b: int, t: int, num_actions: int = 4, seed: int = 0) -> Batch:
    """Structured frames (a square moving by the action) so that there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    act = torch.randint(0, num_actions, (b, t), generator=g)
    pos = torch.randint(8, 40, (b,), generator=g)
    obs = -torch.ones(b, t, 3, 64, 64)
    for i in range(t):
        for j in range(b):
            p = int(pos[j]) + 2 * i
            obs[j, i, j % 3, p : p + 12, p : p + 12] = 1.0
    rew = (act == 1).float() * 3.0
    end = torch.zeros(b, t, dtype=torch.bool)
    end[0, -1] = True
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[-1, :2] = False
    return Batch(obs, act, rew, end, torch.zeros(b, t, dtype=torch.bool), mask)


def component(wm, name):
    return next(c for c in wm.components() if c.name == name)


def grads_of(module) -> list:
    return [p.grad for p in module.parameters()]


def trained_output(wm):
    """The denoiser's output layer starts at zero, which blocks all gradient to its inputs; give it
    weights as after a few updates so that gradient routing is visible."""
    net = wm.denoiser if hasattr(wm, "denoiser") else wm.dynamics.net
    torch.nn.init.normal_(net.conv_out.weight, std=0.1)
    return wm


def test_the_built_in_methods_are_registered_and_unknown_names_refused():
    assert set(METHODS) <= set(available_methods())
    with pytest.raises(ValueError, match="unknown method"):
        make_world_model("dreamer", tiny(), 4)
    with pytest.raises(ValueError, match="ablation"):
        make_world_model("jedi", tiny(ablation="nope"), 4)


# Sizes other than the presets', so that a component that ignores the config shows.
OWN_SIZES = dict(context=2, extra_ar_targets=2, rew_end_seq_len=11, encoder_lr_scale=0.2)
# DIAMOND's max_grad_norm: 1 for the denoiser, 100 for the reward/termination model (and the actor-critic)
DENOISER_CLIP, OTHER_CLIP = 1.0, 100.0


def components_of(method: str, **changes):
    cfg = tiny(**OWN_SIZES, **changes)
    wm = make_world_model(method, cfg, 4)
    return cfg, wm, {c.name: c for c in wm.components()}


def test_diamond_components_take_their_segment_lengths_from_the_config():
    cfg, _, d = components_of("diamond")
    assert list(d) == ["denoiser", "reward_end"]
    assert d["denoiser"].segment_length == cfg.context + 1 + cfg.extra_ar_targets == 5
    assert d["reward_end"].segment_length == cfg.rew_end_seq_len == 11
    assert d["denoiser"].grad_clip == DENOISER_CLIP and d["reward_end"].grad_clip == OTHER_CLIP


def test_jedi_trains_its_encoder_at_the_configured_lr_scale_and_never_from_the_probe():
    cfg, jedi, j = components_of("jedi")
    assert list(j) == ["denoiser", "reward_end", "probe_decoder"]
    assert j["denoiser"].segment_length == 5 and j["reward_end"].segment_length == 11
    for name in ("denoiser", "reward_end"):
        assert [g.lr_scale for g in j[name].groups_of(jedi.encoder)] == [cfg.encoder_lr_scale]
    enc = {id(p) for p in jedi.encoder.parameters()}
    assert not enc & {id(p) for g in j["probe_decoder"].param_groups for p in g.params}


def test_ae_latent_trains_its_autoencoder_as_a_component_of_its_own():
    _, _, a = components_of("ae-latent")
    assert list(a) == ["autoencoder", "denoiser", "reward_end"]
    assert a["autoencoder"].segment_length == 1
    assert a["denoiser"].segment_length == 5 and a["reward_end"].segment_length == 11


@pytest.mark.parametrize("method", METHODS)
def test_reward_model_trains_at_its_own_lr_scale(method):
    wm = make_world_model(method, tiny(rew_end_lr_scale=0.1), 4)
    components = wm.components()
    reward = next(c for c in components if c.name == "reward_end")
    own = reward.groups_of(wm.reward_end)
    assert [g.lr_scale for g in own] == [0.1]
    others = [g.lr_scale for c in components for g in c.param_groups if not any(g is o for o in own)]
    assert 0.1 not in others
    with pytest.raises(ValueError, match="rew_end_lr_scale"):
        tiny(rew_end_lr_scale=0.0).validate()


def test_jedi_encoder_gets_gradient_through_context_only():
    torch.manual_seed(0)
    wm = trained_output(make_world_model("jedi", tiny(), 4))
    batch = moving_square_batch(2, 6)
    loss, _ = component(wm, "denoiser").loss(batch)
    loss.backward()
    assert sum(g.abs().sum() for g in grads_of(wm.encoder)) > 0

    # the same rule on plain tensors: the context receives gradient, the target none at all
    z_ctx = torch.randn(2, 6, 16, 8, 8, requires_grad=True)
    z_tgt = torch.randn(2, 6, 16, 8, 8, requires_grad=True)
    loss, _ = autoregressive_latent_loss(wm.dynamics, z_ctx, z_tgt, batch.act, batch.mask, 1, True)
    loss.backward()
    assert z_ctx.grad.abs().sum() > 0 and z_tgt.grad is None


def test_jedi_no_denoise_grad_ablation_gives_the_encoder_no_gradient():
    torch.manual_seed(0)
    wm = trained_output(make_world_model("jedi", tiny(ablation="no_denoise_grad"), 4))
    loss, _ = component(wm, "denoiser").loss(moving_square_batch(2, 6))
    loss.backward()
    assert all(g is None or not g.any() for g in grads_of(wm.encoder))
    assert any(g is not None and g.any() for g in grads_of(wm.dynamics))


def test_jedi_reward_model_trains_the_encoder_and_the_probe_does_not():
    torch.manual_seed(0)
    wm = make_world_model("jedi", tiny(), 4)
    loss, _ = component(wm, "reward_end").loss(moving_square_batch(2, 19))
    loss.backward()
    assert sum(g.abs().sum() for g in grads_of(wm.encoder)) > 0
    wm.zero_grad(set_to_none=True)
    loss, _ = component(wm, "probe_decoder").loss(moving_square_batch(2, 1))
    loss.backward()
    assert all(g is None for g in grads_of(wm.encoder)) and all(g is not None for g in grads_of(wm.probe))


def test_ae_latent_diffusion_and_reward_losses_give_the_autoencoder_zero_gradient():
    torch.manual_seed(0)
    wm = trained_output(make_world_model("ae-latent", tiny(), 4))
    for name, t in (("denoiser", 6), ("reward_end", 19)):
        loss, _ = component(wm, name).loss(moving_square_batch(2, t))
        loss.backward()
        assert all(g is None for g in grads_of(wm.autoencoder)), name
    loss, _ = component(wm, "autoencoder").loss(moving_square_batch(2, 1))
    loss.backward()
    assert all(g is not None for g in grads_of(wm.autoencoder.encoder))


def test_switching_puts_the_models_own_prediction_in_the_second_context():
    torch.manual_seed(0)
    wm = trained_output(make_world_model("jedi", tiny(), 4))
    z = wm.encode(moving_square_batch(2, 6).obs)
    batch = moving_square_batch(2, 6)
    out = {}
    for use_prediction in (False, True):
        torch.manual_seed(1)
        out[use_prediction] = autoregressive_latent_loss(
            wm.dynamics, z, z, batch.act, batch.mask, 1, use_prediction
        )[1]
    assert out[False]["loss_target0"] == out[True]["loss_target0"]
    assert out[False]["loss_target1"] != out[True]["loss_target1"]


def test_jedi_ema_target_encoder_moves_towards_the_encoder():
    torch.manual_seed(0)
    wm = make_world_model("jedi", tiny(ablation="ema", ema_decay=0.9), 4)
    before = copy.deepcopy(wm.target_encoder)
    with torch.no_grad():
        for p in wm.encoder.parameters():
            p.add_(1.0)
    component(wm, "denoiser").loss(moving_square_batch(2, 6))
    triples = zip(wm.target_encoder.parameters(), before.parameters(), wm.encoder.parameters(), strict=True)
    for p_new, p_old, p_enc in triples:
        assert torch.allclose(p_new, 0.9 * p_old + 0.1 * p_enc, atol=1e-6)
    assert "target_encoder" not in wm.num_parameters()


def test_soft_clamp_is_bounded_monotonic_and_the_identity_near_zero():
    z = torch.linspace(-100, 100, 1001)
    c = soft_clamp(z, 3.0)
    assert c.abs().max() <= 3.0 and torch.all(c[1:] >= c[:-1])
    assert soft_clamp(torch.tensor([-6.0, 6.0]), 3.0).abs().max() < 3.0
    assert torch.equal(soft_clamp(z, None), z)
    assert torch.allclose(soft_clamp(torch.tensor([0.01]), 3.0), torch.tensor([0.01]), atol=1e-6)


@pytest.mark.parametrize("method", ["jedi", "ae-latent"])
def test_latents_and_their_predictions_stay_inside_the_clamp(method):
    torch.manual_seed(0)
    wm = make_world_model(method, tiny(), 4)
    for p in wm.parameters():
        torch.nn.init.normal_(p, std=3.0)
    z = wm.encode(moving_square_batch(2, 4).obs)
    assert z.abs().max() <= 3.0 and z.abs().max() > 2.0
    x = wm.sample_next(z, torch.zeros(2, 4, dtype=torch.long))
    assert x.abs().max() <= 3.0


def test_eight_bit_quantisation_of_generated_frames():
    x = torch.linspace(-1.5, 1.5, 999)
    q = quantize_8bit(x)
    levels = (q + 1) * 127.5
    assert q.min() == -1 and q.max() == 1 and torch.allclose(levels, levels.round(), atol=1e-4)
    gap = x.clamp(-1, 1) - q  # DIAMOND truncates towards -1
    assert gap.min() >= -1e-6 and gap.max() < 2 / 255
    u8 = pixels_to_uint8(q.view(1, 1, 1, -1).expand(1, 3, 1, 999))
    assert u8.dtype == torch.uint8 and u8.shape == (1, 1, 999, 3)
    torch.manual_seed(0)
    wm = make_world_model("diamond", tiny(), 4)
    torch.nn.init.normal_(wm.denoiser.conv_out.weight, std=1.0)  # a model whose raw output overshoots
    frame = wm.sample_next(moving_square_batch(2, 4).obs, torch.zeros(2, 4, dtype=torch.long))
    levels = (frame + 1) * 127.5
    assert frame.abs().max() <= 1 and torch.allclose(levels, levels.round(), atol=1e-3)


@pytest.mark.parametrize("num_actions", range(3, 19))
@pytest.mark.parametrize("method", METHODS)
def test_shapes_for_every_action_space_size(method, num_actions):
    torch.manual_seed(0)
    wm = make_world_model(method, tiny(), num_actions)
    shape = wm.agent_input_shape
    assert shape == ((3, 64, 64) if method == "diamond" else (16, 8, 8))
    obs = torch.rand(2, 4, 3, 64, 64) * 2 - 1
    ctx = wm.encode(obs)
    assert ctx.shape == (2, 4, *shape)
    act = torch.full((2, 4), num_actions - 1)
    x = wm.sample_next(ctx, act)
    assert x.shape == (2, *shape)
    rew, end, _ = wm.reward_end(ctx[:, -1:], act[:, -1:], x[:, None])
    assert rew.shape == (2, 1, 3) and end.shape == (2, 1, 2)
    assert wm.render(x).shape == (2, 64, 64, 3) and wm.render(x).dtype == torch.uint8


@pytest.mark.parametrize(
    "ablation, rule",
    [
        ("none", "random"),
        ("mse", "random"),
        ("no_denoise_grad", "random"),
        ("decoder", "random"),
        ("ema", "random"),
        ("deterministic_switch", [0.0, 1.0, 0.0, 1.0]),
        ("no_switch_prediction", [1.0] * 4),
        ("no_switch", [1.0] * 4),
        ("no_switch_no_clamp", [1.0] * 4),
        ("no_switch_encoder", [0.0] * 4),
    ],
)
def test_each_jedi_ablation_switches_by_its_rule(ablation, rule):
    """Which context the second target sees, update by update: a random draw (p = 1/2), an alternation
    starting with the encoder's latent, always the prediction, or always the encoder's latent."""
    assert ablation in JEDI_ABLATIONS
    torch.manual_seed(0)
    wm = make_world_model("jedi", tiny(ablation=ablation), 4)
    denoiser = component(wm, "denoiser")
    batch = moving_square_batch(2, denoiser.segment_length)
    n = 4 if rule != "random" else 24
    switched = [denoiser.loss(batch)[1]["switched_to_prediction"] for _ in range(n)]
    if rule == "random":
        assert 0 < sum(switched) < n
    else:
        assert switched == rule


def test_deterministic_switching_carries_on_after_a_resume():
    wm = make_world_model("jedi", tiny(ablation="deterministic_switch"), 4)
    assert [wm.switch_to_prediction() for _ in range(3)] == [False, True, False]
    resumed = make_world_model("jedi", tiny(ablation="deterministic_switch"), 4)
    resumed.load_state_dict(wm.state_dict())
    assert [resumed.switch_to_prediction() for _ in range(2)] == [True, False]
    assert "denoiser_updates" not in make_world_model("jedi", tiny(), 4).state_dict()


def test_the_two_readings_of_no_switching_differ_only_in_the_second_target():
    torch.manual_seed(0)
    models = {
        a: make_world_model("jedi", tiny(ablation=a), 4)
        for a in ("no_switch_prediction", "no_switch_encoder")
    }
    trained_output(models["no_switch_prediction"])
    models["no_switch_encoder"].load_state_dict(models["no_switch_prediction"].state_dict())
    batch = moving_square_batch(2, component(models["no_switch_encoder"], "denoiser").segment_length)
    metrics = {}
    for name, wm in models.items():
        torch.manual_seed(1)
        metrics[name] = component(wm, "denoiser").loss(batch)[1]
    a, b = metrics.values()
    assert a["loss_target0"] == b["loss_target0"] and a["loss_target1"] != b["loss_target1"]


@pytest.mark.parametrize("ablation", JEDI_ABLATIONS)
def test_every_jedi_ablation_runs_a_loss_and_a_sample(ablation):
    torch.manual_seed(0)
    wm = make_world_model("jedi", tiny(ablation=ablation), 4)
    loss, metrics = component(wm, "denoiser").loss(moving_square_batch(2, 6))
    loss.backward()
    assert torch.isfinite(loss)
    assert {"latent_std_mean", "latent_std_min", "latent_pairwise_dist"} <= set(metrics)
    if ablation == "decoder":
        assert "reconstruction" in metrics and all(p.grad is not None for p in wm.decoder.parameters())
    z = wm.encode(moving_square_batch(2, 4).obs)
    x = wm.sample_next(z, torch.zeros(2, 4, dtype=torch.long))
    assert x.shape == (2, 16, 8, 8)
    if ablation == "mse":
        assert torch.equal(x, wm.sample_next(z, torch.zeros(2, 4, dtype=torch.long)))


@pytest.mark.parametrize("method", METHODS)
def test_losses_run_in_bf16_autocast_with_channels_last(method):
    torch.manual_seed(0)
    wm = make_world_model(method, tiny(), 4).to(memory_format=torch.channels_last)
    for c in wm.components():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            steps = min(c.segment_length, 6) if c.name != "reward_end" else 19
            loss, _ = c.loss(moving_square_batch(2, steps))
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = wm.sample_next(wm.encode(moving_square_batch(2, 4).obs), torch.zeros(2, 4, dtype=torch.long))
    assert torch.isfinite(x.float()).all()


def test_latent_statistics_reveal_collapse():
    torch.manual_seed(0)
    healthy = latent_statistics(torch.randn(64, 16, 8, 8))
    same = torch.randn(1, 16, 8, 8).expand(64, -1, -1, -1)
    collapsed = latent_statistics(same + 1e-4 * torch.randn(64, 16, 8, 8))
    assert healthy["latent_std_mean"] == pytest.approx(1.0, abs=0.1)
    assert healthy["latent_pairwise_dist"] == pytest.approx((2 * 1024) ** 0.5, rel=0.1)
    assert collapsed["latent_std_min"] < 1e-3 and collapsed["latent_pairwise_dist"] < 0.1


def _overfit(wm, name: str, batch: Batch, steps: int, lr: float) -> tuple[float, float]:
    """Train one component on one batch; return its loss before and after (same noise draws).

    JEDI's denoising loss is measured against targets made by the encoder it is training, so its value
    before and after are on different scales; there the baseline is the *initial* latent dynamics
    evaluated on the *final* encoder's latents.
    """
    c = component(wm, name)
    params = [p for g in c.param_groups for p in g.params]
    opt = torch.optim.Adam([{"params": g.params, "lr": lr * g.lr_scale} for g in c.param_groups])
    initial_dynamics = copy.deepcopy(wm.dynamics.state_dict()) if hasattr(wm, "dynamics") else None

    def evaluate():
        torch.manual_seed(123)  # the same noise levels and noise before and after
        with torch.no_grad():
            return c.loss(batch)[0].item()

    first = evaluate()
    for _ in range(steps):
        loss, _ = c.loss(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, c.grad_clip)
        opt.step()
    last = evaluate()
    if wm.name == "jedi" and name == "denoiser":
        wm.dynamics.load_state_dict(initial_dynamics)
        first = evaluate()
    return first, last


@pytest.mark.parametrize(
    "method,name",
    [
        ("diamond", "denoiser"),
        ("diamond", "reward_end"),
        ("jedi", "denoiser"),
        ("jedi", "reward_end"),
        ("jedi", "probe_decoder"),
        ("ae-latent", "autoencoder"),
        ("ae-latent", "denoiser"),
        ("ae-latent", "reward_end"),
    ],
)
def test_each_world_model_overfits_a_fixed_tiny_batch(method, name):
    torch.manual_seed(0)
    wm = make_world_model(method, tiny(), 4)
    c = component(wm, name)
    batch = moving_square_batch(2, c.segment_length if name != "reward_end" else 8)
    first, last = _overfit(wm, name, batch, steps=30, lr=3e-3)
    assert last < 0.6 * first, (first, last)


@pytest.mark.parametrize("method", METHODS)
def test_whole_agents_are_near_13_5m_parameters(method):
    from jedi_bench.config.run import AgentConfig
    from jedi_bench.nets.actor_critic import ActorCritic

    wm = make_world_model(method, WorldModelConfig(), 18)
    ac = ActorCritic(wm.agent_input_shape, 18, AgentConfig())
    agent = sum(p.numel() for p in wm.parameters()) + sum(p.numel() for p in ac.parameters())
    probe = sum(p.numel() for p in wm.probe.parameters()) if method == "jedi" else 0
    ae_decoder = sum(p.numel() for p in wm.autoencoder.decoder.parameters()) if method == "ae-latent" else 0
    assert 13.0e6 < agent - probe - ae_decoder < 14.2e6, (method, agent)


@pytest.mark.parametrize("method", METHODS)
def test_sample_next_rejects_bad_context_with_a_clear_message(method):
    wm = make_world_model(method, tiny(), 4)
    shape = wm.agent_input_shape
    with pytest.raises(ValueError, match="needs the last 4"):
        wm.sample_next(torch.zeros(2, 3, *shape), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="context must be"):
        wm.sample_next(torch.zeros(2, 4, 3, 32, 32), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="actions must be"):
        wm.sample_next(torch.zeros(2, 4, *shape), torch.zeros(2, 3, dtype=torch.long))


def test_weight_decay_reaches_only_linear_conv_and_lstm_weights_as_in_diamond():
    """DIAMOND decays the weights of linear, convolutional and LSTM layers; biases, norms and embeddings
    are not decayed. The optimizer's groups follow that rule for every component."""
    from torch import nn

    from jedi_bench.config.run import TrainConfig
    from jedi_bench.train.optim import ComponentOptimizer

    wm = make_world_model("diamond", tiny(), 4)
    owner = {id(p): (type(m), name) for m in wm.modules() for name, p in m.named_parameters(recurse=False)}
    layers = (nn.Linear, nn.Conv2d, nn.LSTM)
    seen = {True: set(), False: set()}
    for component in wm.components():
        for group in ComponentOptimizer(component, TrainConfig(), 2).optimizer.param_groups:
            for p in group["params"]:
                kind, name = owner[id(p)]
                should_decay = issubclass(kind, layers) and name.startswith("weight")
                assert (group["weight_decay"] > 0) == should_decay, (kind, name)
                seen[should_decay].add(kind)
    assert seen[True] == {nn.Linear, nn.Conv2d, nn.LSTM}
    assert {nn.GroupNorm, nn.Embedding, nn.Linear} <= seen[False]  # norms, embeddings and biases


def test_learning_rate_warms_up_from_zero_as_in_diamond():
    """DIAMOND's warm-up: lr * step / warmup_steps at update ``step``, so the first update has lr 0."""
    from jedi_bench.config.run import TrainConfig
    from jedi_bench.train.optim import ComponentOptimizer

    wm = make_world_model("diamond", tiny(), 4)
    opt = ComponentOptimizer(wm.components()[0], TrainConfig(lr=1e-3, warmup_steps=4), 2)
    lrs = []
    for _ in range(6):
        lrs.append(opt.optimizer.param_groups[0]["lr"])
        opt.optimizer.step()
        opt.scheduler.step()
    assert lrs == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
