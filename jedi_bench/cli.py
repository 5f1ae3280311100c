"""The ``jedi-bench`` command: each sub-command's arguments are parsed here and passed to one function
of :mod:`jedi_bench.commands`, imported when the sub-command runs (so ``--help`` starts fast)."""

from __future__ import annotations

import argparse
import sys

METHODS_HELP = "world-model variant: jedi, diamond or ae-latent (or a registered variant of your own)"
PRESETS_HELP = "scale preset: smoke, catch, dev or atari100k"
GAMES_HELP = "one of the 26 Atari100k games (see `jedi-bench games`), or Catch"
DEVICE_HELP = "torch device: cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)"
EVAL_HELP = (
    "test episodes: epsilon 0, life loss not terminal, each played to the game's end (at most 108k "
    "frames) or, when the run's config sets train.eval_max_agent_steps, to that many agent steps "
    "(the smoke preset sets 200; catch, dev and atari100k play full games)"
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each option's default, except where the help already states it or there is none to show
    (a flag, an unset option, a required one)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or action.required
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
        ):
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jedi-bench",
        description="Diffusion world models for online "
        "model-based RL on Atari100k: train, evaluate, profile, aggregate.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, details: str = "") -> argparse.ArgumentParser:
        """A sub-command: ``text`` is its line in `jedi-bench --help`, ``details`` follow it in its own."""
        return sub.add_parser(
            name,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. {details}".strip(),
            formatter_class=_HelpFormatter,
        )

    s = command("games", "list the 26 Atari100k games with their random and human scores")
    s.set_defaults(run=_print_games)

    s = command("env-check", "run a random policy in one game; print returns and agent steps/s")
    s.add_argument("--game", required=True, help=GAMES_HELP)
    s.add_argument("--steps", type=int, default=1000, help="agent steps to run")
    s.add_argument("--seed", type=int, default=0, help="seed of the env and of the random policy")
    s.add_argument("--test-mode", action="store_true", help="life loss not terminal (the evaluation setting)")
    s.add_argument("--stochastic-frameskip", action="store_true", help="random frame skip in [2, 6]")
    s.set_defaults(run=_env_check)

    s = command("describe", "print the parameter counts of a method's components")
    s.add_argument("--method", required=True, help=METHODS_HELP)
    s.add_argument("--game", default="Breakout", help="game (sets the action-space size)")
    s.add_argument("--preset", default="atari100k", help=PRESETS_HELP)
    s.set_defaults(run=_describe)

    s = command("train", "train one agent online; rerunning on an unfinished --out resumes it")
    s.add_argument("--method", required=True, help=METHODS_HELP)
    s.add_argument("--game", required=True, help=GAMES_HELP)
    s.add_argument("--seed", type=int, default=0, help="seed of the run (networks, env, replay sampling)")
    s.add_argument("--preset", default="smoke", help=PRESETS_HELP)
    s.add_argument("--out", required=True, help="run folder (config, metrics, checkpoints, scores.json)")
    s.add_argument("--device", default=None, help=DEVICE_HELP)
    s.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.batch_size=16 (repeatable)",
    )
    s.set_defaults(run=_train)

    s = command(
        "evaluate",
        "evaluate a run's last checkpoint in test episodes; writes RUN/evaluation_N.json",
        EVAL_HELP[0].upper() + EVAL_HELP[1:] + ".",
    )
    s.add_argument("--run", dest="run_dir", required=True, help="run folder written by `jedi-bench train`")
    s.add_argument("--episodes", type=int, default=100, help="test episodes to play")
    s.add_argument("--device", default=None, help=DEVICE_HELP)
    s.set_defaults(run=_evaluate_run)

    s = command(
        "import-diamond",
        "turn a DIAMOND agent checkpoint (e.g. a released agent) into a diamond "
        "run folder that evaluate, dream and aggregate accept",
    )
    s.add_argument(
        "checkpoint", help="DIAMOND agent state_dict (.pt), as DIAMOND saves and releases its agents"
    )
    s.add_argument("--game", required=True, help="the Atari100k game the agent was trained on")
    s.add_argument("--out", required=True, help="run folder to create (must not hold a run)")
    s.add_argument("--seed", type=int, default=0, help="seed recorded for the run and its evaluation")
    s.add_argument(
        "--episodes",
        type=int,
        default=0,
        help="evaluate this many test episodes now and write scores.json (0: import only)",
    )
    s.add_argument("--device", default=None, help="device for the evaluation (default: cuda if available)")
    s.set_defaults(run=_import_diamond)

    s = command("dream", "write an imagined rollout next to the real frames (MP4 or GIF)")
    s.add_argument("--run", dest="run_dir", required=True, help="run folder written by `jedi-bench train`")
    s.add_argument("--out", required=True, help="output video: .mp4 or .gif")
    s.add_argument(
        "--steps",
        type=int,
        default=15,
        help="steps the world model imagines after its context frames (fewer if the real "
        "episode ends sooner)",
    )
    s.add_argument("--device", default=None, help=DEVICE_HELP)
    s.set_defaults(run=_dream)

    s = command("profile", "measure a method's compute: step times, sampling speed, peak memory")
    s.add_argument("--method", required=True, help=METHODS_HELP)
    s.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    s.add_argument("--preset", default="atari100k", help="model sizes to measure (atari100k: the paper's)")
    s.add_argument("--batch-size", type=int, default=32, help="batch size of the timed update steps")
    s.add_argument("--repeats", type=int, default=10, help="timed repetitions per measurement")
    s.add_argument("--bf16", action="store_true", help="bf16 autocast")
    s.add_argument(
        "--channels-last", action="store_true", help="channels-last memory layout for the convolutions"
    )
    s.add_argument("--compile", action="store_true", help="torch.compile the networks")
    s.add_argument("--cuda-graphs", action="store_true", help="CUDA graphs for imagination (cuda only)")
    s.add_argument("--out", required=True, help="JSON file to write")
    s.set_defaults(run=_profile_cli)

    s = command(
        "gpu-check",
        "measure one GPU in a few minutes: CUDA tests, profiles, timed dev training, "
        "concurrent runs, projected hours",
        "Writes OUT_ROOT/<gpu name>/ (see docs/compute.md); exit 2 at once where there is no GPU.",
    )
    s.add_argument(
        "--device", default="cuda", help="the GPU to measure: cuda or cuda:N (cpu only with --dry)"
    )
    s.add_argument("--out-root", default="results/compute", help="results go to OUT_ROOT/<device name>/")
    s.add_argument(
        "--budget-min", type=float, default=8.0, help="minutes; no stage starts that would not fit"
    )
    s.add_argument(
        "--updates",
        type=int,
        default=None,
        help="full updates per timed training epoch (default: about 4 s worth, from the profile)",
    )
    s.add_argument("--dry", action="store_true", help="every stage at smoke sizes, to try the command itself")
    s.set_defaults(run=_gpu_check)

    s = command("aggregate", "turn finished run folders into tables and figures")
    s.add_argument("--runs", required=True, nargs="+", help="run folders, or folders that contain them")
    s.add_argument("--out", required=True, help="output folder (tables/ and figures/ are written inside)")
    s.add_argument(
        "--compute",
        nargs="*",
        default=[],
        help="profile JSON files for the compute table (none: no compute table)",
    )
    s.add_argument("--reps", type=int, default=2000, help="bootstrap repetitions for the intervals")
    s.set_defaults(run=_aggregate)

    s = command("published-report", "build the report of the published results alone")
    s.add_argument("--out", default="results/published", help="output folder (report.md, tables/, figures/)")
    s.add_argument("--reps", type=int, default=2000, help="bootstrap repetitions for the intervals")
    s.set_defaults(run=_published_report)

    s = command("learning-check", "train each method on Catch (preset catch) against random play")
    s.add_argument(
        "--methods",
        nargs="+",
        default=["catch-oracle", "jedi", "diamond", "ae-latent"],
        help="methods to check; catch-oracle trains the agent in Catch's exact rules: the agent's "
        "upper bound (default: catch-oracle jedi diamond ae-latent)",
    )
    s.add_argument("--seed", type=int, default=0, help="seed of every run checked")
    s.add_argument(
        "--episodes", type=int, default=100, help="test episodes per method and for random play (at least 2)"
    )
    s.add_argument(
        "--out",
        default="results/learning_check/latest",
        help="folder of the check's table; rows of methods checked there before are kept",
    )
    s.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the catch preset in every run checked now, e.g. "
        "--set speed.bf16=false on a CPU without native bf16 (repeatable; recorded per row)",
    )
    s.set_defaults(run=_learning_check)

    s = command(
        "catch-fidelity",
        "how faithful a Catch run's world model is: imagined returns, paddle response to the action",
    )
    s.add_argument("--run", dest="run_dir", required=True, help="run folder of a Catch run")
    s.add_argument("--episodes", type=int, default=128, help="real Catch starts to imagine from")
    s.add_argument("--seed", type=int, default=0, help="seed of the real Catch starts")
    s.add_argument("--device", default=None, help=DEVICE_HELP)
    s.set_defaults(run=_run_fidelity)
    return p


