"""``jedi-bench profile``: what one method costs to train and to imagine with, on one device.

The models are built exactly as a run builds them (the preset's sizes, 18 actions: Atari's full
action set, the largest any game uses), fed synthetic replay batches (no environment), and trained
the way the online loop trains them: one AdamW per component, bf16/channels_last/compile/CUDA-graph
switches applied by :mod:`jedi_bench.compute.speed`. Measured, with warm-up excluded:

- one update (forward + backward + clip + optimizer step) of every component: ``denoiser_step``,
  ``reward_end_step``, ``actor_critic_step`` (which includes its 15-step imagination), any other
  component as ``<name>_step``, and ``full_update``, their sum (DIAMOND's "one update");
- world-model sampling: one ``sample_next`` on ``batch_size`` contexts with the configured sampler;
- one policy step (encode + actor-critic forward, batch 1), the cost of collecting one env step;
- peak memory, parameters, and the projected hours of a full ``atari100k`` run
  (:mod:`jedi_bench.compute.projection`);
- the FLOPs of each component step and of sampling, and the FLOP/s they achieve as a fraction of a
  dense matmul's in the same dtype, timed in the same process before and after the steps (the faster
  counts, so a moment of contention does not lower the peak; :mod:`jedi_bench.compute.flops`). The
  counting call is an eager run of the step and doubles as its first warm-up call.

Measure one method per process (the CPU peak RSS is the process's), all methods on the same device.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from jedi_bench.compute import speed as speedlib
from jedi_bench.compute.flops import achieved, count_flops, matmul_peak
from jedi_bench.compute.memory import baseline_memory_mb, peak_memory_mb
from jedi_bench.compute.projection import ACTOR_CRITIC, projected_hours, update_counts
from jedi_bench.compute.timing import Timing, time_call
from jedi_bench.data.batch import Batch
from jedi_bench.io import atomic_write_json
from jedi_bench.runinfo import device_info, library_versions
from jedi_bench.train.config import PRESETS, RunConfig, SpeedConfig, preset
from jedi_bench.worldmodels import check_method, make_world_model
from jedi_bench.worldmodels.base import Component, WorldModel

#: Atari's full action set; the minimal sets of the 26 games have at most 18 actions.
NUM_ACTIONS = 18


def profile_cli(method: str, device: str, preset: str, batch_size: int, repeats: int, bf16: bool,
                channels_last: bool, compile: bool, cuda_graphs: bool, out: str) -> int:
    """Entry point of ``jedi-bench profile``: measure, print a summary, write ``out`` atomically."""
    speed = SpeedConfig(bf16=bf16, channels_last=channels_last, compile=compile, cuda_graphs=cuda_graphs)
    out_path = Path(out)
    if out_path.suffix != ".json" or out_path.is_dir():
        raise ValueError(f"--out must be a .json file path, got {out!r}")
    report = profile(method, device, preset, batch_size, repeats, speed)
    atomic_write_json(out_path, report)
    t, s = report["timings_ms"], report["sampling"]
    fraction = report["flops_achieved"]["full_update"]["peak_fraction"]
    print(f"{method} on {report['device']['device_name']}: full update {t['full_update']:.1f} ms "
          f"({fraction:.1%} of the matmul peak), "
          f"sampling {s['frames_per_s']:.1f} frames/s, peak memory {report['peak_memory_mb']:.0f} MiB "
          f"({report['peak_memory_kind']}), projected {report['projected_hours_atari100k']:.1f} h "
          f"-> {out_path}", file=sys.stderr)
    return 0


def profile(method: str, device: str, preset_name: str, batch_size: int, repeats: int,
            speed: SpeedConfig, progress: bool = True) -> dict[str, Any]:
    """Build ``method`` at ``preset_name`` sizes on ``device`` and measure it; returns the report dict."""
    dev, cfg = _validated(method, device, preset_name, batch_size, repeats, speed)
    if progress and (warning := speedlib.slow_bf16_warning(speed, dev, fix="leave out --bf16 to measure float32")):
        print(f"jedi-bench profile: warning: {warning}", file=sys.stderr)
    peak_dtype = torch.bfloat16 if speed.bf16 else torch.float32
    peak_first = matmul_peak(dev, peak_dtype)     # before the models, so its buffers are not in the peak memory
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    memory_before = baseline_memory_mb(dev)
    torch.manual_seed(0)

    wm, ac, components = build_agent(cfg, dev)
    optimizers = {c.name: speedlib.make_adamw(c.param_groups, cfg.train.lr, cfg.train.adam_eps, dev)
                  for c in components}
    warmup = 1 if dev.type == "cpu" and not speed.compile else 3
    layout = speedlib.to_channels_last if speed.channels_last else (lambda x: x)

    steps: dict[str, Timing] = {}
    flops: dict[str, int] = {}
    bar = tqdm(total=len(components) + 2, desc=f"profile {method}", file=sys.stderr, disable=not progress)
    for comp in components:
        bar.set_postfix_str(f"{comp.name} step")
        batch = synthetic_batch(batch_size, comp.segment_length, dev, layout)
        step = partial(train_step, comp, optimizers[comp.name], batch, speed, dev)
        with speedlib.eager_sampling(wm):
            flops[f"{comp.name}_step"] = count_flops(step)
        steps[comp.name] = time_call(step, dev, repeats, warmup - 1)
        bar.update()

    bar.set_postfix_str("sampling")
    context, actions = synthetic_context(wm, batch_size, cfg.world_model.context, dev, layout)
    with torch.no_grad(), speedlib.autocast(speed, dev):
        with speedlib.eager_sampling(wm):
            flops["sampling_step"] = count_flops(lambda: wm.sample_next(context, actions))
        sampling = time_call(lambda: wm.sample_next(context, actions), dev, repeats, warmup - 1)
    bar.update()

    bar.set_postfix_str("policy step")
    policy = time_policy_step(wm, ac, speed, dev, repeats, warmup)
    bar.update()
    bar.close()

    peak_mb, peak_kind = peak_memory_mb(dev)
    step_ms = {name: t.median_ms for name, t in steps.items()}
    timings = {f"{name}_step": t.median_ms for name, t in steps.items()}
    timings["full_update"] = sum(step_ms.values())
    minmax = {f"{name}_step": [t.min_ms, t.max_ms] for name, t in steps.items()}
    minmax["full_update"] = [sum(t.min_ms for t in steps.values()), sum(t.max_ms for t in steps.values())]
    parameters = {name: int(n) for name, n in wm.num_parameters().items()}
    parameters[ACTOR_CRITIC] = sum(p.numel() for p in ac.parameters())
    parameters["total"] = sum(parameters.values())
    full_schedule = preset("atari100k").train
    flops["full_update"] = sum(n for name, n in flops.items() if name != "sampling_step")
    peak = max(peak_first, matmul_peak(dev, peak_dtype), key=lambda p: p["flops_per_s"])

    return {
        "method": method,
        "device": device_info(str(dev)),
        "versions": library_versions(),
        "options": {"batch_size": batch_size, "bf16": speed.bf16, "channels_last": speed.channels_last,
                    "compile": speed.compile, "cuda_graphs": speed.cuda_graphs, "preset": preset_name,
                    "repeats": repeats},
        "parameters": parameters,
        "timings_ms": timings,
        "timings_ms_minmax": minmax,
        "sampling": {"frames_per_s": batch_size * 1000.0 / sampling.median_ms, "ms_per_step": sampling.median_ms,
                     "ms_per_step_minmax": [sampling.min_ms, sampling.max_ms],
                     "sampler_steps": cfg.world_model.diffusion.num_steps,
                     "sampler_order": cfg.world_model.diffusion.order},
        "peak_memory_mb": peak_mb,
        "peak_memory_kind": peak_kind,
        "memory_before_models_mb": memory_before,
        "policy_step_ms": {"median": policy.median_ms, "min": policy.min_ms, "max": policy.max_ms},
        "cpu_time_ms": {**{f"{name}_step": t.cpu_median_ms for name, t in steps.items()},
                        "full_update": sum(t.cpu_median_ms for t in steps.values()),
                        "sampling_step": sampling.cpu_median_ms, "policy_step": policy.cpu_median_ms},
        "flops": flops,
        "flops_achieved": achieved(flops, {**timings, "sampling_step": sampling.median_ms}, peak["flops_per_s"]),
        "matmul_peak": peak,
        "projected_hours_atari100k": projected_hours(step_ms, policy.median_ms, full_schedule),
        "schedule_atari100k": dataclasses.asdict(update_counts(full_schedule)),
        "num_actions": NUM_ACTIONS,
        "code": code_version(),
        "warmup": warmup,
        "optimizer": f"AdamW ({speedlib.optimizer_impl(dev)})",
    }


def code_version() -> str:
    """The git commit of the measured code ("+dirty" when the working tree differs), or "unknown"."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "jedi_bench"],
                               cwd=root, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _validated(method: str, device: str, preset_name: str, batch_size: int, repeats: int,
               speed: SpeedConfig) -> tuple[torch.device, RunConfig]:
    """Check every input before anything is built; return the device and the run config to measure."""
    check_method(method)
    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}; presets: {', '.join(PRESETS)}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"bad --device {device!r}: expected cpu or cuda[:N]") from e
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"bad --device {device!r}: expected cpu or cuda[:N]")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device} requested but CUDA is not available (torch {torch.__version__}); "
                         f"use --device cpu, or install a CUDA build of torch")
    speedlib.check_speed(speed, dev)
    cfg = preset(preset_name)
    cfg.method = method
    cfg.train.batch_size = batch_size
    cfg.agent.batch_size = batch_size
    cfg.speed = speed
    return dev, cfg.validate()


