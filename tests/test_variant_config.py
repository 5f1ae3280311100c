"""A variant's own config section: registered with the model in one file, carried by every run as
``world_model.variant``, set with ``--set``, stored in config.yaml, rebuilt from it, and handed to the
model's constructor. The example is examples/jedi_wider.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from test_plugins import SHORT  # noqa: E402  (a run of a few seconds)

from examples.jedi_wider import JediWiderConfig  # noqa: E402  (importing it registers jedi-wider)
from jedi_bench.config import register_variant_config, variant_config  # noqa: E402
from jedi_bench.config.run import dump_yaml, from_dict, resolve, stored_config_differences  # noqa: E402
from jedi_bench.worldmodels import (  # noqa: E402
    load_run_config,
    make_world_model,
    register,
    resolve_run_config,
    validate_run_config,
)
from jedi_bench.worldmodels.jedi import JediWorldModel  # noqa: E402


def stored(cfg) -> dict:
    return yaml.safe_load(dump_yaml(cfg))


def denoiser_width(wm) -> int:
    return wm.state_dict()["dynamics.net.conv_in.weight"].shape[0]


def test_the_section_starts_at_its_defaults_and_overrides_set_it():
    cfg = resolve_run_config("jedi-wider", "Catch", 0, "smoke")
    assert variant_config("jedi-wider") is JediWiderConfig
    assert cfg.world_model.variant == JediWiderConfig(width=2)
    assert stored(cfg)["world_model"]["variant"] == {"width": 2}
    wider = resolve_run_config("jedi-wider", "Catch", 0, "smoke", ["world_model.variant.width=3"])
    assert wider.world_model.variant.width == 3


def test_the_constructor_receives_the_section():
    channels = resolve("jedi", "Catch", 0, "smoke").world_model.latent_denoiser_channels
    for width in (2, 3):
        cfg = resolve_run_config("jedi-wider", "Catch", 0, "smoke", [f"world_model.variant.width={width}"])
        wm = make_world_model(cfg.method, cfg.world_model, 3)
        assert wm.cfg.variant == JediWiderConfig(width=width)
        assert denoiser_width(wm) == width * channels
    assert cfg.world_model.latent_denoiser_channels == channels  # the run's config is left as it was


def test_from_dict_rebuilds_the_section_typed():
    cfg = resolve_run_config("jedi-wider", "Catch", 0, "smoke", ["world_model.variant.width=4"])
    back = from_dict(stored(cfg))
    assert back == cfg and isinstance(back.world_model.variant, JediWiderConfig)
    assert load_run_config(stored(cfg)) == cfg


def test_a_section_stored_before_its_module_was_imported_is_typed_by_the_registry(monkeypatch):
    """``evaluate`` reads config.yaml before plugins load: the section stays a dict until the model is
    built."""
    data = stored(resolve_run_config("jedi-wider", "Catch", 0, "smoke", ["world_model.variant.width=3"]))
    from jedi_bench.config import variants

    monkeypatch.delitem(variants.VARIANT_CONFIGS, "jedi-wider")
    untyped = from_dict(data).validate()
    assert untyped.world_model.variant == {"width": 3}
    monkeypatch.setitem(variants.VARIANT_CONFIGS, "jedi-wider", JediWiderConfig)
    wm = make_world_model(untyped.method, untyped.world_model, 3)
    assert wm.cfg.variant == JediWiderConfig(width=3)
    assert validate_run_config(untyped).world_model.variant == JediWiderConfig(width=3)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["world_model.variant.width=0"], "world_model.variant.width must be an integer >= 1"),
        (
            ["world_model.variant.depth=3"],
            r"unknown config key 'world_model.variant.depth'; world_model.variant has width",
        ),
        (["world_model.variant.width=wide"], "width expects int, got str"),
        (["world_model.variant={}"], "is a section, set its keys instead"),
    ],
)
def test_bad_section_values_are_named(overrides, match):
    with pytest.raises(ValueError, match=match):
        resolve_run_config("jedi-wider", "Catch", 0, "smoke", overrides)


def test_methods_without_a_section_refuse_one():
    with pytest.raises(ValueError, match="method 'jedi' has no config section of its own"):
        resolve_run_config("jedi", "Catch", 0, "smoke", ["world_model.variant.width=3"])
    data = stored(resolve("jedi", "Catch", 0, "smoke"))
    data["world_model"]["variant"] = {"width": 3}
    with pytest.raises(ValueError, match="method 'jedi' has no config section of its own"):
        load_run_config(data)


def test_a_stored_config_without_the_section_equals_its_defaults_or_none():
    """Run folders written before sections existed, or before a variant got one, still resume."""
    for method in ("jedi", "jedi-wider"):
        cfg = resolve_run_config(method, "Catch", 0, "smoke")
        for old in (None, {}, "absent"):
            data = stored(cfg)
            if old == "absent":
                del data["world_model"]["variant"]
            else:
                data["world_model"]["variant"] = old
            assert stored_config_differences(data, cfg) == [], (method, old)
    changed = resolve_run_config("jedi-wider", "Catch", 0, "smoke", ["world_model.variant.width=3"])
    data = stored(resolve_run_config("jedi-wider", "Catch", 0, "smoke"))
    assert stored_config_differences(data, changed) == ["world_model.variant.width (stored 2, requested 3)"]


def test_a_section_of_another_variant_is_refused():
    @dataclass
    class Other:
        width: int = 2

    cfg = resolve_run_config("jedi-wider", "Catch", 0, "smoke")
    cfg.world_model.variant = Other()
    with pytest.raises(ValueError, match="world_model.variant must be a JediWiderConfig, got a Other"):
        make_world_model(cfg.method, cfg.world_model, 3)
    with pytest.raises(ValueError, match="variant of method 'jedi-wider' must be a JediWiderConfig"):
        cfg.validate()


def test_a_section_must_be_a_dataclass_with_defaults():
    @dataclass
    class NoDefault:
        depth: int

    with pytest.raises(ValueError, match="every field a default.*no default: depth"):
        register_variant_config("no-default", NoDefault)
    with pytest.raises(ValueError, match="must be a dataclass class"):
        register("not-a-dataclass", config=dict)(type("NotRegistered", (JediWorldModel,), {}))


@pytest.mark.slow
def test_example_variant_trains_through_the_cli_with_its_section_set(tmp_path):
    env = {**os.environ, "JEDI_BENCH_PLUGINS": "examples.jedi_wider", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"

    def train(*overrides: str) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            "jedi_bench.cli",
            "train",
            "--method",
            "jedi-wider",
            "--game",
            "Catch",
            "--preset",
            "smoke",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
        cmd += [a for o in [*SHORT, *overrides] for a in ("--set", o)]
        return subprocess.run(
            cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    r = train("world_model.variant.width=3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "scores.json").read_text())["method"] == "jedi-wider"
    assert yaml.safe_load((out / "config.yaml").read_text())["world_model"]["variant"] == {"width": 3}
    models = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)["models"]
    assert models["world_model"]["dynamics.net.conv_in.weight"].shape[0] == 3 * 32  # smoke: 32 channels

    r = train("world_model.variant.width=2")  # the stored section is part of the run
    assert r.returncode == 2 and "world_model.variant.width (stored 3, requested 2)" in r.stderr
    r = train("world_model.variant.width=3")
    assert r.returncode == 0 and "finished run" in r.stdout
