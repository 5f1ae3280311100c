"""Lambda-returns, the actor-critic losses and the actor-critic network."""

import pytest
import torch

from jedi_bench.agent.imagination import Trajectory
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.agent.returns import lambda_returns
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.train.config import AgentConfig


def _returns(rewards, values, ends, gamma, lam):
    t = torch.tensor
    return lambda_returns(t([rewards]), t([values]), t([ends]), gamma, lam)[0].tolist()


# -- lambda-returns ----------------------------------------------------------------------------------

def test_lambda_zero_is_one_step_td():
    got = _returns([1.0, 2.0, 3.0], [10.0, 20.0, 30.0, 40.0], [False, False, False], 0.5, 0.0)
    assert got == pytest.approx([1 + 0.5 * 20, 2 + 0.5 * 30, 3 + 0.5 * 40])


def test_lambda_one_is_discounted_return_bootstrapped_at_horizon():
    got = _returns([1.0, 2.0, 3.0], [10.0, 20.0, 30.0, 40.0], [False, False, False], 0.5, 1.0)
    g2 = 3 + 0.5 * 40
    g1 = 2 + 0.5 * g2
    g0 = 1 + 0.5 * g1
    assert got == pytest.approx([g0, g1, g2])


def test_intermediate_lambda_by_hand():
    gamma, lam = 0.9, 0.5
    got = _returns([1.0, -1.0], [0.5, 2.0, 4.0], [False, False], gamma, lam)
    g1 = -1 + gamma * 4.0
    g0 = 1 + gamma * ((1 - lam) * 2.0 + lam * g1)
    assert got == pytest.approx([g0, g1])


def test_end_stops_bootstrap_and_recursion():
    # the end at t=1 cuts off V_2 = 100, V_3 = 1000 and r_2 = 50 from G_0 and G_1
    got = _returns([1.0, 2.0, 50.0], [0.0, 3.0, 100.0, 1000.0], [False, True, False], 0.9, 0.8)
    g1 = 2.0
    g0 = 1 + 0.9 * (0.2 * 3.0 + 0.8 * g1)
    assert got == pytest.approx([g0, g1, 50 + 0.9 * 1000.0])


def test_lambda_returns_batched_rows_are_independent():
    rewards = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    values = torch.tensor([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    ends = torch.tensor([[False, False], [True, False]])
    got = lambda_returns(rewards, values, ends, 1.0, 1.0)
    assert torch.allclose(got, torch.tensor([[3.0, 2.0], [0.0, 6.0]]))


def test_lambda_returns_reject_bad_shapes():
    with pytest.raises(ValueError, match="values must be"):
        lambda_returns(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), 0.9, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        lambda_returns(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3), 1.5, 0.9)


# -- losses --------------------------------------------------------------------------------------------

def _trajectory(logits, rewards, values=None, ends=None, actions=None):
    batch, horizon, _ = logits.shape
    values = torch.zeros(batch, horizon + 1) if values is None else values
    ends = torch.zeros(batch, horizon, dtype=torch.bool) if ends is None else ends
    actions = torch.zeros(batch, horizon, dtype=torch.long) if actions is None else actions
    alive = torch.cumprod((~ends).long(), dim=1)[:, :-1].bool()
    mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool), alive], dim=1)
    return Trajectory(obs=torch.zeros(batch, horizon + 1, 1, 1, 1), actions=actions, logits=logits, values=values,
                      rewards=rewards, ends=ends, mask=mask)


def _log_prob_after_step(advantage_sign: float) -> tuple[float, float]:
    logits = torch.zeros(1, 1, 3, requires_grad=True)
    traj = _trajectory(logits, rewards=torch.tensor([[advantage_sign]]))
    loss, _ = actor_critic_loss(traj, AgentConfig(entropy_weight=0.0))
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
    traj = _trajectory(logits, rewards=torch.zeros(1, 1))        # zero advantage, zero value error
    loss, metrics = actor_critic_loss(traj, AgentConfig(entropy_weight=1.0))
    assert loss.item() == pytest.approx(-metrics["entropy"])
    loss.backward()

    def entropy(z):
        return torch.distributions.Categorical(logits=z).entropy().item()

    assert entropy(logits - 0.1 * logits.grad) > entropy(logits)


