"""The Atari100k protocol settings (docs/protocol.md) and the Catch game, checked on the built envs."""

import cv2
import gymnasium as gym
import numpy as np
import pytest

from jedi_bench.config.run import EnvConfig
from jedi_bench.envs import ATARI100K_GAMES, make_env
from jedi_bench.envs.atari import AtariPreprocessing
from jedi_bench.envs.catch import BALL_RGB, CELL, GRID, PADDLE_RGB

# Sizes of the games' minimal action sets (the ALE's getMinimalActionSet, as used by every Atari100k paper).
MINIMAL_ACTIONS = {
    "Alien": 18,
    "Amidar": 10,
    "Assault": 7,
    "Asterix": 9,
    "BankHeist": 18,
    "BattleZone": 18,
    "Boxing": 18,
    "Breakout": 4,
    "ChopperCommand": 18,
    "CrazyClimber": 9,
    "DemonAttack": 6,
    "Freeway": 3,
    "Frostbite": 18,
    "Gopher": 8,
    "Hero": 18,
    "Jamesbond": 18,
    "Kangaroo": 18,
    "Krull": 18,
    "KungFuMaster": 14,
    "MsPacman": 9,
    "Pong": 6,
    "PrivateEye": 18,
    "Qbert": 6,
    "RoadRunner": 18,
    "Seaquest": 18,
    "UpNDown": 6,
}
BREAKOUT_FIRE, NOOP = 1, 0


def frame(env) -> int:
    return env.unwrapped.ale.getEpisodeFrameNumber()


# --- Atari: protocol settings -----------------------------------------------------------------------------


@pytest.mark.slow
def test_every_game_builds_with_minimal_action_set_and_64x64_rgb():
    assert set(MINIMAL_ACTIONS) == set(ATARI100K_GAMES)
    for game in ATARI100K_GAMES:
        env = make_env(game, seed=0)
        assert env.action_space.n == MINIMAL_ACTIONS[game], game
        obs, _ = env.reset()
        obs2, *_ = env.step(env.action_space.n - 1)
        for o in (obs, obs2):
            assert o.shape == (64, 64, 3) and o.dtype == np.uint8, game
        assert env.observation_space.shape == (64, 64, 3)
        env.close()


def test_sticky_actions_off_and_default_frame_cap():
    env = make_env("Breakout", seed=0)
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == 0.0
    assert ale.getInt("max_num_frames_per_episode") == 108_000
    assert env.unwrapped._frameskip == 1  # ALE steps one frame; the frame skip is the wrapper's


def test_frame_skip_advances_four_emulator_frames_per_agent_step():
    env = make_env("Pong", seed=0)
    env.reset()
    for _ in range(10):
        before = frame(env)
        env.step(env.action_space.sample())
        assert frame(env) - before == 4


def test_observation_is_area_resize_of_max_over_last_two_raw_frames():
    env = make_env("Breakout", seed=3)
    ale = env.unwrapped.ale
    env.reset()
    for _ in range(12):  # launch the ball so consecutive frames differ
        env.step(BREAKOUT_FIRE)
    state = ale.cloneState()
    obs, *_ = env.step(NOOP)
    ale.restoreState(state)
    raw = []
    for _ in range(4):
        ale.act(env.unwrapped._action_set[NOOP])
        raw.append(ale.getScreenRGB())
    pooled = cv2.resize(np.maximum(raw[-2], raw[-1]), (64, 64), interpolation=cv2.INTER_AREA)
    last_only = cv2.resize(raw[-1], (64, 64), interpolation=cv2.INTER_AREA)
    assert not np.array_equal(pooled, last_only)  # the check below can tell pooling from no pooling
    np.testing.assert_array_equal(obs, pooled)


def test_noop_reset_draws_1_to_30_noops_from_the_seed():
    env = make_env("Pong", seed=5)
    counts = []
    for _ in range(150):
        _, info = env.reset()
        counts.append(frame(env))
        assert info["episode_frame_number"] == counts[-1]
    assert min(counts) == 1 and max(counts) == 30
    assert len(set(counts)) >= 25
    again = make_env("Pong", seed=5)
    assert [(again.reset(), frame(again))[1] for _ in range(20)] == counts[:20]


