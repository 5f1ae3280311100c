"""Each world-model variant's own config section, by method name.

``@register("name", config=SomeDataclass)`` (:mod:`jedi_bench.worldmodels.registry`) files the dataclass
here, so that the config layer can fill in the section's defaults, rebuild it from a stored
``config.yaml`` and check it without importing the variants themselves (config is the ground floor).
"""

from __future__ import annotations

import dataclasses

#: method name -> the dataclass of its ``world_model.variant`` section (methods without one are absent)
VARIANT_CONFIGS: dict[str, type] = {}


def register_variant_config(method: str, section: type) -> None:
    """File ``section`` as ``method``'s config section; it must be a dataclass whose fields all have
    defaults, since a run that sets none of them gets exactly those."""
    if not (isinstance(section, type) and dataclasses.is_dataclass(section)):
        raise ValueError(
            f"the config section of variant {method!r} must be a dataclass class, got {section!r}"
        )
    missing = [
        f.name
        for f in dataclasses.fields(section)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(
            f"the config section {section.__name__} of variant {method!r} must give every field "
            f"a default (a run that sets none gets them); no default: {', '.join(missing)}"
        )
    known = VARIANT_CONFIGS.get(method)
    if known is not None and known is not section:
        raise ValueError(f"variant {method!r} already has the config section {known.__name__}")
    VARIANT_CONFIGS[method] = section


def variant_config(method: str) -> type | None:
    """The dataclass of ``method``'s own section, or None when it registered none (or is not imported)."""
    return VARIANT_CONFIGS.get(method)
