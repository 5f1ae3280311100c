"""A run config as plain data and back, generically over the dataclasses: :func:`from_dict` rebuilds a
RunConfig from its ``to_dict`` / ``config.yaml`` form, :func:`apply_overrides` applies ``--set`` strings.
Neither knows any section by name, so a new key or section needs no code here."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from jedi_bench.config.schema import RunConfig
from jedi_bench.config.variants import variant_config

VARIANT_HELP = (
    "a variant gets a section of its own with @register(name, config=SomeDataclass); "
    "see docs/adding_a_variant.md"
)


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its ``to_dict`` form (as stored in a run folder).

    Keys left out take their defaults, so a run folder written before a key was added still loads.
    Unknown keys raise one ValueError naming each of them and the keys its section has.
    ``world_model.variant`` is built with the dataclass its method registered (config/variants.py);
    while the method's module is not imported yet it stays a plain dict, which the registry types
    before the model is built.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a run config must be a mapping of keys and sections, got {type(data).__name__}")
    unknown: list[str] = []
    cfg = _build(RunConfig, data, "", variant_config(str(data.get("method", RunConfig.method))), unknown)
    _raise_unknown(unknown)
    return cfg


def section_from_dict(section: type | None, data: Any, path: str = "world_model.variant") -> Any:
    """A variant section from stored data: an instance of ``section`` (its defaults for None or ``{}``);
    without a registered ``section``, None for empty data and the data itself otherwise."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        if section is not None and not isinstance(data, section):
            raise ValueError(f"{path} must be a {section.__name__}, got a {type(data).__name__}")
        return data
    if section is None:
        return None if data in (None, {}) else dict(_mapping(data, path))
    unknown: list[str] = []
    built = _build(section, {} if data is None else data, path, None, unknown)
    _raise_unknown(unknown)
    return built


def _build(cls: type, data: Any, path: str, variant: type | None, unknown: list[str]) -> Any:
    """``cls`` from ``data``, recursively; each unknown key goes to ``unknown`` with its section's keys."""
    names = [f.name for f in dataclasses.fields(cls)]
    for key in _mapping(data, path):
        if key not in names:
            unknown.append(
                f"{_join(path, key)!r} ({f'section {path}' if path else 'the top level'} has "
                f"{', '.join(names)})"
            )
    defaults = cls()
    values = {name: None for name in names if _is_variant_section(cls, name)}  # absent: its defaults
    values.update((name, value) for name, value in data.items() if name in names)
    for name, value in values.items():
        key, default = _join(path, name), getattr(defaults, name)
        if _is_variant_section(cls, name):
            values[name] = section_from_dict(variant, value, key)
        elif dataclasses.is_dataclass(default):
            values[name] = _build(type(default), value, key, variant, unknown)
        else:
            values[name] = value
    return cls(**values)


def _raise_unknown(unknown: list[str]) -> None:
    if unknown:
        several = len(unknown) > 1
        raise ValueError(
            f"unknown config key{'s' if several else ''}: {'; '.join(unknown)}. A config "
            "written by another version of jedi-bench or edited by hand: remove or rename "
            f"{'them' if several else 'it'}"
        )


def _mapping(data: Any, path: str) -> Mapping:
    if not isinstance(data, Mapping):
        raise ValueError(f"config section {path or 'the run config'} must be a mapping of keys, got {data!r}")
    return data


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings (values parsed as YAML) and return a new config."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"bad override {item!r}: expected KEY=VALUE, e.g. train.batch_size=16")
        key, raw = item.split("=", 1)
        key = key.strip()
        target, leaf = _walk(cfg, key, item)
        value = yaml.safe_load(raw)
        current = getattr(target, leaf)
        if dataclasses.is_dataclass(current) or _is_variant_section(target, leaf):
            raise ValueError(f"bad override {item!r}: {key!r} is a section, set its keys instead")
        if isinstance(current, bool) and not isinstance(value, bool):
            raise ValueError(f"bad override {item!r}: {key} expects true/false")  # noqa: TRY004 (user input)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if current is not None and type(current) is not type(value):
            raise ValueError(
                f"bad override {item!r}: {key} expects {type(current).__name__}, got {type(value).__name__}"
            )
        setattr(target, leaf, value)
    return cfg


def _walk(cfg: RunConfig, key: str, item: str) -> tuple[Any, str]:
    """The dataclass holding ``key``'s last part, and that part; a ValueError names a wrong part."""
    target: Any = cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(target)}
        where = ".".join(parts[:depth]) or "the top level"
        if part not in fields:
            kind = "key" if depth == len(parts) - 1 else "section"
            raise ValueError(
                f"bad override {item!r}: unknown config {kind} {'.'.join(parts[: depth + 1])!r}; "
                f"{where} has {', '.join(fields)}"
            )
        if depth == len(parts) - 1:
            return target, part
        child = getattr(target, part)
        if _is_variant_section(target, part) and not dataclasses.is_dataclass(child):
            raise ValueError(
                f"bad override {item!r}: method {cfg.method!r} has no config section of its own "
                f"(world_model.variant is empty); {VARIANT_HELP}"
            )
        if not dataclasses.is_dataclass(child):
            raise ValueError(
                f"bad override {item!r}: {'.'.join(parts[: depth + 1])!r} is a value, not a section"
            )
        target = child
    raise AssertionError("unreachable: the loop returns at the last part")


def _is_variant_section(target: Any, name: str) -> bool:
    return any(f.name == name and f.metadata.get("variant_section") for f in dataclasses.fields(target))