def test_same_seed_and_actions_give_identical_observations():
    def rollout(seed):
        env = make_env("MsPacman", seed=seed)
        actions = np.random.default_rng(0).integers(env.action_space.n, size=60)
        obs, _ = env.reset()
        frames = [obs]
        for a in actions:
            obs, *_ = env.step(int(a))
            frames.append(obs)
        return np.stack(frames), frame(env)

    a, frames_a = rollout(11)
    b, frames_b = rollout(11)
    np.testing.assert_array_equal(a, b)
    assert frames_a == frames_b


def _play_until_life_lost(env, max_steps=3000):
    env.step(BREAKOUT_FIRE)
    for _ in range(max_steps):
        obs, _, terminated, truncated, info = env.step(NOOP)
        if info["life_loss"]:
            return obs, terminated, truncated, info
    raise AssertionError("no life lost")


def test_life_loss_is_terminal_in_training_and_reset_continues_the_game():
    env = make_env("Breakout", seed=0)
    _, info = env.reset()
    assert info["lives"] == 5
    obs, terminated, truncated, info = _play_until_life_lost(env)
    assert terminated and not truncated
    assert info["lives"] == 4 and not info["game_over"]
    frames_at_loss = frame(env)
    obs2, info2 = env.reset()
    assert info2["continued_game"] and info2["lives"] == 4
    assert frame(env) == frames_at_loss  # no new game, no no-ops
    np.testing.assert_array_equal(obs2, obs)
    # The last life ends the game for real; the reset after it starts a new game.
    for lives_left in (3, 2, 1, 0):
        _, terminated, _, info = _play_until_life_lost(env)
        assert terminated and info["lives"] == lives_left
        assert info["game_over"] == (lives_left == 0)
        _, info = env.reset()
    assert not info["continued_game"] and info["lives"] == 5 and frame(env) <= 30


def test_life_loss_is_not_terminal_in_test_mode():
    env = make_env("Breakout", seed=0, test_mode=True)
    env.reset()
    _, terminated, truncated, info = _play_until_life_lost(env)
    assert info["lives"] == 4 and not terminated and not truncated
    _, _, terminated, _, info = env.step(BREAKOUT_FIRE)
    assert not terminated and info["lives"] == 4


