"""World-model variants behind one interface, and the registry that names them.

To add a variant, write one module with a :class:`WorldModel` subclass decorated with
``@register("my-variant")`` and import it below (or from your own code before training).
"""

from __future__ import annotations

from typing import Callable

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


__all__ = ["Component", "ParamGroup", "RewardEndModel", "WorldModel", "WorldModelConfig", "DiffusionConfig",
           "REGISTRY", "register", "check_method", "make_world_model", "available_methods"]
