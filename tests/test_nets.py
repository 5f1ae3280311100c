"""Networks: block behaviour at initialisation, shapes at paper and tiny sizes, parameter counts,
reward/termination model recurrence and its masked loss."""

import dataclasses

import pytest
import torch

from jedi_bench.data.batch import Batch
from jedi_bench.nets.autoencoder import Decoder
from jedi_bench.nets.blocks import (
    Downsample,
    FourierFeatures,
    ResBlock,
    SelfAttention2d,
    init_lstm,
    num_groups,
)
from jedi_bench.nets.encoder import Encoder
from jedi_bench.nets.unet import Denoiser
from jedi_bench.worldmodels.reward_end import RewardEndNet, reward_end_loss


def count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("channels", [1, 8, 16, 32, 48, 64, 100, 160, 256])
def test_group_norm_uses_the_most_groups_of_at_least_32_channels(channels):
    """GroupNorm needs groups that divide the channels; DIAMOND's groups hold 32 channels (one group in tiny
    nets). Channel counts that 32 does not divide get the most groups that still hold 32 channels or more."""
    g = num_groups(channels)
    assert g >= 1 and channels % g == 0
    assert channels // g >= 32 or g == 1
    assert all(channels % more or channels // more < 32 for more in range(g + 1, channels + 1))
    if channels % 32 == 0:
        assert g == channels // 32  # DIAMOND's max(1, channels // 32)


def test_residual_block_starts_as_diamonds_adding_only_its_second_convs_bias():
    """DIAMOND's init: a residual block's second conv has zero weights (its bias is not zeroed, so the block
    adds a per-channel constant)."""
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    block = ResBlock(16, 16, cond_channels=8)
    out = block(x, torch.randn(2, 8))
    assert torch.allclose(out, x + block.conv2.bias[:, None, None], atol=1e-6)


def test_self_attention_starts_as_the_group_norm_it_adds_its_residual_to():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    attention = SelfAttention2d(16)
    assert torch.allclose(attention(x), attention.norm(x), atol=1e-6)
    assert not torch.allclose(attention(x), x, atol=1e-2)


def test_fourier_features_are_bounded_and_need_an_even_size():
    f = FourierFeatures(32)(torch.linspace(-2, 2, 5))
    assert f.shape == (5, 32) and f.abs().max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="even"):
        FourierFeatures(7)


def test_downsampling_keeps_the_signal_scale():
    """Orthogonal init (DIAMOND's): a strided conv passes unit-variance noise at about unit scale, where
    PyTorch's default init shrinks it to about 0.58 per layer."""
    torch.manual_seed(0)
    x = torch.randn(8, 32, 32, 32)
    with torch.no_grad():
        ratio = Downsample(32)(x).std() / x.std()
        default = torch.nn.Conv2d(32, 32, 3, stride=2, padding=1)(x).std() / x.std()
    assert 0.85 < ratio < 1.15 and default < 0.7


@pytest.mark.parametrize("cls", [torch.nn.LSTM, torch.nn.LSTMCell])
def test_lstm_init_opens_the_forget_gate_and_keeps_recurrent_weights_orthogonal(cls):
    lstm = cls(12, 6)
    init_lstm(lstm)
    params = dict(lstm.named_parameters())
    w_hh = params[next(k for k in params if k.startswith("weight_hh"))]
    b_ih = params[next(k for k in params if k.startswith("bias_ih"))]
    assert torch.allclose(w_hh.T @ w_hh, torch.eye(6), atol=1e-5)
    assert (b_ih[6:12] == 1).all() and (b_ih[:6] == 0).all() and (b_ih[12:] == 0).all()
    assert all((p == 0).all() for k, p in params.items() if k.startswith("bias_hh"))


def test_paper_sized_pixel_denoiser_has_diamonds_parameter_count_and_right_shapes():
    net = Denoiser(3, 4, 6, 256, [64, 64, 64, 64], [2, 2, 2, 2], [False] * 4)
    assert count(net) == 4_406_083  # DIAMOND's Atari denoiser at 6 actions (its 128 Fourier freqs: a buffer)
    out = net(
        torch.randn(2, 3, 64, 64), torch.zeros(2), torch.randn(2, 4, 3, 64, 64), torch.randint(0, 6, (2, 4))
    )
    assert out.shape == (2, 3, 64, 64)
    # the output convolution's weights start at zero (DIAMOND leaves its bias at PyTorch's init)
    assert torch.allclose(out, net.conv_out.bias[None, :, None, None].expand_as(out))


def test_latent_denoiser_encoder_decoder_shapes():
    net = Denoiser(16, 4, 5, 32, [32], [1], [False])
    out = net(
        torch.randn(3, 16, 8, 8), torch.zeros(3), torch.randn(3, 4, 16, 8, 8), torch.randint(0, 5, (3, 4))
    )
    assert out.shape == (3, 16, 8, 8)
    assert Encoder([32, 32, 32, 16])(torch.randn(2, 3, 64, 64)).shape == (2, 16, 8, 8)
    assert Encoder([8, 8, 8, 16])(torch.randn(2, 3, 64, 64)).shape == (2, 16, 8, 8)
    assert Decoder(16, [16, 8, 8, 8])(torch.randn(2, 16, 8, 8)).shape == (2, 3, 64, 64)


