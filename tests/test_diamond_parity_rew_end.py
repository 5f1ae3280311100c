"""``diamond``'s reward/termination model against DIAMOND's own numbers (``rew_end_cases.pt``): a sequence
forward, the same steps one at a time, a start from a non-zero LSTM state, and the loss on a batch with
left padding, an episode end with its final observation and rewards that need clipping.

Shapes (batch, steps, actions, where episodes end) are read from the data.
"""

from __future__ import annotations

import pytest
import torch

from diamond_reference import ATOL, load_cases, load_weights, num_actions, u8_to_float
from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.worldmodels import make_world_model
from jedi_bench.worldmodels.diamond_checkpoint import load_diamond_weights, split_diamond_state_dict
from jedi_bench.worldmodels.reward_end import reward_end_predictions


@pytest.fixture(scope="module")
def cases():
    return load_cases("rew_end_cases.pt")


@pytest.fixture(scope="module")
def wm():
    weights = load_weights()
    model = make_world_model("diamond", WorldModelConfig(), num_actions(weights))
    load_diamond_weights(
        model.reward_end_model, split_diamond_state_dict(weights)["reward_end"], "reward/end"
    )
    return model.eval()


def close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)


def assert_outputs(out, cases, prefix):
    rew, end, (hx, cx) = out
    close(rew, cases[f"{prefix}/logits_rew"])
    close(end, cases[f"{prefix}/logits_end"])
    close(hx, cases[f"{prefix}/hx"])
    close(cx, cases[f"{prefix}/cx"])


def test_sequence_forward(wm, cases):
    frames = u8_to_float(cases["seq/frames_u8"])
    with torch.no_grad():
        assert_outputs(wm.reward_end(frames[:, :-1], cases["seq/act"], frames[:, 1:]), cases, "seq")


def test_stepwise_forward_carries_the_state(wm, cases):
    frames, act = u8_to_float(cases["seq/frames_u8"]), cases["seq/act"]
    state, rews, ends = None, [], []
    with torch.no_grad():
        for t in range(act.shape[1]):
            rew, end, state = wm.reward_end(
                frames[:, t : t + 1], act[:, t : t + 1], frames[:, t + 1 : t + 2], state
            )
            rews.append(rew)
            ends.append(end)
    assert_outputs((torch.cat(rews, 1), torch.cat(ends, 1), state), cases, "stepwise")


def test_forward_from_a_nonzero_state(wm, cases):
    frames = u8_to_float(cases["seq/frames_u8"])
    state = (cases["from_state/hx0"], cases["from_state/cx0"])
    with torch.no_grad():
        assert_outputs(
            wm.reward_end(frames[:, :-1], cases["seq/act"], frames[:, 1:], state), cases, "from_state"
        )


def diamond_loss_batch(cases) -> Batch:
    """DIAMOND's loss batch in the suite's layout: padding rows hold 0.0; a sample whose episode ends at
    step e holds its final observation in row e + 1, flagged ``final`` (DIAMOND reads it from the info)."""
    mask, end = cases["loss/mask_padding"].clone(), cases["loss/end"].bool()
    obs = torch.where(mask[:, :, None, None, None], u8_to_float(cases["loss/obs_u8"]), torch.zeros(()))
    final = torch.zeros_like(mask)
    finals = iter(
        u8_to_float(cases[k]) for k in sorted(k for k in cases if k.startswith("loss/final_observation"))
    )
    for b in range(mask.shape[0]):
        if end[b].any():
            e = int(end[b].nonzero()[0]) + 1
            obs[b, e], final[b, e], mask[b, e] = next(finals), True, True
    return Batch(
        obs=obs,
        act=cases["loss/act"],
        rew=cases["loss/rew"],
        end=end,
        trunc=cases["loss/trunc"].bool(),
        mask=mask,
        final=final,
    )


def test_loss(wm, cases):
    batch = diamond_loss_batch(cases)
    wm.cfg.rew_end_skip_padding = False
    loss, metrics = wm.reward_end_loss(batch)
    close(loss, cases["loss/loss"])
    assert metrics["ce_reward"] == pytest.approx(cases["loss/loss_rew"].item(), abs=ATOL)
    assert metrics["ce_end"] == pytest.approx(cases["loss/loss_end"].item(), abs=ATOL)
    with torch.no_grad():
        p = reward_end_predictions(wm.reward_end_model, lambda obs: obs, batch)
    for name, logits, target in (("rew", p.rew_logits, p.rew_target), ("end", p.end_logits, p.end_target)):
        expected = cases[f"loss/confusion_{name}"].long()
        confusion = torch.zeros_like(expected)
        for true, predicted in zip(target[p.valid], logits[p.valid].argmax(-1), strict=True):
            confusion[true, predicted] += 1
        assert torch.equal(confusion, expected), (name, confusion, expected)
