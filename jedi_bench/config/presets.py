"""The scale presets: ``atari100k`` is the paper protocol (DIAMOND's schedule, docs/protocol.md); the
others only shrink sizes and counts, never change the protocol's logic (docs/configuration.md)."""

from __future__ import annotations

from jedi_bench.config.schema import PRESETS, AgentConfig, RunConfig, TrainConfig
from jedi_bench.config.speed import SpeedConfig
from jedi_bench.config.world_model import DiffusionConfig, WorldModelConfig

__all__ = ["PRESETS", "preset"]


def _tiny_world_model() -> WorldModelConfig:
    return WorldModelConfig(
        cond_channels=32,
        pixel_channels=[8, 8, 8, 8],
        pixel_depths=[1, 1, 1, 1],
        encoder_channels=[8, 8, 8, 16],
        latent_denoiser_channels=32,
        latent_denoiser_depth=1,
        rew_end_channels=[8, 8, 8, 8],
        rew_end_lstm=32,
        ae_decoder_channels=[16, 8, 8, 8],
        diffusion=DiffusionConfig(),
    )


def _small_world_model() -> WorldModelConfig:
    """The ``catch`` preset's models. How each learning rate was found: docs/configuration.md."""
    return WorldModelConfig(
        cond_channels=64,
        pixel_channels=[16, 16, 32, 32],
        pixel_depths=[1, 1, 1, 1],
        encoder_channels=[16, 16, 16, 16],
        latent_denoiser_channels=64,
        latent_denoiser_depth=2,
        rew_end_channels=[16, 16, 16, 16],
        rew_end_lstm=128,
        ae_decoder_channels=[16, 16, 16, 16],
        # JEDI's encoder keeps the paper's absolute rate (0.03 x 1e-3 = 3e-5): faster, it drops the paddle.
        encoder_lr_scale=0.03,
        # Every reward/termination model keeps DIAMOND's 1e-4: faster, it never tells a catch from a miss.
        rew_end_lr_scale=0.1,
        # Catch's 8-row episodes sit in 19-row segments: run through the padding, the model timed episode
        # ends from where the padding stops.
        rew_end_skip_padding=True,
    )


def preset(name: str) -> RunConfig:
    """The named scale preset (method/game/seed left at their defaults)."""
    if name == "atari100k":
        return RunConfig(preset=name)
    if name == "dev":
        # One GPU, about an hour per run: paper-sized models, a shortened schedule.
        return RunConfig(
            preset=name,
            train=TrainConfig(
                total_env_steps=20_000,
                initial_collect_steps=2_000,
                initial_collect_max=4_000,
                world_model_updates=200,
                actor_critic_updates=200,
                first_epoch_world_model_updates=2_000,
                first_epoch_actor_critic_updates=1_000,
                final_train_epochs=5,
                test_episodes=4,
                final_eval_episodes=20,
            ),
        )
    if name == "catch":
        # The built-in Catch env on a 2-core CPU; the measurements behind each value are in
        # docs/configuration.md ("The catch preset's values").
        # - horizon 8: episodes last 7 steps, so imagination reaches every episode's end.
        # - bf16 + channels_last: ~3x faster updates on a CPU with native bf16 (elsewhere: speed.bf16=false).
        # - lr 1e-3 for the world models, so that their next frame follows the action early in the run;
        #   0.3x that for the actor-critic, so that its policy does not collapse before the model is good.
        # - entropy bonus 0.01 (DIAMOND: 0.001): with one +-1 reward per episode the policy otherwise loses
        #   its entropy before the model can tell chasing the ball from random play.
        # - 80 actor-critic updates per epoch (2x the world models') and 10 training-only epochs: the
        #   learned models become good only mid-run, and the agent then needs many updates in them.
        return RunConfig(
            preset=name,
            game="Catch",
            world_model=_small_world_model(),
            agent=AgentConfig(
                channels=[16, 16, 32, 32],
                lstm=128,
                horizon=8,
                batch_size=32,
                lr_scale=0.3,
                entropy_weight=0.01,
            ),
            speed=SpeedConfig(bf16=True, channels_last=True),
            train=TrainConfig(
                total_env_steps=3_000,
                initial_collect_steps=500,
                initial_collect_max=1_000,
                world_model_updates=40,
                actor_critic_updates=80,
                first_epoch_world_model_updates=300,
                first_epoch_actor_critic_updates=200,
                final_train_epochs=10,
                batch_size=32,
                lr=1e-3,
                test_every_epochs=5,
                test_episodes=10,
                final_eval_episodes=100,
            ),
        )
    if name == "smoke":
        # Seconds per run on a CPU: tiny networks and update counts; exercises every code path of the loop,
        # and tests after every epoch so that learning curves have several points.
        return RunConfig(
            preset=name,
            world_model=_tiny_world_model(),
            agent=AgentConfig(channels=[8, 8, 8, 8], lstm=32, horizon=5, batch_size=4),
            train=TrainConfig(
                total_env_steps=400,
                initial_collect_steps=200,
                initial_collect_max=300,
                collect_steps_per_epoch=50,
                world_model_updates=2,
                actor_critic_updates=2,
                first_epoch_world_model_updates=4,
                first_epoch_actor_critic_updates=2,
                final_train_epochs=1,
                batch_size=4,
                test_every_epochs=1,
                test_episodes=1,
                final_eval_episodes=2,
                eval_max_agent_steps=200,
            ),
        )
    raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
