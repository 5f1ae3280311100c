"""A run's configuration resolved from a preset and ``--set`` overrides, written as YAML, and compared
with the config a run folder already holds.

The typed sections are in config/schema.py, the presets in config/presets.py, the dict round trip and
overrides in config/dicts.py; their names are importable from here too. The ``atari100k`` preset is the
paper protocol (docs/protocol.md); the other presets only shrink sizes and counts.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml

from jedi_bench.config.dicts import apply_overrides, from_dict
from jedi_bench.config.presets import PRESETS, preset
from jedi_bench.config.schema import AgentConfig, EnvConfig, RunConfig, TrainConfig
from jedi_bench.config.speed import SpeedConfig, check_speed
from jedi_bench.config.variants import variant_config

__all__ = [
    "PRESETS",
    "AgentConfig",
    "EnvConfig",
    "RunConfig",
    "SpeedConfig",
    "TrainConfig",
    "apply_overrides",
    "check_same_config",
    "check_speed",
    "config_differences",
    "dump_yaml",
    "from_dict",
    "preset",
    "resolve",
    "stored_config_differences",
]


def resolve(
    method: str,
    game: str,
    seed: int,
    preset_name: str,
    overrides: list[str] | None = None,
    device: object = None,
) -> RunConfig:
    """Build and validate the config of one run; raises ValueError naming what is wrong.

    The method's own section (``world_model.variant``) starts at its registered defaults, so ``--set
    world_model.variant.KEY=VALUE`` can change it. With ``device`` the speed switches are checked against
    it. Method names are the registry's to check: entry points call
    :func:`jedi_bench.worldmodels.validation.resolve_run_config`, which does both.
    """
    cfg = preset(preset_name)
    cfg.method, cfg.game, cfg.seed = method, game, seed
    section = variant_config(method)
    cfg.world_model.variant = section() if section is not None else None
    cfg = apply_overrides(cfg, overrides or [])
    return cfg.validate(device)


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def config_differences(stored: dict, requested: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    diffs = []
    for key in sorted(set(stored) | set(requested)):
        a, b = stored.get(key, "<missing>"), requested.get(key, "<missing>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, name + ".")
        elif a != b:
            diffs.append(f"{name} (stored {a!r}, requested {b!r})")
    return diffs


def stored_config_differences(stored: dict, cfg: RunConfig) -> list[str]:
    """Dotted keys where a stored config (a run's config.yaml or checkpoint) differs from ``cfg``.

    Keys added to the config since the run started take their defaults, as loading the run does, so
    adding an option does not make every earlier run unresumable; a stored config without a
    ``world_model.variant`` section equals one with an empty section or the method's defaults.
    """
    with contextlib.suppress(ValueError):  # a key the code no longer knows: compare as stored, which names it
        stored = yaml.safe_load(dump_yaml(from_dict(stored)))
    return config_differences(stored, yaml.safe_load(dump_yaml(cfg)))


def check_same_config(run_dir: Path, cfg: RunConfig) -> None:
    diffs = stored_config_differences(yaml.safe_load((run_dir / "config.yaml").read_text()), cfg)
    if diffs:
        raise ValueError(
            f"{run_dir} holds a run with a different config; it cannot be resumed with the "
            f"requested one. Differing keys: {'; '.join(diffs)}. Use another --out or the "
            f"stored settings."
        )
