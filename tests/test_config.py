"""The typed config: the generic dict round trip, ``--set`` overrides, and the one validation path
(jedi_bench.worldmodels.validation) with the speed switches checked against the device."""

from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from jedi_bench.config import SpeedConfig, check_speed
from jedi_bench.config.run import (
    PRESETS,
    apply_overrides,
    dump_yaml,
    from_dict,
    preset,
    resolve,
    stored_config_differences,
)
from jedi_bench.worldmodels import compile_problem, load_run_config, resolve_run_config, validate_run_config


def stored(cfg) -> dict:
    return yaml.safe_load(dump_yaml(cfg))


@pytest.mark.parametrize("name", PRESETS)
def test_from_dict_rebuilds_every_preset(name):
    overrides = ["world_model.diffusion.order=2", "agent.channels=[4, 4, 8, 8]"]
    cfg = resolve("ae-latent", "Catch", 3, name, overrides)
    back = from_dict(stored(cfg))
    assert back == cfg and dump_yaml(back) == dump_yaml(cfg)
    assert math.isinf(back.world_model.diffusion.s_tmax)  # YAML's .inf comes back as a float


def test_missing_keys_and_sections_take_their_defaults():
    data = stored(preset("smoke"))
    del data["speed"], data["train"]["lr"], data["world_model"]["diffusion"]["rho"]
    back = from_dict(data)
    assert back.speed == SpeedConfig() and back.train.lr == 1e-4 and back.world_model.diffusion.rho == 7.0
    assert back.train.batch_size == preset("smoke").train.batch_size


def test_unknown_keys_are_all_named_with_the_keys_their_section_has():
    data = stored(preset("smoke"))
    data["trian"] = {}
    data["train"]["batchsize"] = 3
    data["world_model"]["diffusion"]["steps"] = 2
    with pytest.raises(ValueError) as err:
        from_dict(data)
    text = str(err.value)
    assert text.startswith("unknown config keys: ")
    for key in (
        "'trian' (the top level has method, game",
        "'train.batchsize' (section train has total_env_steps",
        "'world_model.diffusion.steps' (section world_model.diffusion has sigma_data",
    ):
        assert key in text, text
    assert "remove or rename them" in text


@pytest.mark.parametrize(
    "data, match",
    [
        ([1, 2], "a run config must be a mapping"),
        ({"train": 3}, "config section train must be a mapping of keys, got 3"),
        ({"world_model": {"diffusion": None}}, "config section world_model.diffusion must be a mapping"),
    ],
)
def test_malformed_configs_are_refused(data, match):
    with pytest.raises(ValueError, match=match):
        from_dict(data)


def test_a_stored_config_with_a_key_this_code_lacks_is_compared_as_stored():
    cfg = resolve("jedi", "Catch", 0, "smoke")
    data = stored(cfg)
    data["train"]["retired_option"] = 1
    assert stored_config_differences(data, cfg) == ["train.retired_option (stored 1, requested '<missing>')"]


@pytest.mark.parametrize(
    "override, match",
    [
        ("train.batch_size", "expected KEY=VALUE"),
        ("train.batchsize=3", r"unknown config key 'train.batchsize'; train has total_env_steps"),
        ("trian.batch_size=3", r"unknown config section 'trian'; the top level has method"),
        ("train.batch_size.x=3", r"'train.batch_size' is a value, not a section"),
        ("world_model.diffusion=3", "is a section, set its keys instead"),
        ("speed.bf16=1", "speed.bf16 expects true/false"),
        ("train.batch_size=2.5", "train.batch_size expects int, got float"),
    ],
)
def test_bad_overrides_say_what_is_wrong(override, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(preset("smoke"), [override])


def test_an_int_sets_a_float_key():
    assert apply_overrides(preset("smoke"), ["train.lr=1"]).train.lr == 1.0


def test_cuda_graphs_fail_on_a_known_non_cuda_device():
    cuda_graphs = ["speed.cuda_graphs=true"]
    resolve("jedi", "Catch", 0, "smoke", cuda_graphs)  # the device is not known here
    for check in (
        lambda: resolve("jedi", "Catch", 0, "smoke", cuda_graphs, device="cpu"),
        lambda: resolve_run_config("jedi", "Catch", 0, "smoke", cuda_graphs, device="cpu"),
    ):
        with pytest.raises(ValueError, match=r"cuda_graphs needs a CUDA device.*speed.cuda_graphs=false"):
            check()
    assert resolve_run_config("jedi", "Catch", 0, "smoke", cuda_graphs, device="cuda:1").speed.cuda_graphs


def test_compile_fails_where_torch_compile_cannot_work(monkeypatch):
    with pytest.raises(
        ValueError,
        match=r"speed.compile is on, but torch.compile cannot work on device "
        r"'cpu' here: no compiler\. Turn it off \(train: --set "
        r"speed.compile=false",
    ):
        check_speed(SpeedConfig(compile=True), "cpu", compile_problem="no compiler")
    check_speed(SpeedConfig(compile=False), "cpu", compile_problem="no compiler")

    import torch._inductor.cpp_builder as cpp_builder

    def no_compiler():
        raise RuntimeError("none")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    assert "needs a C++ compiler" in compile_problem("cpu")
    with pytest.raises(ValueError, match="install g\\+\\+"):
        resolve_run_config("jedi", "Catch", 0, "smoke", ["speed.compile=true"], device="cpu")
    resolve_run_config("jedi", "Catch", 0, "smoke", ["speed.compile=true"])  # no device: nothing to probe


def test_the_validation_path_checks_methods_and_values():
    with pytest.raises(ValueError, match="unknown method 'dreamer'; known methods: ae-latent, .*PLUGINS"):
        resolve_run_config("dreamer", "Catch", 0, "smoke")
    with pytest.raises(ValueError, match="unknown game 'Pacman'"):
        resolve_run_config("jedi", "Pacman", 0, "smoke")
    with pytest.raises(ValueError, match="unknown preset 'tiny'"):
        resolve_run_config("jedi", "Catch", 0, "tiny")
    with pytest.raises(ValueError, match="agent.lr_scale must be > 0"):
        resolve_run_config("jedi", "Catch", 0, "smoke", ["agent.lr_scale=0"])
    cfg = dataclasses.replace(resolve("jedi", "Catch", 0, "smoke"), method="dreamer")
    with pytest.raises(ValueError, match="unknown method 'dreamer'"):
        validate_run_config(cfg)
    data = stored(resolve("jedi", "Catch", 0, "smoke"))
    data["agent"]["gamma"] = 2.0
    with pytest.raises(ValueError, match=r"agent.gamma must be in \(0, 1\]"):
        load_run_config(data)


def test_the_train_command_refuses_cuda_graphs_on_the_cpu_before_any_work(tmp_path):
    from jedi_bench.commands.train import train

    with pytest.raises(ValueError, match="speed.cuda_graphs needs a CUDA device, but the device is 'cpu'"):
        train(
            "jedi",
            "Catch",
            0,
            "smoke",
            str(tmp_path / "run"),
            "cpu",
            ["speed.cuda_graphs=true"],
            progress=False,
        )
    assert not (tmp_path / "run").exists()
