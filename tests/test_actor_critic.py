"""Lambda-returns, the actor-critic losses and the actor-critic network."""

import math

import pytest
import torch

from jedi_bench.agent.imagination import Rollout
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.agent.returns import lambda_returns
from jedi_bench.config.run import AgentConfig
from jedi_bench.nets.actor_critic import ActorCritic


def _returns(rew, val_bootstrap, end, gamma, lam, trunc=None):
    t = torch.tensor
    trunc = [False] * len(rew) if trunc is None else trunc
    return lambda_returns(t([rew]), t([end]), t([trunc]), t([val_bootstrap]), gamma, lam)[0].tolist()


# -- lambda-returns ----------------------------------------------------------------------------------


def test_lambda_zero_is_one_step_td():
    got = _returns([1.0, -1.0, 1.0], [20.0, 30.0, 40.0], [False, False, False], 0.5, 0.0)
    assert got == pytest.approx([1 + 0.5 * 20, -1 + 0.5 * 30, 1 + 0.5 * 40])


def test_lambda_one_is_discounted_return_bootstrapped_at_the_last_step():
    got = _returns([1.0, -1.0, 1.0], [20.0, 30.0, 40.0], [False, False, False], 0.5, 1.0)
    g2 = 1 + 0.5 * 40
    g1 = -1 + 0.5 * g2
    g0 = 1 + 0.5 * g1
    assert got == pytest.approx([g0, g1, g2])


def test_intermediate_lambda_by_hand():
    gamma, lam = 0.9, 0.5
    got = _returns([1.0, -1.0], [2.0, 4.0], [False, False], gamma, lam)
    g1 = -1 + gamma * 4.0
    g0 = 1 + gamma * ((1 - lam) * 2.0 + lam * g1)
    assert got == pytest.approx([g0, g1])


def test_rewards_are_clipped_to_their_sign():
    assert _returns([2.5, -0.3, 0.0], [1.0, 2.0, 3.0], [False] * 3, 0.9, 0.8) == pytest.approx(
        _returns([1.0, -1.0, 0.0], [1.0, 2.0, 3.0], [False] * 3, 0.9, 0.8)
    )


def test_end_stops_bootstrap_and_recursion():
    # the end at t=1 cuts off its bootstrap 100 and everything from t=2 (the next trajectory) from G_0, G_1
    got = _returns([1.0, 1.0, -1.0], [3.0, 100.0, 1000.0], [False, True, False], 0.9, 0.8)
    g1 = 1.0
    g0 = 1 + 0.9 * (0.2 * 3.0 + 0.8 * g1)
    assert got == pytest.approx([g0, g1, -1 + 0.9 * 1000.0])


def test_truncation_bootstraps_fully_and_stops_the_recursion():
    got = _returns(
        [1.0, 1.0, -1.0], [3.0, 100.0, 1000.0], [False, False, False], 0.9, 0.8, trunc=[False, True, False]
    )
    g1 = 1 + 0.9 * 100.0
    g0 = 1 + 0.9 * (0.2 * 3.0 + 0.8 * g1)
    assert got == pytest.approx([g0, g1, -1 + 0.9 * 1000.0])


def test_lambda_returns_batched_rows_are_independent():
    rew = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    val_bootstrap = torch.tensor([[1.0, 2.0], [5.0, 5.0]])
    end = torch.tensor([[False, False], [True, False]])
    got = lambda_returns(rew, end, torch.zeros_like(end), val_bootstrap, 1.0, 1.0)
    assert torch.allclose(got, torch.tensor([[3.0, 2.0], [0.0, 6.0]]))


