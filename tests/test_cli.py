"""The command line: every option of every sub-command explains itself and shows its default."""

from __future__ import annotations

import argparse
import re

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


@pytest.mark.parametrize("name", sorted(sub_commands()))
def test_each_default_is_stated_once_in_its_options_entry_with_its_value(name):
    """The formatter appends ``(default: value)`` only where the option's help does not state a default
    itself, so no entry says it twice; and defaults appear nowhere but in the options' entries."""
    parser = sub_commands()[name]
    formatter = parser._get_formatter()
    text = " ".join(parser.format_help().split())
    entries = {}
    for action in options(parser):
        shown = formatter._get_help_string(action)
        entries[action.dest] = " ".join(formatter._expand_help(action).split())
        assert entries[action.dest].count("default") <= 1, entries[action.dest]
        if "%(default)" in shown:  # appended by the formatter: the value itself
            assert f"(default: {action.default})" in entries[action.dest] and entries[action.dest] in text
    assert text.count("default") == sum(entry.count("default") for entry in entries.values())


def test_evaluate_help_states_the_episode_cap_each_preset_sets():
    text = " ".join(sub_commands()["evaluate"].format_help().split())
    assert "train.eval_max_agent_steps" in text
    caps = {p: preset(p).train.eval_max_agent_steps for p in PRESETS}
    for name, cap in caps.items():
        if cap:
            assert f"the {name} preset sets {cap};" in text, name
    (uncapped,) = re.findall(r"; ([\w, ]+) play full games\)", text)
    assert set(re.split(r", | and ", uncapped)) == {p for p, cap in caps.items() if not cap}


def test_an_error_without_a_message_still_says_what_failed(monkeypatch, capsys):
    from jedi_bench.commands import games

    def fails():
        raise ValueError()

    monkeypatch.setattr(games, "print_games", fails)
    assert cli.main(["games"]) == 2
    assert capsys.readouterr().err == "jedi-bench games: error: ValueError\n"