def test_frame_cap_is_reported_as_truncation_not_termination():
    cap = 120
    env = make_env("Breakout", seed=1, cfg=EnvConfig(max_episode_frames=cap))
    env.reset()
    start = frame(env)
    for step in range(1, 100):  # noqa: B007 (the step of the cap is checked after the loop)
        _, _, terminated, truncated, _ = env.step(NOOP)  # ball never launched: no life is lost
        if terminated or truncated:
            break
    assert truncated and not terminated
    assert frame(env) == cap and step == -(-(cap - start) // 4)
    _, info = env.reset()
    assert not info["continued_game"] and frame(env) <= 30


def test_stochastic_frame_skip_is_uniform_in_2_to_6_and_seeded():
    def skips(seed):
        env = make_env("Pong", seed=seed, cfg=EnvConfig(stochastic_frameskip=True))
        env.reset()
        out = []
        for _ in range(80):
            before = frame(env)
            *_, info = env.step(NOOP)
            assert info["frame_skip"] == frame(env) - before
            out.append(info["frame_skip"])
        return out

    first = skips(2)
    assert set(first) == {2, 3, 4, 5, 6}
    assert skips(2) == first
    assert skips(3) != first


def test_unknown_game_and_bad_config_fail_before_building():
    with pytest.raises(ValueError, match="unknown game 'Pacman'") as err:
        make_env("Pacman", seed=0)
    for game in ATARI100K_GAMES:
        assert game in str(err.value)
    with pytest.raises(ValueError, match="env.size"):
        make_env("Pong", seed=0, cfg=EnvConfig(size=84))


def test_explicit_reset_seed_replaces_the_construction_seed_once():
    """``reset(seed=s)`` then plain resets continue the emulator's random stream, as DIAMOND's do."""

    def two_resets(env, first_seed):
        first = env.reset(seed=first_seed)[0] if first_seed is not None else env.reset()[0]
        second = env.reset()[0]
        return first, second, frame(env)

    a = two_resets(make_env("Pong", seed=5, test_mode=True), first_seed=0)
    b = two_resets(make_env("Pong", seed=0, test_mode=True), first_seed=None)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


class _ScriptedAle:
    def __init__(self, emulator):
        self.emulator = emulator

    def lives(self):
        return self.emulator.lives[self.emulator.frame]

    def getScreenRGB(self, out):
        out.fill(self.emulator.frame)  # each raw frame is filled with its own frame number


class _ScriptedEmulator(gym.Env):
    """A one-frame-per-step emulator with a scripted life counter and game end, for the wrapper's rules."""

    observation_space = gym.spaces.Box(0, 255, (4, 4, 3), dtype=np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, lives, end_frame=None):
        self.lives, self.end_frame, self.frame = lives, end_frame, 0
        self.ale = _ScriptedAle(self)

    def get_action_meanings(self):
        return ["NOOP", "FIRE"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frame = 0
        return np.zeros((4, 4, 3), np.uint8), {}

    def step(self, action):
        self.frame += 1
        return np.zeros((4, 4, 3), np.uint8), 1.0, self.frame == self.end_frame, False, {}


def _scripted(lives, end_frame=None):
    env = AtariPreprocessing(_ScriptedEmulator(lives, end_frame), noop_max=0, frame_skip=4, size=2)
    env.reset()
    return env


def test_life_loss_means_below_the_lowest_count_since_reset():
    """DIAMOND's rule: a bonus life (step 1) does not raise the count, so dropping back (step 2) is
    no loss."""
    lives = [3] * 3 + [4] * 3 + [3] * 4 + [2] * 3
    env = _scripted(lives)
    assert [env.step(0)[4]["life_loss"] for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize("end_frame, expected", [(6, 4), (8, 7), (4, 3)])
def test_game_end_inside_the_skip_pools_only_frames_captured_before_it(end_frame, expected):
    """Steps cover raw frames 1-4, 5-8; the frame of the end is not captured, the previous pooled one
    stays."""
    env = _scripted([1] * 9, end_frame)
    for _ in range(2):
        obs, reward, terminated, _, _ = env.step(0)
        if terminated:
            break
    assert terminated and reward == (end_frame - 1) % 4 + 1
    assert np.all(obs == expected) and np.all(env.pooled_frame == expected)


# --- Catch ------------------------------------------------------------------------------------------------


def _positions(obs):
    """(ball row, ball col, paddle col) read back from the pixels (one pixel per cell is enough)."""
    cells = obs[CELL // 2 :: CELL, CELL // 2 :: CELL]
    ((ball_r, ball_c),) = np.argwhere((cells == BALL_RGB).all(axis=-1))
    paddle = np.argwhere((cells[GRID - 1] == PADDLE_RGB).all(axis=-1))
    paddle_c = paddle[0][0] if len(paddle) else ball_c  # a caught ball hides the paddle
    return int(ball_r), int(ball_c), int(paddle_c)


def test_catch_interface_and_rendering():
    env = make_env("Catch", seed=0)
    assert env.action_space.n == 3 and env.observation_space.shape == (64, 64, 3)
    obs, info = env.reset()
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert not info["life_loss"]
    ball_r, _, _ = _positions(obs)
    assert ball_r == 0
    assert (obs.reshape(-1, 3).any(axis=1)).sum() == 2 * CELL * CELL  # ball and paddle, one cell each


def test_catch_tracking_policy_always_catches_and_fleeing_policy_always_misses():
    env = make_env("Catch", seed=4)
    for policy, expected in (("track", 1.0), ("flee", -1.0)):
        for _ in range(20):
            obs, _ = env.reset()
            rewards = []
            for _ in range(20):
                _, ball_c, paddle_c = _positions(obs)
                toward = 1 + int(np.sign(ball_c - paddle_c))  # 0 left, 1 stay, 2 right
                action = toward if policy == "track" else (0 if ball_c >= GRID // 2 else 2)
                obs, reward, terminated, truncated, _ = env.step(action)
                rewards.append(reward)
                if terminated:
                    break
            assert terminated and not truncated and len(rewards) == GRID - 1
            assert rewards[:-1] == [0.0] * (GRID - 2) and rewards[-1] == expected


def test_catch_random_policy_mean_and_seeding():
    env = make_env("Catch", seed=0)
    returns = []
    for _ in range(2000):
        env.reset()
        terminated = False
        while not terminated:
            _, reward, terminated, _, _ = env.step(env.action_space.sample())
        returns.append(reward)
    assert abs(np.mean(returns) - (-0.75)) < 0.06
    first = [make_env("Catch", seed=9).reset()[0] for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    starts = {make_env("Catch", seed=s).reset()[0].tobytes() for s in range(10)}
    assert len(starts) > 5
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)
