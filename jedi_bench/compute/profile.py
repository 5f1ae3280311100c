"""``jedi-bench profile``: what one method costs to train and to imagine with, on one device.

The agent is built by the function that builds a run's (:func:`jedi_bench.train.build.build_agent`: the
preset's sizes, 18 actions, Atari's full action set and the largest any game uses; its optimisers and
every speed switch), fed synthetic replay batches (no environment), and updated by the functions that
update a run's (:func:`jedi_bench.train.turns.run_turn`, in the turns of an epoch), so what is measured
is what trains. Measured, with warm-up excluded:

- one update (forward + backward + clip + optimizer step) of every component, timed inside the turn
  that runs it: ``denoiser_step``, ``reward_end_step``, ``actor_critic_step`` (which includes its
  15-step imagination), any other component as ``<name>_step``; the step of each shared parameter
  group as ``<group>_step`` (JEDI's ``encoder_step``, once per turn, as in training); and
  ``full_update``, their sum (DIAMOND's "one update");
- world-model sampling: one ``sample_next`` on ``batch_size`` contexts with the configured sampler;
- one policy step (encode + actor-critic forward, batch 1), the cost of collecting one env step;
- peak memory, parameters, and the projected hours of a full ``atari100k`` run
  (:mod:`jedi_bench.compute.projection`);
- the FLOPs of each component step and of sampling, and the FLOP/s they achieve as a fraction of a
  dense matmul's in the same dtype, timed in the same process before and after the steps (the faster
  counts, so a moment of contention does not lower the peak; :mod:`jedi_bench.compute.flops`). The
  counting call is an eager run of the full update and doubles as its first warm-up call; a shared
  group's step is an optimizer step, which counts no FLOPs.

Measure one method per process (the CPU peak RSS is the process's), all methods on the same device.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from jedi_bench import runinfo
from jedi_bench.compute.flops import FlopMeter, achieved, count_flops, matmul_peak
from jedi_bench.compute.memory import baseline_memory_mb, peak_memory_mb
from jedi_bench.compute.projection import ACTOR_CRITIC, projected_hours, update_counts
from jedi_bench.compute.timing import StepClock, Timing, time_call
from jedi_bench.config.run import PRESETS, RunConfig, SpeedConfig, preset
from jedi_bench.data.batch import Batch
from jedi_bench.runinfo import device_info, library_versions
from jedi_bench.train import speed as speedlib
from jedi_bench.train.build import AgentBuild, Models, build_agent
from jedi_bench.train.optim import implementation
from jedi_bench.train.turns import Measure, epoch_turns, run_turn, unmeasured
from jedi_bench.worldmodels.base import WorldModel
from jedi_bench.worldmodels.validation import validate_run_config

#: Atari's full action set; the minimal sets of the 26 games have at most 18 actions.
NUM_ACTIONS = 18


def profile(
    method: str,
    device: str,
    preset_name: str,
    batch_size: int,
    repeats: int,
    speed: SpeedConfig,
    progress: bool = True,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Build ``method`` at ``preset_name`` sizes on ``device`` and measure it; returns the report dict.
    ``warn`` hears what makes the measurement unrepresentative (bf16 on a CPU that only emulates it)."""
    dev, cfg = _validated(method, device, preset_name, batch_size, repeats, speed)
    if warning := speedlib.slow_bf16_warning(speed, dev, fix="leave out --bf16 to measure float32"):
        warn(warning)
    peak_dtype = torch.bfloat16 if speed.bf16 else torch.float32
    peak_first = matmul_peak(dev, peak_dtype)  # before the models, so its buffers are not in the peak memory
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    memory_before = baseline_memory_mb(dev)
    torch.manual_seed(0)

    build = build_agent(cfg, dev, NUM_ACTIONS)
    wm, ac = build.models.wm, build.models.actor_critic
    warmup = 1 if dev.type == "cpu" and not speed.compile else 3
    update = full_update(build, batch_size, dev)

    bar = tqdm(total=warmup + repeats + 2, desc=f"profile {method}", file=sys.stderr, disable=not progress)
    bar.set_postfix_str("full update")
    meter = FlopMeter()
    with speedlib.eager_sampling(wm):
        update(meter)  # counted eagerly: the first warm-up call
    bar.update()
    for _ in range(warmup - 1):
        update(unmeasured)
        bar.update()
    clock = StepClock(dev)
    for _ in range(repeats):
        update(clock)
        bar.update()
    steps = clock.timings()
    flops = {f"{name}_step": n for name, n in meter.flops.items()}

    bar.set_postfix_str("sampling")
    context, actions = synthetic_context(wm, batch_size, cfg.world_model.context, dev)
    with torch.no_grad(), speedlib.autocast(speed, dev):
        with speedlib.eager_sampling(wm):
            flops["sampling_step"] = count_flops(lambda: wm.sample_next(context, actions))
        sampling = time_call(lambda: wm.sample_next(context, actions), dev, repeats, warmup - 1)
    bar.update()

    bar.set_postfix_str("policy step")
    policy = time_policy_step(build.models, build.bf16, dev, repeats, warmup)
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
        "options": {
            "batch_size": batch_size,
            "bf16": speed.bf16,
            "channels_last": speed.channels_last,
            "compile": speed.compile,
            "cuda_graphs": speed.cuda_graphs,
            "preset": preset_name,
            "repeats": repeats,
        },
        "parameters": parameters,
        "timings_ms": timings,
        "timings_ms_minmax": minmax,
        "sampling": {
            "frames_per_s": batch_size * 1000.0 / sampling.median_ms,
            "ms_per_step": sampling.median_ms,
            "ms_per_step_minmax": [sampling.min_ms, sampling.max_ms],
            "sampler_steps": cfg.world_model.diffusion.num_steps,
            "sampler_order": cfg.world_model.diffusion.order,
        },
        "peak_memory_mb": peak_mb,
        "peak_memory_kind": peak_kind,
        "memory_before_models_mb": memory_before,
        "policy_step_ms": {"median": policy.median_ms, "min": policy.min_ms, "max": policy.max_ms},
        "cpu_time_ms": {
            **{f"{name}_step": t.cpu_median_ms for name, t in steps.items()},
            "full_update": sum(t.cpu_median_ms for t in steps.values()),
            "sampling_step": sampling.cpu_median_ms,
            "policy_step": policy.cpu_median_ms,
        },
        "flops": flops,
        "flops_achieved": achieved(
            flops, {**timings, "sampling_step": sampling.median_ms}, peak["flops_per_s"]
        ),
        "matmul_peak": peak,
        "projected_hours_atari100k": projected_hours(step_ms, policy.median_ms, full_schedule),
        "schedule_atari100k": dataclasses.asdict(update_counts(full_schedule)),
        "num_actions": NUM_ACTIONS,
        "code": runinfo.code_version(),
        "warmup": warmup,
        "optimizer": f"AdamW ({implementation(build.actor_critic_optimizer.optimizer)})",
    }