def _print_games(a: argparse.Namespace) -> int:
    from jedi_bench.commands.games import print_games

    return print_games()


def _env_check(a: argparse.Namespace) -> int:
    from jedi_bench.commands.env_check import env_check

    return env_check(
        game=a.game,
        steps=a.steps,
        seed=a.seed,
        test_mode=a.test_mode,
        stochastic_frameskip=a.stochastic_frameskip,
    )


def _describe(a: argparse.Namespace) -> int:
    from jedi_bench.commands.describe import describe

    return describe(method=a.method, game=a.game, preset=a.preset)


def _train(a: argparse.Namespace) -> int:
    from jedi_bench.commands.train import train

    return train(
        method=a.method,
        game=a.game,
        seed=a.seed,
        preset=a.preset,
        out=a.out,
        device=a.device,
        overrides=a.overrides,
    )


def _evaluate_run(a: argparse.Namespace) -> int:
    from jedi_bench.commands.evaluate import evaluate_run

    return evaluate_run(run=a.run_dir, episodes=a.episodes, device=a.device)


def _import_diamond(a: argparse.Namespace) -> int:
    from jedi_bench.commands.import_diamond import import_diamond

    return import_diamond(
        checkpoint=a.checkpoint, game=a.game, out=a.out, seed=a.seed, episodes=a.episodes, device=a.device
    )