def build_agent(cfg: RunConfig, dev: torch.device) -> tuple[WorldModel, torch.nn.Module, list[Component]]:
    """World model, actor-critic and the components a run trains (the actor-critic's last), switches applied."""
    from jedi_bench.agent.component import actor_critic_component
    from jedi_bench.nets.actor_critic import ActorCritic

    wm = make_world_model(cfg.method, cfg.world_model, NUM_ACTIONS).to(dev)
    ac = ActorCritic(wm.agent_input_shape, NUM_ACTIONS, cfg.agent).to(dev)
    speedlib.apply_speed([*wm.children(), ac], wm, cfg.speed, dev)
    components = [*wm.components(), actor_critic_component(wm, ac, cfg.agent)]
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise ValueError(f"component names must be unique, got {names}")
    return wm, ac, components


def synthetic_batch(batch_size: int, seq_len: int, dev: torch.device, layout=lambda x: x) -> Batch:
    """Random replay segments with the shapes and dtypes of real ones (timing does not depend on values)."""
    return Batch(
        obs=layout(torch.rand(batch_size, seq_len, 3, 64, 64, device=dev) * 2 - 1),
        act=torch.randint(0, NUM_ACTIONS, (batch_size, seq_len), device=dev),
        rew=torch.randint(-1, 2, (batch_size, seq_len), device=dev).float(),
        end=torch.rand(batch_size, seq_len, device=dev) < 0.05,
        trunc=torch.zeros(batch_size, seq_len, dtype=torch.bool, device=dev),
        mask=torch.ones(batch_size, seq_len, dtype=torch.bool, device=dev),
    )


