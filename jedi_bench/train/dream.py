"""``jedi-bench dream``: what the world model imagines, next to what really happened.

The agent plays one test episode in the real env. The first ``wm.cfg.context`` frames are the context;
the world model then imagines ``steps`` frames autoregressively, fed the *same* actions the agent took
in the real env, so the two halves of the video can be compared frame by frame. Latent variants are
rendered through their decoder (the probe decoder for ``jedi``, trained on detached latents, or the
autoencoder's decoder for ``ae-latent``): the video shows what the latent imagination contains, it is
never fed back.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from jedi_bench.io import atomic_write_bytes
from jedi_bench.train.collect import obs_to_tensor

SCALE = 4        # 64x64 frames shown at 256x256
GAP = 16         # pixels between the two panels (keeps MP4 sizes multiples of 16)
LABEL_H = 16
FPS = 4


def dream(run: str, out: str, steps: int = 15, device: str | None = None) -> int:
    from jedi_bench.train.evaluate import load_run
    from jedi_bench.train.loop import env_factory
    from jedi_bench.train.run import resolve_device

    suffix = Path(out).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"--out must end in .gif or .mp4, got {out!r}")
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    dev = resolve_device(device)
    cfg, models, _ = load_run(run, dev)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    agent = models.agent(dev, cfg.speed.bf16)
    context = models.wm.cfg.context

    frames, actions = play_real(env_factory(cfg, test_mode=True), agent, context + steps, rng)
    if len(frames) <= context:
        raise ValueError(f"the episode ended after {len(frames)} frames, before the {context}-frame context "
                         f"was complete; nothing to imagine")
    imagined = imagine_frames(models.wm, frames, actions, context, dev)
    shown = len(imagined)
    if shown < steps:
        print(f"note: the real episode ended after {shown} steps past the context; showing {shown} steps")
    with torch.no_grad():
        context_recon = models.wm.render(models.wm.encode(obs_to_tensor(np.stack(frames[:context]), dev)))
    right = list(context_recon.cpu().numpy()) + imagined
    video = [side_by_side(real, fake, "real", "context" if i < context else f"imagined {i - context + 1}")
             for i, (real, fake) in enumerate(zip(frames, right))]
    write_video(out, video)
    errors = [np.abs(frames[context + k].astype(float) - imagined[k].astype(float)).mean() for k in range(shown)]
    print(f"{cfg.method} {cfg.game}: {shown} imagined steps after a {context}-frame context -> {out}; "
          f"mean absolute pixel error per step: {', '.join(f'{e:.1f}' for e in errors)}")
    return 0


@torch.no_grad()
def play_real(make_env, agent, num_frames: int, rng: np.random.Generator):
    """Up to ``num_frames`` real frames of one test episode (the last may be the terminal frame) and the
    actions taken between them (``len(actions) == len(frames) - 1``)."""
    env = make_env()
    try:
        obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        frames, actions, state = [obs], [], agent.initial_state()
        while len(frames) < num_frames:
            action, state = agent.act(obs, state, 0.0, rng)
            obs, _, terminated, truncated, _ = env.step(action)
            frames.append(obs)
            actions.append(action)
            if terminated or truncated:
                break
    finally:
        env.close()
    return frames, actions


@torch.no_grad()
def imagine_frames(wm, frames: list[np.ndarray], actions: list[int], context: int,
                   device: torch.device) -> list[np.ndarray]:
    """Autoregressive imagination from the first ``context`` real frames with the real actions."""
    x = wm.encode(obs_to_tensor(np.stack(frames[:context]), device))[None]          # [1, L, C, H, W]
    act = torch.tensor(actions[:context], dtype=torch.long, device=device)[None]    # last: a_{L-1}
    imagined = []
    for k in range(len(frames) - context):
        x_next = wm.sample_next(x, act)
        imagined.append(wm.render(x_next)[0].cpu().numpy())
        x = torch.cat([x[:, 1:], x_next[:, None]], dim=1)
        if context + k < len(actions):
            act = torch.cat([act[:, 1:], torch.tensor([[actions[context + k]]], device=device)], dim=1)
    return imagined


def side_by_side(real: np.ndarray, fake: np.ndarray, left_label: str, right_label: str) -> np.ndarray:
    """Two upscaled frames with a gap and a label strip on top (uint8 [H, W, 3])."""
    import cv2

    up = [np.repeat(np.repeat(f, SCALE, axis=0), SCALE, axis=1) for f in (real, fake)]
    size = up[0].shape[0]
    canvas = np.zeros((LABEL_H + size, 2 * size + GAP, 3), np.uint8)
    canvas[LABEL_H:, :size] = up[0]
    canvas[LABEL_H:, size + GAP:] = up[1]
    for x, text in ((2, left_label), (size + GAP + 2, right_label)):
        cv2.putText(canvas, text, (x, LABEL_H - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def write_video(out: str | os.PathLike, frames: list[np.ndarray]) -> None:
    """Write a GIF (imageio) or MP4 (imageio-ffmpeg) atomically: a temporary file, then a rename."""
    import imageio.v2 as imageio

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        import imageio.v3 as iio

        atomic_write_bytes(path, iio.imwrite("<bytes>", np.stack(frames), extension=".gif",
                                             duration=1000 // FPS, loop=0))
        return
    # ffmpeg writes to a file name: encode into a scratch file, then publish it atomically
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
        tmp = Path(scratch) / path.name
        imageio.mimwrite(tmp, frames, fps=FPS, format="FFMPEG", codec="libx264", quality=8, macro_block_size=16)
        atomic_write_bytes(path, tmp.read_bytes())
