"""A run folder is trained by one process at a time: a second `train` on it is refused (exit 2) with the
holder named, nothing in the folder changes, and a killed holder leaves no lock behind. Learning checks of
different methods into one folder keep each other's rows."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

from test_evaluate_and_dream import TINY

from jedi_bench.cli import main
from jedi_bench.diagnostics import learning_check as dlc
from jedi_bench.locks import locked, try_lock
from jedi_bench.train.run import LOCK_FILE


def train_args(run) -> list[str]:
    args = ["train", "--method", "ae-latent", "--game", "Catch", "--preset", "smoke", "--out", str(run)]
    return [*args, "--device", "cpu", *(a for o in TINY for a in ("--set", o))]


def hold_in_another_process(path) -> subprocess.Popen:
    """A process that takes the lock at ``path`` and keeps it until killed."""
    code = f"""
        import sys, time
        from jedi_bench.locks import try_lock
        lock = try_lock({str(path)!r})
        print("held" if lock else "busy", flush=True)
        time.sleep(600)
    """
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def folder_state(run) -> dict:
    return {
        p.relative_to(run): p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


def test_a_second_train_on_a_folder_being_trained_is_refused_and_a_killed_holder_frees_it(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    holder = hold_in_another_process(run / LOCK_FILE)
    try:
        assert main(train_args(run)) == 2
        err = capsys.readouterr().err
        assert f"{run} is being trained by pid {holder.pid} on " in err
        assert "stop it and run this again: the run resumes from its last checkpoint" in err
        assert folder_state(run) == {}  # refused before anything was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel dropped the dead holder's lock: the run trains, and its lock is free again afterwards
    assert main(train_args(run)) == 0
    assert (run / "scores.json").exists()
    lock = try_lock(run / LOCK_FILE)
    assert lock is not None
    lock.close()


def test_a_finished_folder_stays_untouched_while_another_process_holds_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(run)) == 0
    before = folder_state(run)
    held = try_lock(run / LOCK_FILE)
    try:
        assert main(train_args(run)) == 0  # finished: nothing to train, nothing to lock
        assert "is a finished run" in capsys.readouterr().out
    finally:
        held.close()
    assert folder_state(run) == before


def test_checks_of_different_methods_into_one_folder_keep_each_others_rows(tmp_path, monkeypatch):
    """A check of `jedi` finishing while another check (of `diamond`) wrote its row meanwhile."""

    def row(method: str) -> dict:
        values = {key: 0.0 for key in dlc.COLUMNS}
        return {**values, "method": method, "ci95_low": 0.5, "episodes": 4, "device": "cpu", "overrides": ""}

    def other_check_finishes_first(method, seed, episodes, runs_dir, overrides=None, **callbacks):
        with locked(tmp_path / "learning_check.lock"):
            dlc.write_results(tmp_path, [{**row("diamond"), "beats_random": True}], [-1.0] * episodes, seed)
        return row(method)

    monkeypatch.setattr(dlc, "random_returns", lambda episodes, seed, overrides=None: [-1.0] * episodes)
    monkeypatch.setattr(dlc, "check_method", other_check_finishes_first)
    result = dlc.run_learning_check(["jedi"], seed=0, episodes=4, out_dir=tmp_path)
    written = json.loads((tmp_path / "learning_check.json").read_text())["methods"]
    assert [r["method"] for r in written] == ["diamond", "jedi"]
    assert [r["method"] for r in result.rows] == ["diamond", "jedi"]
    assert [r["method"] for r in result.checked] == ["jedi"] and result.checked[0]["beats_random"]


def test_a_learning_check_of_a_method_being_trained_elsewhere_is_refused(tmp_path, capsys):
    method = "jedi"
    run = tmp_path / "runs" / method
    run.mkdir(parents=True)
    held = try_lock(run / LOCK_FILE)
    try:
        code = main(["learning-check", "--methods", method, "--episodes", "2", "--out", str(tmp_path)])
    finally:
        held.close()
    assert code == 2
    assert f"{run} is being trained by pid " in capsys.readouterr().err
    assert not (tmp_path / "learning_check.json").exists()
