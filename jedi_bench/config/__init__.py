"""Every typed configuration of the suite, its presets and its checks: the ground floor, importing
nothing else of the suite."""

from jedi_bench.config.games import ATARI100K_GAMES, TEST_GAMES, check_game
from jedi_bench.config.run import (
    PRESETS,
    AgentConfig,
    EnvConfig,
    RunConfig,
    SpeedConfig,
    TrainConfig,
    apply_overrides,
    check_speed,
    dump_yaml,
    from_dict,
    preset,
    resolve,
)
from jedi_bench.config.variants import register_variant_config, variant_config
from jedi_bench.config.world_model import JEDI_ABLATIONS, DiffusionConfig, WorldModelConfig, require

__all__ = [
    "ATARI100K_GAMES",
    "JEDI_ABLATIONS",
    "PRESETS",
    "TEST_GAMES",
    "AgentConfig",
    "DiffusionConfig",
    "EnvConfig",
    "RunConfig",
    "SpeedConfig",
    "TrainConfig",
    "WorldModelConfig",
    "apply_overrides",
    "check_game",
    "check_speed",
    "dump_yaml",
    "from_dict",
    "preset",
    "register_variant_config",
    "require",
    "resolve",
    "variant_config",
]
