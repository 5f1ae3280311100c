"""``jedi-bench dream``: what the world model imagines, next to what really happened, as a video.

The frames come from :func:`jedi_bench.diagnostics.dream.dream_run` (the run's agent plays one test episode;
the world model imagines the frames after its context with the same actions); this module lays them out
side by side and writes the GIF or MP4.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from jedi_bench.diagnostics.dream import dream_run
from jedi_bench.io import atomic_write_bytes
from jedi_bench.train.device import resolve_device
from jedi_bench.train.run_folder import load_run

SCALE = 4  # 64x64 frames shown at 256x256
GAP = 16  # pixels between the two panels (keeps MP4 sizes multiples of 16)
LABEL_H = 16
FPS = 4


def dream(run: str, out: str, steps: int = 15, device: str | None = None) -> int:
    suffix = Path(out).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"--out must end in .gif or .mp4, got {out!r}")
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    dev = resolve_device(device)
    cfg, models, _ = load_run(run, dev)
    result = dream_run(cfg, models, steps, dev)
    context, shown = result.context, result.imagined_steps
    if shown < steps:
        print(f"note: the real episode ended after {shown} steps past the context; showing {shown} steps")
    video = [
        side_by_side(real, fake, "real", "context" if i < context else f"imagined {i - context + 1}")
        for i, (real, fake) in enumerate(zip(result.real, result.shown, strict=True))
    ]
    write_video(out, video)
    print(
        f"{cfg.method} {cfg.game}: {shown} imagined steps after a {context}-frame context -> {out}; "
        f"mean absolute pixel error per step: {', '.join(f'{e:.1f}' for e in result.errors())}"
    )
    return 0


def side_by_side(real: np.ndarray, fake: np.ndarray, left_label: str, right_label: str) -> np.ndarray:
    """Two upscaled frames with a gap and a label strip on top (uint8 [H, W, 3])."""
    import cv2

    up = [np.repeat(np.repeat(f, SCALE, axis=0), SCALE, axis=1) for f in (real, fake)]
    size = up[0].shape[0]
    canvas = np.zeros((LABEL_H + size, 2 * size + GAP, 3), np.uint8)
    canvas[LABEL_H:, :size] = up[0]
    canvas[LABEL_H:, size + GAP :] = up[1]
    for x, text in ((2, left_label), (size + GAP + 2, right_label)):
        cv2.putText(
            canvas, text, (x, LABEL_H - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA
        )
    return canvas


def write_video(out: str | os.PathLike, frames: list[np.ndarray]) -> None:
    """Write a GIF (imageio) or MP4 (imageio-ffmpeg) atomically: a temporary file, then a rename."""
    import imageio.v2 as imageio

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        import imageio.v3 as iio

        atomic_write_bytes(
            path, iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=1000 // FPS, loop=0)
        )
        return
    # ffmpeg writes to a file name: encode into a scratch file, then publish it atomically
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
        tmp = Path(scratch) / path.name
        imageio.mimwrite(
            tmp, frames, fps=FPS, format="FFMPEG", codec="libx264", quality=8, macro_block_size=16
        )
        atomic_write_bytes(path, tmp.read_bytes())
