"""Config checks against the package, the device resolved once, and the file lists the rules share.

Everything here runs when the workflow is parsed, so a typo in a method, game or preset name stops
the workflow with a message naming it before a single job is scheduled.
"""

import re
import shlex

from snakemake.exceptions import WorkflowError

from jedi_bench.envs import catch_oracle  # noqa: F401  (registers catch-oracle for the learning check)
from jedi_bench.envs.games import check_game
from jedi_bench.train.config import PRESETS
from jedi_bench.worldmodels import available_methods


def check_config(cfg):
    """Raise a ValueError naming the first unknown preset, method or game in ``cfg``."""
    if cfg["preset"] not in PRESETS:
        raise ValueError(f"config: unknown preset {cfg['preset']!r}; presets: {', '.join(PRESETS)}")
    known = available_methods()
    for key, methods in (("methods", cfg["methods"]), ("learning_check.methods", cfg["learning_check"]["methods"])):
        for method in methods:
            if method not in known:
                raise ValueError(f"config: unknown method {method!r} in {key}; known methods: {', '.join(known)}")
    for game in cfg["games"]:
        try:
            check_game(game)
        except ValueError as e:
            raise ValueError(f"config: {e}") from None


def resolve_device(device):
    """``auto`` becomes cuda when this machine sees a GPU; every job of the run then uses the same."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


check_config(config)

PRESET = config["preset"]
DEVICE = resolve_device(config["device"])
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
