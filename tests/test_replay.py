"""Replay storage: segment sampling (padding, mask, alignment, recency weights) and persistence.

Frames are small (8x8) except where the batch layout itself is checked. Every stored step is
tagged: action = 1000 * episode + t, reward = t, and the first pixel holds (episode, t), so a
sampled step can be traced back to where it was stored.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from jedi_bench.data.episode import load_episode
from jedi_bench.data.replay import ReplayBuffer
from jedi_bench.data.sampling import episode_weights, sample_segments

FIELDS = ("obs", "act", "rew", "end", "trunc", "mask", "final")


def tagged_frame(episode: int, t: int, size: int = 8) -> np.ndarray:
    frame = np.full((size, size, 3), 7, np.uint8)
    frame[0, 0] = (episode, t % 256, t // 256)
    frame[0, 1] = (11, 22, 33)  # breaks the symmetry, so a swapped height/width axis shows
    return frame


def fill(buffer: ReplayBuffer, lengths, open_steps: int = 0, size: int = 8, first: int = 0) -> None:
    """Finished episodes of the given lengths (every third one truncated; each keeps its final
    observation, tagged as step ``length``, except every fourth), then an open episode."""
    for i, length in enumerate(lengths):
        episode = first + i
        for t in range(length):
            last = t == length - 1
            final = tagged_frame(episode, length, size) if last and episode % 4 != 3 else None
            buffer.add_step(
                tagged_frame(episode, t, size),
                1000 * episode + t,
                float(t),
                terminated=last and episode % 3 != 2,
                truncated=last and episode % 3 == 2,
                final_obs=final,
            )
    episode = first + len(lengths)
    for t in range(open_steps):
        buffer.add_step(tagged_frame(episode, t, size), 1000 * episode + t, float(t), False, False)


def decode(obs: torch.Tensor) -> np.ndarray:
    """[..., 3, H, W] in [-1, 1] -> the (episode, t) tag of each frame."""
    pixels = torch.round((obs[..., :, 0, 0] + 1) * 127.5).to(torch.int64).numpy()
    return np.stack([pixels[..., 0], pixels[..., 1] + 256 * pixels[..., 2]], axis=-1)


def assert_same(a, b):
    for name in FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def assert_same_contents(a: ReplayBuffer, b: ReplayBuffer):
    assert a.num_steps == b.num_steps and a.num_finished_episodes == b.num_finished_episodes
    np.testing.assert_array_equal(a.episode_lengths, b.episode_lengths)
    for i in range(a.num_episodes):
        for name in ("obs", "act", "rew", "terminated", "truncated", "final_obs"):
            np.testing.assert_array_equal(getattr(a.episode(i), name), getattr(b.episode(i), name))


@pytest.fixture
def buffer():
    replay = ReplayBuffer(None)
    fill(replay, [3, 40, 1, 25, 60, 2, 30], open_steps=5)
    return replay


def test_batch_layout_and_range():
    replay = ReplayBuffer(None)
    fill(replay, [30, 12], size=64)
    batch = replay.sample(4, 19, np.random.default_rng(0))
    assert batch.obs.shape == (4, 19, 3, 64, 64) and batch.obs.dtype == torch.float32
    assert batch.act.dtype == torch.int64 and batch.rew.dtype == torch.float32
    assert batch.end.dtype == batch.trunc.dtype == batch.mask.dtype == torch.bool
    assert batch.obs.min() >= -1 and batch.obs.max() <= 1
    valid = batch.obs[batch.mask]
    assert torch.allclose(valid[:, :, 1:, 1:], torch.full_like(valid[:, :, 1:, 1:], 7 / 127.5 - 1))


def test_left_padding_and_mask(buffer):
    seq_len = 19
    batch = buffer.sample(512, seq_len, np.random.default_rng(1))
    mask = batch.mask.numpy()
    tags = decode(batch.obs)
    num_pad = seq_len - mask.sum(1)
    # The mask is False on a prefix only (left padding), and the first real step of a padded segment is
    # its episode's first step.
    np.testing.assert_array_equal(mask, np.arange(seq_len)[None] >= num_pad[:, None])
    padded = num_pad > 0
    assert padded.sum() > 50  # episodes of 1-3 steps and episode starts force padding
    first_real = tags[np.flatnonzero(padded), num_pad[padded], 1]
    assert (first_real == 0).all()
    # Padding is zeros everywhere.
    pad = ~batch.mask
    assert (batch.obs[pad] == 0).all() and (batch.act[pad] == 0).all() and (batch.rew[pad] == 0).all()
    assert not batch.end[pad].any() and not batch.trunc[pad].any()
    # Conversely a segment starting at t > 0 is never padded.
    starts_later = tags[np.arange(len(tags)), num_pad, 1] > 0
    assert (num_pad[starts_later] == 0).all()


def test_segments_stay_in_one_episode_and_match_what_was_stored(buffer):
    lengths = buffer.episode_lengths
    batch = buffer.sample(512, 19, np.random.default_rng(2))
    for b in range(batch.batch_size):
        valid = batch.mask[b].numpy()
        act = batch.act[b].numpy()[valid]
        tags = decode(batch.obs[b])[valid]
        episode, t = act // 1000, act % 1000
        assert (episode == episode[0]).all(), "segment crosses episodes"
        np.testing.assert_array_equal(np.diff(t), 1)
        assert t[-1] < lengths[episode[0]], "segment runs past its episode end"
        np.testing.assert_array_equal(tags, np.stack([episode, t], axis=1))
        np.testing.assert_array_equal(batch.rew[b].numpy()[valid], t.astype(np.float32))
        is_last = t == lengths[episode[0]] - 1
        finished = episode[0] < buffer.num_finished_episodes
        ends = batch.end[b].numpy()[valid] | batch.trunc[b].numpy()[valid]
        np.testing.assert_array_equal(ends, is_last & finished)
        np.testing.assert_array_equal(batch.trunc[b].numpy()[valid], is_last & finished & (episode % 3 == 2))


@pytest.mark.parametrize("capacity", [0, 3000])
def test_storage_growth_keeps_every_step(capacity):
    replay = ReplayBuffer(None, capacity=capacity)
    fill(replay, [700, 900], open_steps=10)  # past the initial allocation of 1024 steps
    assert replay.num_steps == 1610 and replay.episode_lengths.tolist() == [700, 900, 10]
    for number, length in enumerate([700, 900, 10]):
        episode = replay.episode(number)
        np.testing.assert_array_equal(episode.act, 1000 * number + np.arange(length))
        np.testing.assert_array_equal(episode.obs[:, 0, 0, 1], np.arange(length) % 256)
        np.testing.assert_array_equal(episode.obs[:, 0, 0, 0], number)


def test_final_rows_hold_the_observation_the_last_action_led_to(buffer):
    lengths = buffer.episode_lengths
    batch = buffer.sample(4000, 5, np.random.default_rng(3), final_rows=True)
    tags = decode(batch.obs)
    rows = batch.final.nonzero().tolist()
    assert rows and all(t == 4 for _, t in rows)  # only ever a segment's last row
    for b, t in rows:
        episode, step = tags[b, t]
        assert step == lengths[episode] and episode % 4 != 3  # tagged as one step past the last
        assert episode < buffer.num_finished_episodes  # the open episode has none
        assert batch.mask[b, t] and batch.act[b, t] == 0 and batch.rew[b, t] == 0
        assert not (batch.end[b, t] or batch.trunc[b, t])
        assert (batch.end[b, t - 1] or batch.trunc[b, t - 1]) and tags[b, t - 1, 1] == step - 1
    assert {tuple(tags[b, t]) for b, t in rows} == {(e, lengths[e]) for e in range(7) if e % 4 != 3}
    # the actor-critic's segments never end on one
    assert not buffer.sample(4000, 5, np.random.default_rng(3)).final.any()
    assert buffer.episode(1).final_obs[0, 0].tolist() == [1, 40, 0] and buffer.episode(3).final_obs is None


def test_episode_being_collected_is_sampled():
    replay = ReplayBuffer(None)
    fill(replay, [], open_steps=6)
    assert replay.num_episodes == 1 and replay.num_finished_episodes == 0
    batch = replay.sample(16, 4, np.random.default_rng(0))
    assert set(batch.act[batch.mask].tolist()) <= set(range(6))
    assert not batch.end.any() and not batch.trunc.any()


def test_sampling_is_deterministic_given_the_rng(buffer):
    first = buffer.sample(8, 19, np.random.default_rng(7))
    assert_same(first, buffer.sample(8, 19, np.random.default_rng(7)))
    different = buffer.sample(8, 19, np.random.default_rng(8))
    assert not torch.equal(different.act, buffer.sample(8, 19, np.random.default_rng(7)).act)


def test_recency_chunks_are_drawn_with_their_probabilities():
    replay = ReplayBuffer(None)
    fill(replay, [1] * 40)  # one step per episode: episode frequency is chunk frequency
    batch = replay.sample(20_000, 1, np.random.default_rng(3))
    chunk = batch.act[:, 0].numpy() // 1000 // 10
    frequencies = np.bincount(chunk, minlength=4) / len(chunk)
    np.testing.assert_allclose(frequencies, [0.1, 0.1, 0.1, 0.7], atol=0.015)


def test_chunk_sizes_and_renormalisation():
    # 5 episodes: chunks of 1, 1, 1 and 2 (the remainder joins the newest chunk).
    np.testing.assert_allclose(episode_weights(5, [0.1, 0.1, 0.1, 0.7]), [0.1, 0.1, 0.1, 0.35, 0.35])
    # Fewer episodes than chunks: only the newest chunk is non-empty, all episodes equally likely.
    np.testing.assert_allclose(episode_weights(2, [0.1, 0.1, 0.1, 0.7]), [0.5, 0.5])


def test_fewer_episodes_than_chunks_are_sampled_equally_often():
    replay = ReplayBuffer(None)
    fill(replay, [1, 1])
    frequency = replay.sample(4000, 1, np.random.default_rng(4)).act[:, 0].float().mean() / 1000
    assert abs(frequency.item() - 0.5) < 0.04


def test_segment_end_is_uniform_for_single_steps_and_never_past_the_end():
    rng = np.random.default_rng(5)
    episodes, starts = sample_segments(np.array([10]), 20_000, 1, [1.0], rng)
    np.testing.assert_allclose(np.bincount(starts, minlength=10) / 20_000, 0.1, atol=0.01)
    episodes, starts = sample_segments(np.array([10, 3]), 5_000, 6, [0.5, 0.5], rng)
    stops = starts + 6
    assert (stops <= np.array([10, 3])[episodes]).all() and (stops >= 1).all()


@pytest.mark.parametrize("bad", [(0.5, 0.6), (-0.1, 1.1), ()])
def test_bad_chunk_probs_are_refused(bad):
    with pytest.raises(ValueError, match="chunk_probs"):
        ReplayBuffer(None, chunk_probs=bad)


def _replay_holding(steps: int) -> ReplayBuffer:
    replay = ReplayBuffer(None)
    for _ in range(steps):
        replay.add_step(np.zeros((8, 8, 3), np.uint8), 0, 0.0, False, False)
    return replay


@pytest.mark.parametrize(
    "steps, call, error, match",
    [
        (0, lambda r: r.sample(2, 3, np.random.default_rng(0)), ValueError, "empty replay"),
        (0, lambda r: r.add_step(np.zeros((8, 8, 3), np.float32), 0, 0.0, False, False), ValueError, "uint8"),
        (
            0,
            lambda r: r.add_step(np.zeros((3, 8, 8, 1), np.uint8), 0, 0.0, False, False),
            ValueError,
            "uint8",
        ),
        (
            1,
            lambda r: r.add_step(np.zeros((16, 16, 3), np.uint8), 0, 0.0, False, False),
            ValueError,
            "frame shape",
        ),
        (1, lambda r: r.sample(2, 0, np.random.default_rng(0)), ValueError, "seq_len"),
        (
            1,
            lambda r: r.add_step(tagged_frame(0, 0), 0, 0.0, False, False, final_obs=tagged_frame(0, 1)),
            ValueError,
            "final_obs is given only",
        ),
        (
            1,
            lambda r: r.add_step(
                tagged_frame(0, 0), 0, 0.0, True, False, final_obs=tagged_frame(0, 1, size=4)
            ),
            ValueError,
            "final_obs must be",
        ),
    ],
    ids=[
        "sample-empty",
        "float-frame",
        "frame-not-hwc",
        "other-frame-shape",
        "seq-len-0",
        "final-obs-not-at-an-end",
        "final-obs-shape",
    ],
)
def test_bad_input_is_refused(steps, call, error, match):
    replay = _replay_holding(steps)
    with pytest.raises(error, match=match):
        call(replay)


def test_negative_capacity_is_refused():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(None, capacity=-1)


def test_save_and_load_round_trip(tmp_path):
    replay = ReplayBuffer(tmp_path / "replay")
    fill(replay, [4, 9, 2], open_steps=5)
    assert sorted(p.name for p in (tmp_path / "replay" / "episodes").iterdir()) == [
        "000000.npz",
        "000001.npz",
        "000002.npz",
    ]
    replay.save()
    restored = ReplayBuffer.load(tmp_path / "replay")
    assert_same_contents(replay, restored)
    assert restored.num_episodes == 4 and restored.episode(-1).act.tolist() == [3000 + t for t in range(5)]
    assert_same(
        replay.sample(16, 19, np.random.default_rng(9), final_rows=True),
        restored.sample(16, 19, np.random.default_rng(9), final_rows=True),
    )
    # The restored replay carries on: closing the open episode writes the next file.
    restored.add_step(tagged_frame(3, 5), 3005, 5.0, True, False)
    episode, _ = load_episode(tmp_path / "replay" / "episodes" / "000003.npz")
    assert episode.act.tolist() == [3000 + t for t in range(6)] and episode.obs.shape == (6, 8, 8, 3)


def test_state_dict_restores_the_checkpoint_moment(tmp_path):
    folder = tmp_path / "replay"
    replay = ReplayBuffer(folder)
    fill(replay, [4, 9], open_steps=3)
    torch.save({"replay": replay.state_dict()}, tmp_path / "checkpoint.pt")
    snapshot = ReplayBuffer.load(folder, torch.load(tmp_path / "checkpoint.pt", weights_only=True)["replay"])
    # The run goes on after the checkpoint, closes episodes, then is killed.
    fill(replay, [6, 2], first=2)
    assert (folder / "episodes" / "000003.npz").exists()
    restored = ReplayBuffer.load(folder, torch.load(tmp_path / "checkpoint.pt", weights_only=True)["replay"])
    assert_same_contents(snapshot, restored)
    assert restored.num_steps == 16 and restored.num_finished_episodes == 2
    assert not (folder / "episodes" / "000003.npz").exists()  # newer than the checkpoint: collected again


def test_in_memory_state_round_trip():
    replay = ReplayBuffer(None, chunk_probs=(0.25, 0.75))
    fill(replay, [5, 1, 7], open_steps=2)
    restored = ReplayBuffer.load(None, replay.state_dict())
    assert restored.chunk_probs == (0.25, 0.75)
    assert_same_contents(replay, restored)
    assert_same(
        replay.sample(8, 6, np.random.default_rng(1), final_rows=True),
        restored.sample(8, 6, np.random.default_rng(1), final_rows=True),
    )


def test_writes_leave_no_temporary_files_and_leftovers_are_ignored(tmp_path):
    folder = tmp_path / "replay"
    replay = ReplayBuffer(folder)
    fill(replay, [3, 3], open_steps=1)
    replay.save()
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    leftover = folder / "episodes" / ".000002.npz.k1ll3d.tmp"  # a write killed before its rename
    leftover.write_bytes(b"half a file")
    restored = ReplayBuffer.load(folder)
    assert restored.num_finished_episodes == 2 and restored.num_steps == 7
    assert not leftover.exists()


def test_load_without_save_takes_every_finished_episode(tmp_path):
    replay = ReplayBuffer(tmp_path / "replay")
    fill(replay, [2, 5], open_steps=4)  # killed before any save(): the open episode is lost
    restored = ReplayBuffer.load(tmp_path / "replay")
    assert restored.num_steps == 7 and restored.num_episodes == 2


def test_corrupt_episode_file_is_named(tmp_path):
    replay = ReplayBuffer(tmp_path / "replay")
    fill(replay, [3, 4, 5])
    target = tmp_path / "replay" / "episodes" / "000001.npz"
    target.write_bytes(target.read_bytes()[:40])
    with pytest.raises(ValueError, match="000001.npz"):
        ReplayBuffer.load(tmp_path / "replay")


def test_missing_episode_file_and_directory_are_named(tmp_path):
    replay = ReplayBuffer(tmp_path / "replay")
    fill(replay, [3, 4, 5], open_steps=1)
    replay.save()
    (tmp_path / "replay" / "episodes" / "000001.npz").unlink()
    with pytest.raises(FileNotFoundError, match="000001.npz"):
        ReplayBuffer.load(tmp_path / "replay")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ReplayBuffer.load(tmp_path / "nowhere")


def test_existing_replay_is_not_overwritten_silently(tmp_path):
    replay = ReplayBuffer(tmp_path / "replay")
    fill(replay, [3])
    with pytest.raises(ValueError, match="already holds replay data"):
        ReplayBuffer(tmp_path / "replay")
    fresh = ReplayBuffer(tmp_path / "replay", overwrite=True)
    assert fresh.num_steps == 0 and not list(Path(tmp_path / "replay" / "episodes").iterdir())