def synthetic_context(wm: WorldModel, batch_size: int, context: int, dev: torch.device,
                      layout=lambda x: x) -> tuple[torch.Tensor, torch.Tensor]:
    """A sampling context in the agent's input space: encoded random frames and random actions."""
    with torch.no_grad():
        frames = wm.encode(layout(torch.rand(batch_size, context, 3, 64, 64, device=dev) * 2 - 1))
    return layout(frames), torch.randint(0, NUM_ACTIONS, (batch_size, context), device=dev)


def train_step(comp: Component, optimizer: torch.optim.Optimizer, batch: Batch, speed: SpeedConfig,
               dev: torch.device) -> None:
    """One update of one component, as the online loop does it."""
    optimizer.zero_grad(set_to_none=True)
    with speedlib.autocast(speed, dev):
        loss, _ = comp.loss(batch)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, comp.grad_clip)
    optimizer.step()


def time_policy_step(wm: WorldModel, ac: torch.nn.Module, speed: SpeedConfig, dev: torch.device, repeats: int,
                     warmup: int) -> Timing:
    """The model-side cost of collecting one env step: the run's own agent acting on one uint8 frame
    (to tensor, encode, actor-critic forward, sample). The emulator's time is not included."""
    from jedi_bench.train.collect import Agent

    agent = Agent(wm, ac, dev, speed.bf16)
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    state = agent.initial_state()
    wm.eval()
    ac.eval()
    try:
        return time_call(lambda: agent.act(frame, state, 0.0, rng), dev, repeats, warmup)
    finally:
        wm.train()
        ac.train()
