"""jedi-bench workflow: train every method x game x seed, profile each method's compute, and turn
the finished runs into tables, figures and reports.

    snakemake all --cores 2 --configfile workflows/config/smoke.yaml   # CPU, a few minutes
    snakemake --cores 8 all                                            # the full benchmark (390 runs)
    snakemake --profile workflows/profiles/slurm all                   # the same on a SLURM cluster

The config (workflows/config/default.yaml, overridden key by key by --configfile/--config) is
checked twice before any job starts: its shape against workflows/config/schema.yaml, then the
method, game and preset names against the package itself (workflows/common.smk).
"""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "workflows/config/default.yaml")


validate(config, os.path.join(workflow.basedir, "workflows/config/schema.yaml"))


# Software: every rule declares the conda environment workflows/envs/jedi-bench.yaml
# (--software-deployment-method conda) and runs in this container image under
# --software-deployment-method apptainer (built from workflows/container/jedi-bench.def).
container: config["container"]


include: "workflows/common.smk"
include: "workflows/train.smk"
include: "workflows/compute.smk"
include: "workflows/analysis.smk"


# Target rules only collect files; on a cluster they run where Snakemake runs, not as jobs.
localrules:
    all,
    runs,
    compute,


rule all:
    """Every run's scores, the compute profiles, the aggregated report and the published report."""
    default_target: True
    input:
        RUN_SCORES,
        COMPUTE_PROFILES,
        AGGREGATE_REPORT,
        PUBLISHED_REPORT,


rule runs:
    """Only the training runs (no profiling, no aggregation)."""
    input:
        RUN_SCORES,


rule compute:
    """Only the compute profiles of the configured methods."""
    input:
        COMPUTE_PROFILES,