def test_value_loss_moves_value_towards_lambda_return():
    values = torch.zeros(1, 2, requires_grad=True)
    traj = _trajectory(torch.zeros(1, 1, 2), rewards=torch.tensor([[3.0]]), values=values)
    loss, metrics = actor_critic_loss(traj, AgentConfig(entropy_weight=0.0))
    assert metrics["value_loss"] == pytest.approx(9.0)
    loss.backward()
    assert values.grad[0, 0] < 0                 # descending raises V_0 towards the return 3
    assert values.grad[0, 1] == 0                # the bootstrap is a target, not trained through the return


def test_steps_after_an_imagined_end_do_not_count():
    ends = torch.tensor([[False, True, False, False]])
    logits = torch.randn(1, 4, 3)
    rewards = torch.tensor([[1.0, -1.0, 0.0, 1.0]])
    base, _ = actor_critic_loss(_trajectory(logits, rewards, ends=ends), AgentConfig())
    logits2, rewards2 = logits.clone(), rewards.clone()
    logits2[:, 2:] = torch.randn(1, 2, 3) * 5
    rewards2[:, 2:] = torch.tensor([[-1.0, -1.0]])
    changed, _ = actor_critic_loss(_trajectory(logits2, rewards2, ends=ends), AgentConfig())
    assert changed.item() == pytest.approx(base.item())


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
    assert h.abs().sum() > 0                    # the recurrent state does carry information


def test_trunk_downsamples_pixels_and_latents_to_4x4():
    assert ActorCritic((3, 64, 64), 4, SMALL).trunk.out_features == 16 * 4 * 4
    assert ActorCritic((16, 8, 8), 4, SMALL).trunk.out_features == 16 * 4 * 4
    assert ActorCritic((2, 4, 4), 4, SMALL).trunk.out_features == 16 * 4 * 4


def test_paper_sized_actor_critic_is_about_diamonds():
    ac = ActorCritic((3, 64, 64), 18, AgentConfig())
    params = sum(p.numel() for p in ac.parameters())
    assert 3e6 < params < 5e6


def test_runs_under_bf16_autocast_and_channels_last():
    ac = ActorCritic((3, 64, 64), 4, SMALL).to(memory_format=torch.channels_last)
    with torch.no_grad():
        ac.policy_head.weight.normal_()
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
    with torch.no_grad():                       # acting does not move the statistics
        ac(x)
    assert not ac.standardize.seen and torch.all(ac.standardize.mean == 0)
    ac.eval()
    ac(x)
    assert not ac.standardize.seen
    ac.train()
    ac(x)                                       # the first training batch sets them outright
    z = ac.standardize(x)
    assert z[:, 3, 2, 5].std() > 0.9            # the small wiggle now has unit scale
    assert z.abs().mean() < 0.1                 # the common pattern is gone
    shifted = x + 1.0
    for _ in range(50):                         # later batches move them slowly (moving average)
        ac(shifted)
    assert 0.3 < float(ac.standardize.mean.mean() - x.mean(0).mean()) < 0.7
    state = ac.state_dict()                     # checkpoints carry them
    assert {"standardize.mean", "standardize.var", "standardize.seen"} <= set(state)


def test_standardized_input_lets_the_trunk_see_small_latent_differences():
    torch.manual_seed(0)
    x = _latents_differing_in_one_element()
    spread = {}
    for on in (False, True):
        torch.manual_seed(1)
        ac = ActorCritic((16, 8, 8), 3, AgentConfig(channels=[8, 8, 16, 16], lstm=32, standardize_input=on))
        ac(x)                                   # one training batch (sets the statistics when on)
        features = ac.trunk(ac.standardize(x)).detach()
        spread[on] = float(features.std(0).mean() / features.abs().mean())
    assert spread[True] > 10 * spread[False]
