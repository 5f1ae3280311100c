"""World-model variants behind one interface, and the registry that names them.

To add a variant, write one module with a :class:`WorldModel` subclass decorated with
``@register("my-variant")`` and either import it below or name it in the environment variable
``JEDI_BENCH_PLUGINS`` (comma-separated module names, importable from the working directory or the
Python path): the CLI, the workflow and the analysis then know the variant by its registered name.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from jedi_bench.worldmodels.base import Component, ParamGroup, RewardEndModel, WorldModel
from jedi_bench.worldmodels.config import DiffusionConfig, WorldModelConfig

REGISTRY: dict[str, type[WorldModel]] = {}


def register(name: str) -> Callable[[type[WorldModel]], type[WorldModel]]:
    def deco(cls: type[WorldModel]) -> type[WorldModel]:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"world model {name!r} is already registered")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def check_method(name: str) -> str:
    _load_builtin()
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(REGISTRY))}")
    return name


def make_world_model(method: str, cfg: WorldModelConfig, num_actions: int) -> WorldModel:
    check_method(method)
    cfg.validate()
    return REGISTRY[method](cfg, num_actions)


def available_methods() -> list[str]:
    _load_builtin()
    return sorted(REGISTRY)


def _load_builtin() -> None:
    # Imported lazily so that `jedi-bench games` does not pay for building torch modules.
    from jedi_bench.worldmodels import ae_latent, diamond, jedi  # noqa: F401

    for module in filter(None, (m.strip() for m in os.environ.get("JEDI_BENCH_PLUGINS", "").split(","))):
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"JEDI_BENCH_PLUGINS names module {module!r}, which cannot be imported: {e}") from e


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
    "make_world_model",
    "register",
]
