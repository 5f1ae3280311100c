#!/usr/bin/env bash
# A single-node SLURM on loopback for tests and trials (Debian, as root): munged, slurmctld and slurmd
# started directly (no systemd), no cgroups, no accounting database.
#   scripts/slurm-local.sh start     install the packages if missing, write the config, start; idempotent
#   scripts/slurm-local.sh status    the daemons' PIDs and `sinfo`
#   scripts/slurm-local.sh stop      cancel its jobs, stop the daemons this script started (by PID file)
# The config goes to /etc/slurm/slurm.conf (where sbatch/squeue look) and is only ever replaced when
# this script wrote it; state, logs and PID files live in $JEDI_BENCH_SLURM_DIR.
set -euo pipefail

DIR="${JEDI_BENCH_SLURM_DIR:-/var/tmp/jedi-bench-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# written by jedi-bench scripts/slurm-local.sh"
PACKAGES=(slurmctld slurmd slurm-client munge)

running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

write_config() {
    if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
        echo "slurm-local: $CONF exists and was not written by this script; leaving it alone" >&2
        exit 1
    fi
    local host node
    host=$(hostname -s)
    # The node as slurmd sees it (CPUs, sockets, cores, memory), reachable on loopback.
    node=$(slurmd -C | head -n 1)
    mkdir -p "$DIR"/{state,spool,log} /etc/slurm
    cat > "$CONF" <<EOF
$MARK
ClusterName=jedi-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups: processes tracked by their parent ids, no task confinement, no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
# Finished jobs stay visible to squeue for 10 minutes (the status command without accounting).
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
    [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$DIR/munged.pid"
}

start() {
    [[ $(id -u) == 0 ]] || { echo "slurm-local: run as root" >&2; exit 1; }
    install_packages
    write_config
    start_munge
    running "$DIR/slurmctld.pid" || slurmctld
    running "$DIR/slurmd.pid" || slurmd
    # Ready once the node is idle (or busy with jobs from before a restart).
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
            echo "slurm-local: up ($(sinfo -h -o '%P %D %c CPUs %m MB %T'))"
            return
        fi
        sleep 0.5
    done
    echo "slurm-local: the node did not come up; logs in $DIR/log" >&2
    sinfo >&2 || true
    exit 1
}

stop() {
    # Jobs die with the cluster rather than outlive slurmd as orphaned processes.
    if running "$DIR/slurmctld.pid"; then
        squeue --noheader --format=%i | xargs -r scancel
        for _ in $(seq 20); do [[ -z $(squeue --noheader --format=%i) ]] && break; sleep 0.5; done
    fi
    for d in slurmd slurmctld munged; do
        if running "$DIR/$d.pid"; then
            kill "$(cat "$DIR/$d.pid")"
            echo "slurm-local: stopped $d"
        fi
        rm -f "$DIR/$d.pid"
    done
}

status() {
    for d in munged slurmctld slurmd; do
        if running "$DIR/$d.pid"; then echo "$d: running (pid $(cat "$DIR/$d.pid"))"; else echo "$d: not started here"; fi
    done
    sinfo
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
