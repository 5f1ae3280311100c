"""Compute profile of each method: step times, sampling throughput, peak memory (docs/compute.md).

Timings are only comparable when nothing else runs beside them, so profiling jobs are kept apart:
- locally a profiling job takes every core given to Snakemake (`--cores`), so no training job and no
  other profiling job can run at the same time;
- the methods are profiled one after another (each waits for the previous method's profile), which
  also holds on a cluster, where the SLURM profile additionally asks for an exclusive node.
All methods are profiled on the same device (the workflow's resolved `device`).
"""


rule profile:
    input:
        previous_profile,
    output:
        "results/{preset}/compute/{method}.json",
    log:
        "logs/{preset}/profile/{method}.log",
    wildcard_constraints:
        preset=re.escape(PRESET),
    threads: profile_threads()
    resources:
        mem_mb=RES["profile"]["mem_mb"],
        runtime=RES["profile"]["runtime"],
        gpu=GPUS,
        profiling=1,
    params:
        device=DEVICE,
        batch_size=config["profile"]["batch_size"],
        repeats=config["profile"]["repeats"],
        options=" ".join(config["profile"].get("options", [])),
    conda:
        SOFTWARE_ENV
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
        "jedi-bench profile --method {wildcards.method} --device {params.device} --preset {wildcards.preset} "
        "--batch-size {params.batch_size} --repeats {params.repeats} {params.options} --out {output} "
        "> {log} 2>&1"
