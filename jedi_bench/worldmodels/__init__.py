"""World-model variants behind one interface, the registry that names them, and the one validation
path of a run config (:mod:`jedi_bench.worldmodels.validation`).

To add a variant, write one module with a :class:`WorldModel` subclass decorated with
``@register("my-variant")`` (``@register("my-variant", config=MyVariantConfig)`` when it has
hyperparameters of its own) and either import it below or name it in the environment variable
``JEDI_BENCH_PLUGINS`` (comma-separated module names, importable from the working directory or the
Python path): the CLI, the workflow and the analysis then know the variant by its registered name.
docs/adding_a_variant.md shows both kinds.
"""

from __future__ import annotations

from jedi_bench.config.world_model import DiffusionConfig, WorldModelConfig
from jedi_bench.worldmodels import ae_latent, diamond, jedi  # noqa: F401  (the built-in variants register)
from jedi_bench.worldmodels.base import Component, ParamGroup, RewardEndModel, WorldModel
from jedi_bench.worldmodels.registry import (
    REGISTRY,
    available_methods,
    check_method,
    make_world_model,
    register,
)
from jedi_bench.worldmodels.validation import (
    check_speed_on,
    compile_problem,
    load_run_config,
    resolve_run_config,
    validate_run_config,
)

__all__ = [
    "REGISTRY",
    "Component",
    "DiffusionConfig",
    "ParamGroup",
    "RewardEndModel",
    "WorldModel",
    "WorldModelConfig",
    "available_methods",
    "check_method",
    "check_speed_on",
    "compile_problem",
    "load_run_config",
    "make_world_model",
    "register",
    "resolve_run_config",
    "validate_run_config",
]
