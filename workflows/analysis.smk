"""From finished runs to results: the aggregated tables/figures/report, the published-data report,
and the optional Catch learning check.

The figures and tables are marked for Snakemake's HTML report:
    snakemake --configfile workflows/config/smoke.yaml --report results/smoke/report.html
"""

import glob

from jedi_bench.reference import baselines_dir

# The published numbers the report is built from (the repository's baselines/, or
# $JEDI_BENCH_BASELINES): a change to them regenerates the published report.
BASELINE_FILES = sorted(glob.glob(os.path.join(baselines_dir(), "*.csv")))
# Fixed rather than taken from the config: the committed published report must not change with the
# scale of the suite's own runs.
PUBLISHED_REPS = 2000


rule aggregate:
    """Per-game scores and HNS, rliable aggregates, profiles, curves and compute, for this config's runs."""
    input:
        scores=RUN_SCORES,
        compute=COMPUTE_PROFILES,
    output:
        report=AGGREGATE_REPORT,
        tables=report(directory(f"results/{PRESET}/tables"), patterns=["{name}.csv"],
                      category=f"Suite ({PRESET})", subcategory="Tables"),
        figures=report(directory(f"results/{PRESET}/figures"), patterns=["{name}.png"],
                       category=f"Suite ({PRESET})", subcategory="Figures"),
    log:
        f"logs/{PRESET}/aggregate.log",
    threads: RES["aggregate"]["threads"]
    resources:
        mem_mb=RES["aggregate"]["mem_mb"],
        runtime=RES["aggregate"]["runtime"],
    params:
        # The exact run folders of this config (not every folder under runs/), so the report
        # describes what the config asked for.
        runs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.scores),
        out=lambda wildcards, output: os.path.dirname(output.report),
        reps=config["aggregate"]["reps"],
    conda:
        SOFTWARE_ENV
    shell:
        "jedi-bench aggregate --runs {params.runs} --out {params.out} --compute {input.compute} "
        "--reps {params.reps} > {log} 2>&1"


rule published_report:
    """The report built from published numbers alone (committed under results/published)."""
    input:
        BASELINE_FILES,
    output:
        report=PUBLISHED_REPORT,
        tables=report(directory("results/published/tables"), patterns=["{name}.csv"],
                      category="Published results", subcategory="Tables"),
        figures=report(directory("results/published/figures"), patterns=["{name}.png"],
                       category="Published results", subcategory="Figures"),
    log:
        "logs/published_report.log",
    threads: 1
    resources:
        mem_mb=RES["aggregate"]["mem_mb"],
        runtime=RES["aggregate"]["runtime"],
    params:
        out=lambda wildcards, output: os.path.dirname(output.report),
        reps=PUBLISHED_REPS,
    conda:
        SOFTWARE_ENV
    shell:
        "jedi-bench published-report --out {params.out} --reps {params.reps} > {log} 2>&1"


rule learning_check:
    """Optional (not part of `all`): every configured method on Catch against random play."""
    output:
        directory("results/learning_check/latest"),   # committed results live in cpu/
    log:
        "logs/learning_check.log",
    threads: RES["learning_check"]["threads"]
    resources:
        mem_mb=RES["learning_check"]["mem_mb"],
        runtime=RES["learning_check"]["runtime"],
        gpu=GPUS,
    params:
        methods=" ".join(config["learning_check"]["methods"]),
        seed=config["learning_check"]["seed"],
        episodes=config["learning_check"]["episodes"],
        overrides=shell_args("--set", config["learning_check"].get("overrides", [])),
    conda:
        SOFTWARE_ENV
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
        "jedi-bench learning-check --methods {params.methods} --seed {params.seed} "
        "--episodes {params.episodes} {params.overrides} --out {output} > {log} 2>&1"
