"""The learning check: does each method really learn? Train it on Catch, compare with random play.

Each method is trained with the ``catch`` preset on the built-in Catch game (run folders under
``OUT/runs/<method>``, resumable like any run), its final agent plays ``episodes`` test episodes, and a
uniformly random policy plays as many. A method passes when the lower end of its 95% confidence
interval lies above the upper end of the random policy's. Results go to ``OUT/learning_check.csv``,
``.json`` and ``.md``; a check of some methods updates their rows there and keeps the others', so
checks of different methods can run side by side into one ``OUT`` (a run folder being trained by one
process is refused to any other).

The method ``catch-oracle`` (:mod:`jedi_bench.diagnostics.catch_oracle`, registered by importing this
module) trains the same agent inside Catch's exact rules: its row is what the agent reaches with a
perfect world model, so a learned model's shortfall can be told apart from the agent's own. Each trained
model's fidelity to Catch (:mod:`jedi_bench.diagnostics.catch_fidelity`) is reported next to its score:
the imagined return of chasing the ball against random play, how often its next frame moves the paddle
as the action says, whether its reward model tells a real catch from a real miss, and what the agent's
input keeps; and whether the final policy acts on where the ball is, which tells an agent that did not
learn from a good model apart from a model that could not teach it.

The command ``jedi-bench learning-check`` (:mod:`jedi_bench.commands.learning_check`) checks its
arguments, calls :func:`run_learning_check` and prints the table; ``jedi-bench catch-fidelity``
(:mod:`jedi_bench.commands.catch_fidelity`) prints :func:`measure_run_fidelity` of one run.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from jedi_bench.diagnostics import catch_oracle  # noqa: F401  (registers the "catch-oracle" method)
from jedi_bench.io import atomic_write_json, atomic_write_text
from jedi_bench.locks import locked

GAME = "Catch"
PRESET = "catch"
FIDELITY_COLUMNS = (
    "imagined_return_chase",
    "real_return_chase",
    "imagined_return_random",
    "real_return_random",
    "paddle_accuracy",
    "ball_accuracy",
    "reward_catch",
    "reward_miss",
    "end_final",
    "end_early",
    "probe_ball",
    "probe_paddle",
    "policy_toward",
)
COLUMNS = (
    "method",
    "mean_return",
    "std_return",
    "ci95_low",
    "ci95_high",
    "episodes",
    "random_mean",
    "random_ci95_high",
    "margin",
    "beats_random",
    *FIDELITY_COLUMNS,
    "device",
    "train_wall_time_s",
    "check_wall_time_s",
    "overrides",
)
#: real Catch starts on which each trained world model's fidelity is measured
FIDELITY_EPISODES = 128


class RandomAgent:
    """Uniformly random actions; the same interface as :class:`jedi_bench.train.collect.Agent`."""

    def __init__(self, num_actions: int):
        self.num_actions = num_actions

    def initial_state(self):
        return None

    def act(self, obs, state, epsilon, rng: np.random.Generator):
        return int(rng.integers(self.num_actions)), state


@dataclass
class LearningCheckResult:
    """What a check leaves in its folder's table: ``rows``, every method's row in table order (those of
    an earlier check kept), and ``checked``, the rows of the methods checked now."""

    rows: list[dict]
    checked: list[dict]

    @property
    def failed(self) -> list[str]:
        """The methods checked now that did not beat random play by a clear margin."""
        return [r["method"] for r in self.checked if not r["beats_random"]]


def ci95(returns: list[float]) -> tuple[float, float]:
    """Normal-approximation 95% confidence interval of the mean return."""
    mean = float(np.mean(returns))
    half = 1.96 * float(np.std(returns, ddof=1)) / math.sqrt(len(returns)) if len(returns) > 1 else 0.0
    return mean - half, mean + half


def random_returns(episodes: int, seed: int, overrides: list[str] | None = None) -> list[float]:
    """Returns of ``episodes`` test episodes of uniformly random play on Catch."""
    from jedi_bench.config.run import resolve
    from jedi_bench.train.build import env_factory, num_actions_of
    from jedi_bench.train.collect import play_episodes

    cfg = resolve("jedi", GAME, seed, PRESET, overrides)
    return play_episodes(
        env_factory(cfg, test_mode=True),
        RandomAgent(num_actions_of(cfg)),
        episodes,
        np.random.default_rng(seed),
        max_steps=cfg.train.eval_max_agent_steps,
    )


def measure_run_fidelity(run: str | Path, episodes: int, seed: int, device: torch.device) -> dict:
    """The Catch fidelity of a Catch run's world model and whether its policy follows the ball (last
    checkpoint), written to ``RUN/catch_fidelity.json`` and returned. A run of another game is refused."""
    from jedi_bench.diagnostics.catch_fidelity import catch_fidelity, policy_toward_ball
    from jedi_bench.train.run_folder import load_run

    cfg, models, state = load_run(run, device)
    if cfg.game != GAME:
        raise ValueError(f"{run} trained on {cfg.game}; the fidelity check needs a {GAME} run")
    result = {
        "method": cfg.method,
        "epoch": int(state["counters"]["epoch"]),
        "episodes": episodes,
        "seed": seed,
        **catch_fidelity(models.wm, episodes, seed, bf16=cfg.speed.bf16),
        "policy_toward": policy_toward_ball(models.agent(device, cfg.speed.bf16), episodes, seed),
    }
    atomic_write_json(Path(run) / "catch_fidelity.json", result)
    return result


def check_method(
    method: str,
    seed: int,
    episodes: int,
    runs_dir: Path,
    overrides: list[str] | None = None,
    notify: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] = warnings.warn,
) -> dict:
    """Train (or resume, or reuse) the method's run, evaluate its final agent and measure its world
    model's fidelity; returns its row without the random columns. ``notify`` and ``warn`` hear what
    training has to say (see :func:`jedi_bench.train.run.train_run`)."""
    from jedi_bench.config.run import resolve
    from jedi_bench.train.device import resolve_device
    from jedi_bench.train.optim import NonFiniteLossError
    from jedi_bench.train.run import train_run
    from jedi_bench.train.run_folder import evaluate_run
    from jedi_bench.train.speed import slow_bf16_warning

    start = time.perf_counter()
    run_dir = runs_dir / method
    cfg = resolve(method, GAME, seed, PRESET, list(overrides or []))
    dev = resolve_device(None)
    if warning := slow_bf16_warning(cfg.speed, dev):
        warn(warning)
    try:
        outcome = train_run(cfg, run_dir, dev, notify=notify, warn=warn)
    except NonFiniteLossError as e:
        raise RuntimeError(f"training {method} on {GAME} stopped: {e}; see {run_dir}") from e
    # measured afresh each time (seconds): files left by a command run on an unfinished run may be stale
    result, _ = evaluate_run(run_dir, episodes, dev)
    fidelity = measure_run_fidelity(run_dir, FIDELITY_EPISODES, seed, dev)
    trained_on = json.loads((run_dir / "run_info.json").read_text())["device"].get("device_name")
    low, high = ci95(result["returns"])
    return {
        "method": method,
        "mean_return": result["mean"],
        "std_return": result["std"],
        "ci95_low": low,
        "ci95_high": high,
        "episodes": result["episodes"],
        # names the CPU/GPU
        "device": f"{result['device']} ({trained_on})" if trained_on else result["device"],
        "train_wall_time_s": outcome.scores["wall_time_s"],
        "check_wall_time_s": time.perf_counter() - start,
        "overrides": " ".join(overrides or []),
        **{key: fidelity[key] for key in FIDELITY_COLUMNS},
    }


def run_learning_check(
    methods: list[str],
    seed: int,
    episodes: int,
    out_dir: str | Path,
    overrides: list[str] | None = None,
    notify: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] = warnings.warn,
) -> LearningCheckResult:
    """Check ``methods`` and add their rows to ``out_dir``'s table (rows of other methods checked there
    before are kept; the table is written after each method, merged with what other checks of other
    methods running at the same time have written).

    ``overrides`` (``KEY=VALUE`` of a config section) change the ``catch`` preset of every run checked
    now; each row records them. Unknown methods, bad overrides, a run folder made with another config and
    an earlier table of another seed, episode count or random baseline are refused before any training.
    """
    from jedi_bench.config.run import check_same_config
    from jedi_bench.worldmodels import resolve_run_config

    if episodes < 2:
        raise ValueError(f"episodes must be >= 2 (a confidence interval needs two), got {episodes}")
    overrides = list(overrides or [])
    out_dir = Path(out_dir)
    # the one validation path: unknown methods, bad keys or values fail here, before any training
    configs = {m: resolve_run_config(m, GAME, seed, PRESET, overrides) for m in methods}
    earlier = earlier_rows(out_dir, seed, episodes)
    for method, cfg in configs.items():  # and runs made otherwise here
        if (out_dir / "runs" / method / "config.yaml").exists():
            check_same_config(out_dir / "runs" / method, cfg)
    rand = random_returns(episodes, seed, overrides)
    rand_mean, (_, rand_high) = float(np.mean(rand)), ci95(rand)
    if earlier and not math.isclose(earlier[0]["random_mean"], rand_mean):
        raise ValueError(
            f"{out_dir / 'learning_check.json'} compares with random play scoring "
            f"{earlier[0]['random_mean']:.3f}, this check's scores {rand_mean:.3f} (Catch or "
            "its test protocol changed): its rows are not comparable; use another --out"
        )
    table = {r["method"]: r for r in earlier}
    checked = []
    for method in methods:
        row = check_method(method, seed, episodes, out_dir / "runs", overrides, notify=notify, warn=warn)
        row.update(
            random_mean=rand_mean,
            random_ci95_high=rand_high,
            margin=row["mean_return"] - rand_mean,
            beats_random=bool(row["ci95_low"] > rand_high),
        )
        checked.append({key: row[key] for key in COLUMNS})
        with locked(out_dir / "learning_check.lock"):  # checks of other methods may write here too
            table = {r["method"]: r for r in earlier_rows(out_dir, seed, episodes)}
            table[method] = checked[-1]
            write_results(out_dir, list(table.values()), rand, seed)
    return LearningCheckResult(rows=list(table.values()), checked=checked)


def earlier_rows(out_dir: Path, seed: int, episodes: int) -> list[dict]:
    """Rows of an earlier check in ``out_dir`` that this one keeps: a check of some methods updates their
    rows and leaves the others' (a run that takes hours can join a table made before). Refused, before
    any training, when the earlier check used another seed or episode count."""
    path = out_dir / "learning_check.json"
    if not path.exists():
        return []
    try:
        earlier = json.loads(path.read_text())
        setting = (earlier["game"], earlier["preset"], earlier["seed"], earlier["random_episodes"])
        # "overrides" came later: rows written before it ran the preset as it stands
        rows = [
            {key: row[key] for key in COLUMNS}
            for row in ({"overrides": "", **row} for row in earlier["methods"])
        ]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a learning-check result ({err!r}); move it away or use another --out"
        ) from err
    if setting != (GAME, PRESET, seed, episodes):
        raise ValueError(
            f"{path} holds a check of {setting[0]} (preset {setting[1]}, seed {setting[2]}, "
            f"{setting[3]} episodes), not of {GAME} (preset {PRESET}, seed {seed}, {episodes} "
            "episodes); use another --out"
        )
    return rows


def write_results(out_dir: Path, rows: list[dict], rand: list[float], seed: int) -> None:
    """The table as ``learning_check.csv``, ``.json`` (with the random baseline) and ``.md``."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    atomic_write_text(out_dir / "learning_check.csv", frame.to_csv(index=False))
    atomic_write_json(
        out_dir / "learning_check.json",
        {
            "game": GAME,
            "preset": PRESET,
            "seed": seed,
            "random_returns_mean": float(np.mean(rand)),
            "random_episodes": len(rand),
            "methods": rows,
        },
    )
    atomic_write_text(
        out_dir / "learning_check.md",
        f"# Learning check: {GAME}, preset `{PRESET}`, seed {seed}\n\n"
        "Final agent: test episodes with epsilon 0 and sampled actions; random: uniform "
        "actions. A method passes when its 95% CI lies above the random policy's. "
        f"World-model fidelity on {FIDELITY_EPISODES} real starts: the imagined return of "
        "chasing the ball / of random play (their real returns in brackets), and how often "
        "the sampled next frame moves the paddle as the action says (nan: the model renders "
        "no frames); the expected reward its reward model gives the last step of real "
        "episodes ending in a catch / a miss (+1 / -1 when right) and its end probability at "
        "their last step / at earlier steps (1 / 0 when right); how well a linear probe reads "
        "the ball's / the paddle's column from what the agent reads (every Catch screen, 1/4 "
        "held out; 1/8 is chance); and the probability the final policy gives the move "
        "towards the ball minus the move away from it on real episodes (about 0 for a policy "
        "that ignores what it sees).\n\n" + markdown_table(rows) + "\n",
    )


