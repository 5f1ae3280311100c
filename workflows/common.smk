"""Config checks against the package, the device resolved once, and the file lists the rules share.

Everything here runs when the workflow is parsed, so a typo in a method, game or preset name, a bad
override or a profile option the device cannot run stops the workflow with a message naming it
before a single job is scheduled.
"""

import re
import shlex

from snakemake.exceptions import WorkflowError

from jedi_bench.diagnostics.learning_check import GAME as CHECK_GAME, PRESET as CHECK_PRESET
from jedi_bench.diagnostics import catch_oracle  # noqa: F401  (registers catch-oracle for the learning check)
from jedi_bench.config.games import check_game
from jedi_bench.config.presets import preset
from jedi_bench.config.speed import check_speed
from jedi_bench.worldmodels import check_method, resolve_run_config

#: `jedi-bench profile` flags (the config's profile.options) and the speed switches they turn on
PROFILE_SWITCHES = {"--bf16": "bf16", "--channels-last": "channels_last", "--compile": "compile",
                    "--cuda-graphs": "cuda_graphs"}


def check_config(cfg, device):
    """Raise a ValueError naming the config key the package refuses and why.

    Every run the config asks for is resolved through the package's one validation path
    (jedi_bench.worldmodels.validation.resolve_run_config), as its job's command will do, and its
    speed switches are checked against ``device``; whether torch.compile works is left to the jobs,
    which may run on other machines than this one.
    """
    def check(key, what):
        try:
            return what()
        except ValueError as e:
            raise ValueError(f"config: {key}: {e}") from None

    check("preset", lambda: preset(cfg["preset"]))
    for game in cfg["games"]:
        check("games", lambda: check_game(game))
    for key, methods in (("methods", cfg["methods"]),
                         ("learning_check.methods", cfg["learning_check"]["methods"])):
        for method in methods:
            check(key, lambda: check_method(method))
    game, seed, overrides = cfg["games"][0], cfg["seeds"][0], cfg.get("train_overrides", [])
    options = cfg["profile"].get("options", []) if cfg["profile"]["enabled"] else []
    batch = cfg["profile"]["batch_size"]
    profiled = [f"speed.{PROFILE_SWITCHES[o]}=true" for o in options] + [f"train.batch_size={batch}",
                                                                          f"agent.batch_size={batch}"]
    for method in cfg["methods"]:
        run = check("train_overrides",
                    lambda: resolve_run_config(method, game, seed, cfg["preset"], overrides))
        check("train_overrides", lambda: check_speed(run.speed, device))
        if options:
            run = check("profile", lambda: resolve_run_config(method, game, 0, cfg["preset"], profiled))
            check("profile.options", lambda: check_speed(run.speed, device))
    check_run = cfg["learning_check"]
    for method in check_run["methods"]:
        check("learning_check.overrides", lambda: resolve_run_config(
            method, CHECK_GAME, check_run["seed"], CHECK_PRESET, check_run.get("overrides", [])))


def resolve_device(device):
    """``auto`` becomes cuda when this machine sees a GPU; every job of the run then uses the same."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


DEVICE = resolve_device(config["device"])
check_config(config, DEVICE)

PRESET = config["preset"]
GPUS = 1 if DEVICE == "cuda" else 0
RES = config["resources"]

RUN_SCORES = expand(
    "runs/{preset}/{method}/{game}/{seed}/scores.json",
    preset=PRESET, method=config["methods"], game=config["games"], seed=config["seeds"],
)
COMPUTE_PROFILES = (
    expand("results/{preset}/compute/{method}.json", preset=PRESET, method=config["methods"])
    if config["profile"]["enabled"] else []
)
AGGREGATE_REPORT = f"results/{PRESET}/report.md"
PUBLISHED_REPORT = "results/published/report.md"
# The software every rule runs with under `--software-deployment-method conda` (relative to workflows/)
SOFTWARE_ENV = "envs/jedi-bench.yaml"


def profile_threads():
    """Locally, all cores given to Snakemake (--cores); on a cluster, and inside its jobs (which
    Snakemake starts with --cores all), the configured count, which is what the job asked for."""
    if workflow.remote_exec or workflow.non_local_exec:
        return RES["profile"]["threads"]
    try:
        return workflow.cores
    except WorkflowError:
        return RES["profile"]["threads"]


def previous_profile(wildcards):
    """Methods are profiled one after another in the config's order (see workflows/compute.smk)."""
    methods = config["methods"]
    i = methods.index(wildcards.method)
    return [] if i == 0 else [f"results/{PRESET}/compute/{methods[i - 1]}.json"]


def shell_args(flag, values):
    """``--set a=1 --set b=2`` from a list, quoted for the shell."""
    return " ".join(f"{flag} {shlex.quote(str(v))}" for v in values)


wildcard_constraints:
    method="|".join(map(re.escape, config["methods"])),
    game="[A-Za-z0-9]+",
    seed=r"\d+",