def test_encoder_and_latent_denoiser_refuse_sizes_they_cannot_build():
    with pytest.raises(ValueError, match="4 stage"):
        Encoder([8, 8, 16])
    with pytest.raises(ValueError, match="divisible"):
        Denoiser(16, 3, 5, 32, [32], [1], [False])


def test_denoiser_runs_in_bf16_autocast_and_channels_last():
    torch.manual_seed(0)
    net = Denoiser(3, 4, 6, 32, [8, 8, 8, 8], [1, 1, 1, 1], [False] * 4).to(memory_format=torch.channels_last)
    torch.nn.init.normal_(net.conv_out.weight)
    x = torch.randn(2, 3, 64, 64).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x, torch.zeros(2), torch.randn(2, 4, 3, 64, 64), torch.zeros(2, 4, dtype=torch.long))
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out.float()).all() and out.abs().sum() > 0


def test_reward_end_net_runs_in_bf16_autocast_on_any_cpu_with_a_float32_lstm():
    # oneDNN's fused LSTM has no bf16 kernel on CPUs without native bf16 (AVX2 only): run under autocast
    # it failed there with "could not create a primitive descriptor", so the LSTM runs in float32.
    torch.manual_seed(0)
    net = RewardEndNet(3, 64, 4, [8, 8, 8, 8], 1, 16, 32).to(memory_format=torch.channels_last)
    x, act = torch.randn(2, 3, 3, 64, 64), torch.randint(0, 4, (2, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rew, end, (h, c) = net(x, act, x.roll(1, dims=1))
    assert rew.dtype == end.dtype == h.dtype == c.dtype == torch.float32
    assert torch.isfinite(rew).all() and torch.isfinite(end).all()


@pytest.mark.parametrize("in_channels,size", [(3, 64), (16, 8)])
def test_reward_end_net_steps_like_it_runs_sequences(in_channels, size):
    torch.manual_seed(0)
    net = RewardEndNet(in_channels, size, 4, [8, 8, 8, 8], 1, 16, 32)
    x, x_next = torch.randn(2, 5, in_channels, size, size), torch.randn(2, 5, in_channels, size, size)
    act = torch.randint(0, 4, (2, 5))
    rew, end, _ = net(x, act, x_next)
    assert rew.shape == (2, 5, 3) and end.shape == (2, 5, 2)
    state, steps = None, []
    for t in range(5):
        r, _, state = net(x[:, t : t + 1], act[:, t : t + 1], x_next[:, t : t + 1], state)
        steps.append(r)
    assert torch.allclose(torch.cat(steps, dim=1), rew, atol=1e-5)


def test_paper_sized_reward_end_lstm_reads_2048_features():
    assert RewardEndNet(3, 64, 18, [32] * 4, 2, 128, 512).lstm.input_size == 2048
    assert RewardEndNet(16, 8, 18, [32] * 4, 2, 128, 512).lstm.input_size == 2048
    with pytest.raises(ValueError, match="power of two"):
        RewardEndNet(3, 48, 4, [8] * 4, 1, 16, 32)


def _segment(b=3, t=6, c=16, s=8):
    """Row 0 starts late (padding), row 1 ends on a terminal step followed by the final observation."""
    x = torch.randn(b, t, c, s, s)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[0, :2] = False
    end = torch.zeros(b, t, dtype=torch.bool)
    end[1, -2] = True
    final = torch.zeros(b, t, dtype=torch.bool)
    final[1, -1] = True
    rew = torch.tensor([[0.0, 5.0, -2.0, 0.0, 1.0, 0.0]] * b)
    rew[1, -1] = 0.0
    batch = Batch(
        torch.zeros(b, t, 3, 64, 64),
        torch.randint(0, 4, (b, t)),
        rew,
        end,
        torch.zeros(b, t, dtype=torch.bool),
        mask,
        final,
    )
    return x, batch


def loss_of(net, x, batch, skip_padding=False):
    """The reward/termination loss of inputs ``x`` (latents here) standing in the batch's observations."""
    return reward_end_loss(net, lambda obs: obs, dataclasses.replace(batch, obs=x), skip_padding)


def test_reward_end_loss_learns_every_transition_whose_next_frame_is_in_the_segment():
    torch.manual_seed(0)
    net = RewardEndNet(16, 8, 4, [8] * 4, 1, 16, 32)
    x, batch = _segment()
    loss, metrics = loss_of(net, x, batch)
    assert set(metrics) >= {"ce_reward", "ce_end", "acc_reward", "acc_end"}
    # targets on padding, on a final row and on a last row with no next frame are left out of the loss
    batch.rew[0, 0] = 1.0
    batch.rew[0, -1] = -1.0
    batch.rew[1, -1] = 1.0
    batch.end[1, -1] = True
    loss2, _ = loss_of(net, x, batch)
    assert torch.allclose(loss, loss2)
    batch.rew[0, 3] = -1.0
    assert not torch.allclose(loss, loss_of(net, x, batch)[0])
    # the terminal transition is learned, and from the real final observation
    with_terminal = loss_of(net, x, batch)[0]
    batch.end[1, -2] = False
    assert not torch.allclose(with_terminal, loss_of(net, x, batch)[0])
    batch.end[1, -2] = True
    x_other_final = x.clone()
    x_other_final[1, -1] = -2.0
    assert not torch.allclose(with_terminal, loss_of(net, x_other_final, batch)[0])


def test_reward_end_loss_with_skip_padding_runs_each_segment_from_its_first_real_row_as_burn_in_does():
    """With ``skip_padding``, padding rows never reach the LSTM before the real rows: the loss does not change
    with what the padding holds, and equals the loss of the real rows alone, fed from a zero state. Without
    it (DIAMOND's default) the LSTM runs through the padding, so what the padding holds matters."""
    torch.manual_seed(0)
    net = RewardEndNet(16, 8, 4, [8] * 4, 1, 16, 32)
    x, batch = _segment()
    loss = loss_of(net, x, batch, skip_padding=True)[0]
    x_noisy = x.clone()
    x_noisy[0, :2] = torch.randn(2, 16, 8, 8) * 5
    diamond_loss = loss_of(net, x, batch)[0]
    batch.act[0, :2] = 3
    assert torch.allclose(loss, loss_of(net, x_noisy, batch, skip_padding=True)[0])
    assert not torch.allclose(diamond_loss, loss_of(net, x_noisy, batch)[0])
    # segment 0 alone, without its two padding rows, gives that segment's share of the loss
    fields = ("obs", "act", "rew", "end", "trunc", "mask", "final")
    alone = Batch(*(getattr(batch, f)[:1, 2:] for f in fields))
    per_row = loss_of(net, x[:1, 2:], alone, skip_padding=True)[0]
    rew_logits, end_logits, _ = net(x[:1, 2:-1], batch.act[:1, 2:-1], x[:1, 3:])
    ce_rew = torch.nn.functional.cross_entropy(
        rew_logits.flatten(0, 1), (batch.rew[:1, 2:-1].sign() + 1).long().flatten()
    )
    ce_end = torch.nn.functional.cross_entropy(end_logits.flatten(0, 1), batch.end[:1, 2:-1].long().flatten())
    assert torch.allclose(per_row, ce_rew + ce_end, atol=1e-5)


def test_reward_end_loss_with_skip_padding_cuts_the_columns_that_are_padding_in_every_segment():
    """Short episodes (Catch's) leave most of a segment padding: once the segments are rolled left, the
    columns past the longest one's real rows never reach ``inputs`` or the model, and the loss is the
    mean over every segment's learnable transitions, each segment's LSTM fed from a zero state."""
    torch.manual_seed(0)
    net = RewardEndNet(16, 8, 4, [8] * 4, 1, 16, 32)
    b, t = 3, 8
    x = torch.randn(b, t, 16, 8, 8)
    mask = torch.ones(b, t, dtype=torch.bool)
    for i, pad in enumerate((3, 5, 4)):
        mask[i, :pad] = False
    final = torch.zeros(b, t, dtype=torch.bool)
    final[1, -1] = True
    rew = torch.randint(-1, 2, (b, t)).float()
    end = torch.zeros(b, t, dtype=torch.bool)
    end[1, -2] = True
    batch = Batch(x, torch.randint(0, 4, (b, t)), rew, end, torch.zeros_like(mask), mask, final)
    seen = []

    def inputs(obs):
        seen.append(obs.shape[:2])
        return obs

    loss = reward_end_loss(net, inputs, batch, skip_padding=True)[0]
    assert seen == [(b, 5)]  # 8 columns, at least 3 of padding in every segment
    ce, count = 0.0, 0
    for i in range(b):
        real = mask[i].nonzero().flatten()
        learn = real[:-1]  # transitions whose next row is in the segment (a final row is last)
        rew_logits, end_logits, _ = net(
            x[i : i + 1, real[:-1]], batch.act[i : i + 1, real[:-1]], x[i : i + 1, real[1:]]
        )
        n = len(learn)
        ce = ce + torch.nn.functional.cross_entropy(
            rew_logits[0, :n], (rew[i, learn].sign() + 1).long(), reduction="sum"
        )
        ce = ce + torch.nn.functional.cross_entropy(end_logits[0, :n], end[i, learn].long(), reduction="sum")
        count += n
    assert torch.allclose(loss, ce / count, atol=1e-5)
