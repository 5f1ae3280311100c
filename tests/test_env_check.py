"""``jedi-bench env-check`` through the CLI entry point: output, flags and error exits."""

import re

import pytest

from jedi_bench.cli import main
from jedi_bench.commands.env_check import env_check, run_random_policy


def test_env_check_on_catch_prints_every_finished_episode(capsys):
    assert main(["env-check", "--game", "Catch", "--steps", "50", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "finished episodes: 7" in out  # 7 steps per Catch episode
    returns = re.search(r"episode returns: (.*)", out).group(1).split(", ")
    assert len(returns) == 7 and set(returns) <= {"1", "-1"}
    assert "action-set size: 3" in out
    assert re.search(r"agent steps per second: \d+", out)
    assert "gymnasium" in out and "ale-py" in out


def test_env_check_on_atari_with_flags(capsys):
    args = ["env-check", "--game", "Breakout", "--steps", "40", "--test-mode", "--stochastic-frameskip"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "action-set size: 4" in out
    assert "test (life loss not terminal)" in out and "random in [2, 6]" in out


def test_random_policy_counts_life_losses_as_episodes_only_in_training():
    train = run_random_policy("Breakout", 400, seed=0, progress=False)
    test = run_random_policy("Breakout", 400, seed=0, test_mode=True, progress=False)
    assert len(train["returns"]) > len(test["returns"])
    assert train["num_actions"] == 4


def test_env_check_errors_exit_2_with_a_clear_message(capsys):
    assert main(["env-check", "--game", "Pacman", "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert "unknown game 'Pacman'" in err and "Breakout" in err and "UpNDown" in err
    assert main(["env-check", "--game", "Catch", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--steps"):
        env_check("Catch", steps=-5, seed=0, test_mode=False, stochastic_frameskip=False)


def test_env_check_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["env-check", "--help"])
    assert exc.value.code == 0
    assert "--stochastic-frameskip" in capsys.readouterr().out
