"""A user's own variant, named in JEDI_BENCH_PLUGINS, is a method like the built-in ones."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


#: a run of a few seconds (the smoke preset, shortened further)
SHORT = [
    "train.total_env_steps=200",
    "train.initial_collect_steps=100",
    "train.initial_collect_max=100",
    "train.final_train_epochs=0",
    "train.final_eval_episodes=1",
    "train.test_episodes=0",
]


@pytest.mark.slow
def test_example_plugin_trains_through_the_cli(tmp_path):
    env = {**os.environ, "JEDI_BENCH_PLUGINS": "examples.jedi_full_lr", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    overrides = SHORT
    cmd = [
        sys.executable,
        "-m",
        "jedi_bench.cli",
        "train",
        "--method",
        "jedi-full-lr",
        "--game",
        "Catch",
        "--preset",
        "smoke",
        "--out",
        str(out),
    ] + [a for o in overrides for a in ("--set", o)]
    r = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    scores = json.loads((out / "scores.json").read_text())
    assert scores["method"] == "jedi-full-lr" and scores["env_steps"] == 200


def test_unimportable_plugin_is_a_clear_error(monkeypatch):
    from jedi_bench.worldmodels import check_method

    monkeypatch.setenv("JEDI_BENCH_PLUGINS", "no_such_module_xyz")
    with pytest.raises(ValueError, match="no_such_module_xyz"):
        check_method("jedi")


def test_example_variant_changes_only_the_learning_rates():
    from jedi_bench.config.run import preset
    from jedi_bench.worldmodels import make_world_model

    os.environ.setdefault("JEDI_BENCH_PLUGINS", "")
    sys.path.insert(0, str(ROOT))
    import examples.jedi_full_lr  # noqa: F401

    cfg = preset("catch").world_model

    def scales(method):
        return [g.lr_scale for c in make_world_model(method, cfg, 3).components() for g in c.param_groups]

    jedi, variant = scales("jedi"), scales("jedi-full-lr")
    assert [(a, b) for a, b in zip(jedi, variant, strict=True) if a != b] == [(cfg.encoder_lr_scale, 1.0)] * 2
    assert cfg.rew_end_lr_scale in variant
