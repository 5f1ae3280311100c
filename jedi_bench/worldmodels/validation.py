"""The one validation path of a run config: every entry point (``train``, ``learning-check``, the
workflow's config check, ``profile``, commands reading a stored ``config.yaml``) checks through here.

It sits beside the registry because it must see which methods and variant sections exist, which the
config layer below cannot; the value checks themselves stay with the config (``RunConfig.validate``),
and the speed-switch rules with :func:`jedi_bench.config.speed.check_speed`, fed the device here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jedi_bench.config.dicts import from_dict
from jedi_bench.config.run import RunConfig, resolve
from jedi_bench.config.speed import SpeedConfig, check_speed
from jedi_bench.worldmodels.registry import check_method, typed_variant


def validate_run_config(cfg: RunConfig, device: Any = None) -> RunConfig:
    """Check ``cfg`` completely and return it: the method is registered (plugins loaded), its
    ``world_model.variant`` section is the one it registered (typed in place from stored data), every
    value is valid, and with ``device`` (a name or torch.device) the speed switches can run there.
    Raises a ValueError naming the first problem and what to do."""
    check_method(cfg.method)
    cfg.world_model.variant = typed_variant(cfg.method, cfg.world_model.variant)
    cfg.validate()
    if device is not None:
        check_speed_on(cfg.speed, device)
    return cfg


def resolve_run_config(
    method: str,
    game: str,
    seed: int,
    preset_name: str,
    overrides: list[str] | None = None,
    device: Any = None,
) -> RunConfig:
    """The config of a new run from a preset and ``--set`` overrides, checked by
    :func:`validate_run_config` (the method first, so that a plugin's section is known to the overrides)."""
    check_method(method)
    return validate_run_config(resolve(method, game, seed, preset_name, overrides), device)


def load_run_config(data: Mapping[str, Any], device: Any = None) -> RunConfig:
    """A stored config (a run folder's ``config.yaml``, loaded) rebuilt and checked. Pass ``device``
    only to train the run on it again: a run read back to be evaluated or watched runs without the
    switches its device cannot (:func:`jedi_bench.train.build.runnable_speed`)."""
    if isinstance(data, Mapping) and isinstance(data.get("method"), str):
        check_method(data["method"])  # loads plugins, so that from_dict types their section
    return validate_run_config(from_dict(data), device)


def check_speed_on(speed: SpeedConfig, device: Any) -> None:
    """The speed switches against ``device``, torch.compile's availability there included."""
    check_speed(speed, device, compile_problem(device) if speed.compile else None)


def compile_problem(device: Any) -> str | None:
    """Why torch.compile cannot work on ``device`` in this installation, or None when it can: the
    checks torch's inductor makes at the first compiled call, made before any model is built (they use
    torch internals: where those moved, nothing is reported and the first compiled call tells)."""
    import torch

    kind = str(device).split(":")[0]
    try:
        from torch._dynamo import is_dynamo_supported
        from torch._inductor.cpp_builder import get_cpp_compiler
        from torch.utils._triton import has_triton
    except ImportError:
        return None
    if not is_dynamo_supported():
        return f"torch {torch.__version__} does not support torch.compile on this Python or platform"
    if kind == "cuda" and not has_triton():
        return "Triton, which torch.compile needs to generate GPU kernels, is not installed"
    if kind == "cpu":
        try:
            get_cpp_compiler()
        except Exception as e:  # noqa: BLE001 (torch's InvalidCxxCompiler and whatever the search raises)
            return (
                f"it needs a C++ compiler for the CPU and finds none that runs ({type(e).__name__}); "
                "install g++, or name a compiler in the CXX environment variable"
            )
    return None
