"""The registry that names world-model variants: ``@register("name")`` on a :class:`WorldModel`
subclass (with ``config=SomeDataclass`` for a variant with hyperparameters of its own), and the checks
and builders that look names up (plugins from ``JEDI_BENCH_PLUGINS`` included)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from collections.abc import Callable

from jedi_bench.config.dicts import section_from_dict
from jedi_bench.config.variants import register_variant_config, variant_config
from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.worldmodels.base import WorldModel

REGISTRY: dict[str, type[WorldModel]] = {}


def register(name: str, config: type | None = None) -> Callable[[type[WorldModel]], type[WorldModel]]:
    """Register a variant under ``name``. ``config``: a dataclass of the variant's own hyperparameters
    (each with a default); runs carry it as ``world_model.variant``, ``--set world_model.variant.KEY=VALUE``
    sets it and the model reads it as ``cfg.variant``."""

    def deco(cls: type[WorldModel]) -> type[WorldModel]:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"world model {name!r} is already registered")
        if config is not None:
            register_variant_config(name, config)
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def check_method(name: str) -> str:
    _load_builtin()
    if name not in REGISTRY:
        raise ValueError(
            f"unknown method {name!r}; known methods: {', '.join(sorted(REGISTRY))} (a variant "
            "of your own: name its module in JEDI_BENCH_PLUGINS, see docs/adding_a_variant.md)"
        )
    return name


def typed_variant(method: str, section: object) -> object:
    """``method``'s own config section, typed: its registered dataclass (defaults for None) or None.
    Raises a ValueError for keys the dataclass lacks, or for a section of a method that has none."""
    check_method(method)
    expected = variant_config(method)
    if expected is None and section not in (None, {}):
        raise ValueError(
            f"world_model.variant is set ({section!r}), but method {method!r} has no config "
            "section of its own: leave world_model.variant empty"
        )
    return section_from_dict(expected, section)


def make_world_model(method: str, cfg: WorldModelConfig, num_actions: int) -> WorldModel:
    """Build ``method`` from ``cfg``; its own section reaches the constructor typed, as ``cfg.variant``."""
    section = typed_variant(method, cfg.variant)
    if section is not cfg.variant:  # a copy, so that the caller's config is left as it was
        cfg = dataclasses.replace(cfg, variant=section)
    cfg.validate()
    return REGISTRY[method](cfg, num_actions)


def available_methods() -> list[str]:
    _load_builtin()
    return sorted(REGISTRY)


def _load_builtin() -> None:
    """Import the modules named in ``JEDI_BENCH_PLUGINS`` (the built-in variants register themselves
    when :mod:`jedi_bench.worldmodels` is imported)."""
    for module in filter(None, (m.strip() for m in os.environ.get("JEDI_BENCH_PLUGINS", "").split(","))):
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(
                f"JEDI_BENCH_PLUGINS names module {module!r}, which cannot be imported: {e}"
            ) from e