def _dream(a: argparse.Namespace) -> int:
    from jedi_bench.commands.dream import dream

    return dream(run=a.run_dir, out=a.out, steps=a.steps, device=a.device)


def _profile_cli(a: argparse.Namespace) -> int:
    from jedi_bench.commands.profile import profile_cli

    return profile_cli(
        method=a.method,
        device=a.device,
        preset=a.preset,
        batch_size=a.batch_size,
        repeats=a.repeats,
        bf16=a.bf16,
        channels_last=a.channels_last,
        compile=a.compile,
        cuda_graphs=a.cuda_graphs,
        out=a.out,
    )


def _gpu_check(a: argparse.Namespace) -> int:
    from jedi_bench.commands.gpu_check import gpu_check

    return gpu_check(
        out_root=a.out_root, device=a.device, budget_min=a.budget_min, dry=a.dry, updates=a.updates
    )


def _aggregate(a: argparse.Namespace) -> int:
    from jedi_bench.commands.report import aggregate

    return aggregate(runs=a.runs, out=a.out, compute=a.compute, reps=a.reps)


def _published_report(a: argparse.Namespace) -> int:
    from jedi_bench.commands.report import published_report

    return published_report(out=a.out, reps=a.reps)


def _learning_check(a: argparse.Namespace) -> int:
    from jedi_bench.commands.learning_check import learning_check

    return learning_check(
        methods=a.methods, seed=a.seed, episodes=a.episodes, out=a.out, overrides=a.overrides
    )


def _run_fidelity(a: argparse.Namespace) -> int:
    from jedi_bench.commands.catch_fidelity import run_fidelity

    return run_fidelity(run=a.run_dir, episodes=a.episodes, seed=a.seed, device=a.device)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"jedi-bench {args.command}: error: {str(e) or type(e).__name__}", file=sys.stderr)
        return 2
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