def markdown_table(rows: list[dict]) -> str:
    """The table's rows in markdown; a row checked with the preset as it stands shows "-" as overrides."""
    header = (
        "| method | mean return | std | 95% CI | random mean | margin | passes | imagined chase / "
        "random (real) | paddle acc. | reward catch / miss | end last / earlier | probe ball / "
        "paddle | policy towards ball | device | train time | overrides |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['mean_return']:.3f} | {r['std_return']:.3f} | "
            f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] | {r['random_mean']:.3f} | "
            f"{r['margin']:+.3f} | {'yes' if r['beats_random'] else 'no'} | "
            f"{r['imagined_return_chase']:+.2f} / {r['imagined_return_random']:+.2f} "
            f"({r['real_return_chase']:+.2f} / {r['real_return_random']:+.2f}) | "
            f"{r['paddle_accuracy']:.2f} | {r['reward_catch']:+.2f} / {r['reward_miss']:+.2f} | "
            f"{r['end_final']:.2f} / {r['end_early']:.2f} | "
            f"{r['probe_ball']:.2f} / {r['probe_paddle']:.2f} | {r['policy_toward']:.2f} | "
            f"{r['device']} | {r['train_wall_time_s'] / 60:.1f} min | {r['overrides'] or '-'} |"
        )
    return "\n".join(lines)