def full_update(build: AgentBuild, batch_size: int, dev: torch.device) -> Callable[[Measure], None]:
    """DIAMOND's "one update" as a run performs it: one update of each component in the turns of an epoch
    (:func:`epoch_turns`, one update each), each turn ending with its shared optimisers' steps; one
    synthetic batch per component, reused by every call."""
    batches = {o.name: synthetic_batch(batch_size, o.component.segment_length, dev) for o in build.optimizers}
    turns = epoch_turns(
        build.world_model_optimizers,
        build.actor_critic_optimizer,
        build.models.wm.interleave_components,
        1,
        1,
    )

    def update(measure: Measure) -> None:
        for turn in turns:
            run_turn(turn, build.shared_optimizers, lambda opt: batches[opt.name], 1, build.bf16, measure)

    return update


def _validated(
    method: str, device: str, preset_name: str, batch_size: int, repeats: int, speed: SpeedConfig
) -> tuple[torch.device, RunConfig]:
    """Check every input before anything is built; return the device and the run config to measure."""
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
        raise ValueError(
            f"--device {device} requested but CUDA is not available (torch "
            f"{torch.__version__}); use --device cpu, or install a CUDA build of torch"
        )
    cfg = preset(preset_name)
    cfg.method = method
    cfg.train.batch_size = batch_size
    cfg.agent.batch_size = batch_size
    cfg.speed = speed
    return dev, validate_run_config(cfg, dev)


def synthetic_batch(batch_size: int, seq_len: int, dev: torch.device) -> Batch:
    """Random replay segments with the shapes and dtypes of real ones (timing does not depend on values),
    on the device as a run's batches reach its updates."""
    return Batch(
        obs=torch.rand(batch_size, seq_len, 3, 64, 64, device=dev) * 2 - 1,
        act=torch.randint(0, NUM_ACTIONS, (batch_size, seq_len), device=dev),
        rew=torch.randint(-1, 2, (batch_size, seq_len), device=dev).float(),
        end=torch.rand(batch_size, seq_len, device=dev) < 0.05,
        trunc=torch.zeros(batch_size, seq_len, dtype=torch.bool, device=dev),
        mask=torch.ones(batch_size, seq_len, dtype=torch.bool, device=dev),
    )


def synthetic_context(
    wm: WorldModel, batch_size: int, context: int, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A sampling context in the agent's input space: encoded random frames and random actions."""
    with torch.no_grad():
        frames = wm.encode(torch.rand(batch_size, context, 3, 64, 64, device=dev) * 2 - 1)
    return frames, torch.randint(0, NUM_ACTIONS, (batch_size, context), device=dev)


def time_policy_step(models: Models, bf16: bool, dev: torch.device, repeats: int, warmup: int) -> Timing:
    """The model-side cost of collecting one env step: the run's own agent acting on one uint8 frame
    (to tensor, encode, actor-critic forward, sample). The emulator's time is not included."""
    agent = models.agent(dev, bf16)
    wm, ac = models.wm, models.actor_critic
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
