"""The command line: every option of every sub-command explains itself and shows its default."""

from __future__ import annotations

import argparse

import pytest

from jedi_bench import cli
from jedi_bench.config.run import PRESETS, preset


def sub_commands() -> dict[str, argparse.ArgumentParser]:
    (subparsers,) = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def test_every_command_is_listed_with_a_line_of_help():
    (subparsers,) = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {a.dest: a.help for a in subparsers._choices_actions}
    assert set(listed) == set(sub_commands()) and all(listed.values())


@pytest.mark.parametrize("name", sorted(sub_commands()))
def test_every_option_has_help_and_shows_its_default(name):
    parser = sub_commands()[name]
    formatter = parser._get_formatter()
    assert parser.description
    for action in options(parser):
        label = f"{name} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and action.help.strip(), f"{label} has no help"
        shown = formatter._get_help_string(action)
        default = action.default
        if not action.required and default not in (None, [], argparse.SUPPRESS) and default is not False:
            assert "default" in shown, f"{label} does not show its default {default!r}"
    text = parser.format_help()
    assert "%(" not in text and "(default: None)" not in text and "(default: False)" not in text


def test_defaults_appear_once_in_the_help():
    text = sub_commands()["env-check"].format_help()
    assert text.count("default") == 2 and "(default: 1000)" in text and "(default: 0)" in text


def test_evaluate_help_states_the_episode_cap_the_presets_set():
    text = " ".join(sub_commands()["evaluate"].format_help().split())
    assert "train.eval_max_agent_steps" in text
    capped = {p: preset(p).train.eval_max_agent_steps for p in PRESETS}
    assert f"the smoke preset sets {capped['smoke']};" in text
    assert {p for p, cap in capped.items() if cap} == {"smoke"}
    assert "catch, dev and atari100k play full games" in text


def test_an_error_without_a_message_still_says_what_failed(monkeypatch, capsys):
    from jedi_bench.commands import games

    def fails():
        raise ValueError()

    monkeypatch.setattr(games, "print_games", fails)
    assert cli.main(["games"]) == 2
    assert capsys.readouterr().err == "jedi-bench games: error: ValueError\n"
