"""One training job per method x game x seed.

Restartable by design: the only declared output is ``scores.json``, which `jedi-bench train` writes
(atomically) as its very last step. The run folder around it -- config, metrics, checkpoints -- is
never an output, so Snakemake never deletes it when a job fails, is killed or times out. Running
the workflow again reschedules the job, and `jedi-bench train` resumes from the folder's last
checkpoint (on a finished folder it does nothing). Logs are appended, so they keep every attempt.
"""


rule train:
    output:
        "runs/{preset}/{method}/{game}/{seed}/scores.json",
    log:
        "logs/{preset}/train/{method}/{game}/{seed}.log",
    wildcard_constraints:
        preset=re.escape(PRESET),
    threads: RES["train"]["threads"]
    resources:
        mem_mb=RES["train"]["mem_mb"],
        runtime=RES["train"]["runtime"],
        gpu=GPUS,
    params:
        run_dir=lambda wildcards, output: os.path.dirname(output[0]),
        device=DEVICE,
        overrides=shell_args("--set", config.get("train_overrides", [])),
        runs_per_gpu=config.get("gpu", {}).get("runs_per_gpu", 1),
    conda:
        SOFTWARE_ENV
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} JEDI_BENCH_RUNS_PER_GPU={params.runs_per_gpu} "
        "jedi-bench train --method {wildcards.method} --game {wildcards.game} --seed {wildcards.seed} "
        "--preset {wildcards.preset} --out {params.run_dir} --device {params.device} {params.overrides} "
        ">> {log} 2>&1"