def test_lambda_returns_reject_bad_shapes():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="must all be"):
        lambda_returns(z, z, z, torch.zeros(2, 4), 0.9, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        lambda_returns(z, z, z, z, 1.5, 0.9)


# -- losses --------------------------------------------------------------------------------------------


def _rollout(logits, rew, val=None, val_bootstrap=None, end=None, trunc=None, act=None):
    batch, steps, _ = logits.shape
    zeros = torch.zeros(batch, steps)
    flags = torch.zeros(batch, steps, dtype=torch.bool)
    return Rollout(
        obs=torch.zeros(batch, steps, 1, 1, 1),
        act=torch.zeros(batch, steps, dtype=torch.long) if act is None else act,
        rew=rew,
        end=flags if end is None else end,
        trunc=flags if trunc is None else trunc,
        logits=logits,
        val=zeros if val is None else val,
        val_bootstrap=zeros if val_bootstrap is None else val_bootstrap,
    )


def _log_prob_after_step(advantage_sign: float) -> tuple[float, float]:
    logits = torch.zeros(1, 1, 3, requires_grad=True)
    loss, _ = actor_critic_loss(
        _rollout(logits, rew=torch.tensor([[advantage_sign]])), AgentConfig(entropy_weight=0.0)
    )
    loss.backward()
    before = torch.log_softmax(logits, -1)[0, 0, 0].item()
    after = torch.log_softmax(logits - 0.1 * logits.grad, -1)[0, 0, 0].item()
    return before, after


def test_reinforce_raises_log_prob_of_action_with_positive_advantage():
    before, after = _log_prob_after_step(+1.0)
    assert after > before


def test_reinforce_lowers_log_prob_of_action_with_negative_advantage():
    before, after = _log_prob_after_step(-1.0)
    assert after < before


def test_entropy_bonus_pushes_towards_higher_entropy():
    logits = torch.tensor([[[2.0, 0.0, -1.0]]], requires_grad=True)
    rollout = _rollout(logits, rew=torch.zeros(1, 1))  # zero advantage, zero value error
    loss, metrics = actor_critic_loss(rollout, AgentConfig(entropy_weight=1.0))
    assert loss.item() == pytest.approx(-metrics["entropy"]) == pytest.approx(metrics["entropy_loss"])
    assert metrics["policy_entropy_bits"] == pytest.approx(metrics["entropy"] / math.log(2))
    loss.backward()

    def entropy(z):
        return torch.distributions.Categorical(logits=z).entropy().item()

    assert entropy(logits - 0.1 * logits.grad) > entropy(logits)


def test_value_loss_moves_value_towards_lambda_return():
    val = torch.zeros(1, 1, requires_grad=True)
    val_bootstrap = torch.full((1, 1), 2.0, requires_grad=True)
    rollout = _rollout(torch.zeros(1, 1, 2), rew=torch.tensor([[1.0]]), val=val, val_bootstrap=val_bootstrap)
    loss, metrics = actor_critic_loss(rollout, AgentConfig(entropy_weight=0.0))
    target = 1 + AgentConfig().gamma * 2.0
    assert metrics["value_loss"] == pytest.approx(target**2)
    loss.backward()
    assert val.grad[0, 0] < 0  # descending raises V_0 towards the return
    assert val_bootstrap.grad is None  # the bootstrap is a target, not trained through the return


def test_steps_after_an_imagined_end_belong_to_the_next_trajectory():
    """As in DIAMOND: the returns before an end ignore what follows it, and every step counts in the means."""
    end = torch.tensor([[False, True, False, False]])
    logits = torch.randn(1, 4, 3)
    rew = torch.tensor([[1.0, -1.0, 0.0, 1.0]])
    val_bootstrap = torch.randn(1, 4)
    cfg = AgentConfig()
    before = lambda_returns(rew, end, torch.zeros_like(end), val_bootstrap, cfg.gamma, cfg.lambda_)
    rew2, val_bootstrap2 = rew.clone(), val_bootstrap.clone()
    rew2[:, 2:], val_bootstrap2[:, 2:] = -1.0, 7.0
    after = lambda_returns(rew2, end, torch.zeros_like(end), val_bootstrap2, cfg.gamma, cfg.lambda_)
    assert torch.equal(before[:, :2], after[:, :2]) and not torch.equal(before[:, 2:], after[:, 2:])

    _, metrics = actor_critic_loss(
        _rollout(logits, rew, val_bootstrap=val_bootstrap, end=end), AgentConfig(entropy_weight=1.0)
    )
    entropy = torch.distributions.Categorical(logits=logits).entropy()
    assert metrics["entropy"] == pytest.approx(entropy.mean().item())  # all 4 steps, not the first 2


# -- network ---------------------------------------------------------------------------------------------

SMALL = AgentConfig(channels=[8, 8, 16, 16], lstm=32)


@pytest.mark.parametrize("in_shape", [(3, 64, 64), (16, 8, 8)])
def test_zero_initialised_heads_give_uniform_policy_and_zero_value(in_shape):
    ac = ActorCritic(in_shape, num_actions=6, cfg=SMALL)
    logits, value, (h, _c) = ac(torch.randn(5, *in_shape), None)
    assert logits.shape == (5, 6) and value.shape == (5,) and h.shape == (5, 32)
    probs = torch.softmax(logits, -1)
    assert torch.allclose(probs, torch.full_like(probs, 1 / 6))
    assert torch.all(value == 0)
    assert h.abs().sum() > 0  # the recurrent state does carry information


def test_encoder_pools_pixels_and_latents_to_4x4():
    assert ActorCritic((3, 64, 64), 4, SMALL).encoder.out_features == 16 * 4 * 4
    assert ActorCritic((16, 8, 8), 4, SMALL).encoder.out_features == 16 * 4 * 4
    assert ActorCritic((2, 4, 4), 4, SMALL).encoder.out_features == 16 * 4 * 4


def test_paper_sized_actor_critic_is_diamonds():
    """DIAMOND's layout: conv, then residual block + max-pool per stage (pools at 2, 4, 6, 8), 3,230,663
    parameters at 6 actions; its LSTM init (forget-gate bias 1) and zero heads."""
    ac = ActorCritic((3, 64, 64), 6, AgentConfig())
    assert sum(p.numel() for p in ac.parameters()) == 3_230_663
    pools = [i for i, m in enumerate(ac.encoder.encoder) if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [2, 4, 6, 8]
    hidden = ac.lstm_dim
    assert (ac.lstm.bias_ih[hidden : 2 * hidden] == 1).all() and (ac.lstm.bias_hh == 0).all()
    assert all((p == 0).all() for p in (*ac.actor_linear.parameters(), *ac.critic_linear.parameters()))


def test_runs_under_bf16_autocast_and_channels_last():
    ac = ActorCritic((3, 64, 64), 4, SMALL).to(memory_format=torch.channels_last)
    with torch.no_grad():
        ac.actor_linear.weight.normal_()
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, value, state = ac(x, ac.initial_state(2))
        logits, value, state = ac(x, state)
    assert logits.dtype == value.dtype == state[0].dtype == torch.float32
    assert torch.isfinite(logits).all() and torch.isfinite(value).all()
    assert not torch.allclose(torch.softmax(logits, -1), torch.full_like(logits, 0.25))


def test_actor_critic_rejects_wrong_input():
    ac = ActorCritic((16, 8, 8), 4, SMALL)
    with pytest.raises(ValueError, match="16, 8, 8"):
        ac(torch.zeros(2, 3, 64, 64), None)
    with pytest.raises(ValueError, match="num_actions"):
        ActorCritic((16, 8, 8), 0, SMALL)


def _latents_differing_in_one_element(n=64):
    """Latent-like inputs: a large pattern common to all, the information in one element's small wiggle."""
    common = torch.randn(16, 8, 8)
    x = common.expand(n, -1, -1, -1).clone()
    x[:, 3, 2, 5] += 0.01 * torch.randn(n)
    return x


def test_running_standardize_learns_the_statistics_from_training_batches_only():
    torch.manual_seed(0)
    cfg = AgentConfig(channels=[8, 8, 16, 16], lstm=32, standardize_input=True)
    ac = ActorCritic((16, 8, 8), 3, cfg)
    x = _latents_differing_in_one_element()
    with torch.no_grad():  # acting does not move the statistics
        ac(x)
    assert not ac.standardize.seen and torch.all(ac.standardize.mean == 0)
    ac.eval()
    ac(x)
    assert not ac.standardize.seen
    ac.train()
    ac(x)  # the first training batch sets them outright
    z = ac.standardize(x)
    assert z[:, 3, 2, 5].std() > 0.9  # the small wiggle now has unit scale
    assert z.abs().mean() < 0.1  # the common pattern is gone
    shifted = x + 1.0
    for _ in range(50):  # later batches move them slowly (moving average)
        ac(shifted)
    assert 0.3 < float(ac.standardize.mean.mean() - x.mean(0).mean()) < 0.7
    state = ac.state_dict()  # checkpoints carry them
    assert {"standardize.mean", "standardize.var", "standardize.seen"} <= set(state)


def test_standardized_input_lets_the_encoder_see_small_latent_differences():
    torch.manual_seed(0)
    x = _latents_differing_in_one_element()
    spread = {}
    for on in (False, True):
        torch.manual_seed(1)
        ac = ActorCritic((16, 8, 8), 3, AgentConfig(channels=[8, 8, 16, 16], lstm=32, standardize_input=on))
        ac(x)  # one training batch (sets the statistics when on)
        features = ac.encoder(ac.standardize(x)).detach()
        spread[on] = float(features.std(0).mean() / features.abs().mean())
    assert spread[True] > 10 * spread[False]
