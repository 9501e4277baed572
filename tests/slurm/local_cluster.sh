#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the `slurm` tests and for trying hydra/launcher=slurm.
#   tests/slurm/local_cluster.sh up      # start it; returns once sinfo shows the node idle
#   export SLURM_CONF=/tmp/lstm-bench-slurm/slurm.conf   # what sbatch, squeue, sinfo, sacct then need
#   tests/slurm/local_cluster.sh down    # cancel its jobs, stop its daemons, remove its folder
# Both are idempotent. One node (this host) in one partition, `cpu`; munged, slurmctld and slurmd as root;
# and accounting, slurmdbd on a MariaDB of its own: submitit reads a finished job's state with sacct, and
# without it a job that ends with no result (cancelled, or its environment broken) stays UNKNOWN and the
# sweep waits for it forever. Everything (configs, munge key and socket, database, state, spool, logs)
# lives in $LSTM_BENCH_SLURM_DIR (default /tmp/lstm-bench-slurm): nothing under /etc is touched.
# Needs root and the Debian packages: apt-get install -y slurm-wlm munge slurmdbd mariadb-server
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin  # the daemons, off a plain user's PATH
DIR=${LSTM_BENCH_SLURM_DIR:-/tmp/lstm-bench-slurm}
export SLURM_CONF=$DIR/slurm.conf  # slurmdbd reads slurmdbd.conf from the same folder
export MYSQL_UNIX_PORT=$DIR/mysql/mysqld.sock  # where slurmdbd's MySQL client finds the database
PARTITION=cpu
CLUSTER=lstmbench
PACKAGES="slurm-wlm munge slurmdbd mariadb-server"
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)  # the order `down` stops them in

say() { echo "local cluster: $*"; }
die() { echo "local_cluster.sh: $*" >&2; exit 1; }

alive() {  # the daemon whose pid file is $DIR/$1.pid is running (that pid, and that program: pids get reused)
    [[ -s $DIR/$1.pid ]] && [[ $(cat "/proc/$(<"$DIR/$1.pid")/comm" 2>/dev/null) == "$1" ]]
}

node_state() {  # the node's state as sinfo reports it (idle, mixed, down*, ...), empty when no controller answers
    # no config, no question: without one, sinfo looks for a controller in DNS, which can take a minute to fail
    [[ -f $SLURM_CONF ]] || return 0
    sinfo --noheader --partition="$PARTITION" --format=%T 2>/dev/null | head -n1 || true
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, else fail naming WHAT and the logs
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 5))); do timeout 5 "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    die "$what not ready after $seconds s; logs in $DIR/*.log"
}

stop() {  # SIGTERM the daemon $1, then wait for it to go (SIGKILL after 10 s)
    local pid
    alive "$1" || return 0
    pid=$(cat "$DIR/$1.pid")
    kill "$pid" 2>/dev/null || true
    # gone, or a zombie: an orphaned daemon's new parent need not reap it at once
    for _ in $(seq 50); do [[ $(ps -o stat= -p "$pid" 2>/dev/null) =~ ^[^Z] ]] || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    [[ -d $DIR ]] || { say "not up ($DIR does not exist)"; return 0; }
    [[ $(id -u) == 0 ]] || die "must run as root (its daemons run as root)"
    if alive slurmctld; then  # no job outlives its cluster
        scancel --full --partition="$PARTITION" 2>/dev/null || true
        for _ in $(seq 50); do [[ -z $(squeue --noheader 2>/dev/null) ]] && break; sleep 0.2; done
    fi
    local daemon
    for daemon in "${DAEMONS[@]}"; do stop "$daemon"; done
    rm -rf "$DIR"
    say "down"
}

up() {
    local missing=() cmd
    for cmd in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sinfo sbatch sacct; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    ((${#missing[@]} == 0)) || die "${missing[*]} not found: apt-get install -y $PACKAGES"
    # up: the controller answers with a usable node (munged, slurmctld, slurmd) and accounting answers too
    if [[ $(node_state) =~ ^(idle|mixed|allocated|completing) ]] && timeout 5 sacct --noheader -j 1 >/dev/null 2>&1; then
        say "already up (SLURM_CONF=$SLURM_CONF)"
        return 0
    fi
    [[ $(id -u) == 0 ]] || die "must run as root (its daemons run as root and start jobs as their users)"
    down >/dev/null  # what a half-started or crashed cluster left behind

    local host node
    host=$(hostname -s)
    node=$(slurmd -C | head -n1)  # this machine as slurmd sees it: NodeName=HOST CPUs=... RealMemory=...
    mkdir -p "$DIR"/{state,spool,munge}
    chmod 755 "$DIR" "$DIR/munge"  # every user who submits a job needs the munge socket

    # munge: a key of its own (munged checks that nobody else can read it)
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
    munged --force --num-threads=4 --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munged.seed"

    # the accounting database: a MariaDB server on a socket only, root by socket authentication
    local db=(--no-defaults --datadir="$DIR/mysql" --innodb-log-file-size=8M --innodb-buffer-pool-size=16M)
    mariadb-install-db "${db[@]}" --user=root --auth-root-authentication-method=socket --skip-test-db \
        >"$DIR/mariadb-install.log" 2>&1 || die "mariadb-install-db failed; see $DIR/mariadb-install.log"
    # mariadbd stays in the foreground: its own session, and no inherited stdout (a caller reading ours would wait)
    setsid mariadbd "${db[@]}" --user=root --skip-networking --socket="$MYSQL_UNIX_PORT" \
        --pid-file="$DIR/mariadbd.pid" --log-error="$DIR/mariadbd.log" </dev/null >/dev/null 2>&1 &
    wait_for 30 MariaDB mariadb-admin --no-defaults --socket="$MYSQL_UNIX_PORT" ping

    # first: sacctmgr, sacct and slurmdbd itself read it
    cat > "$SLURM_CONF" <<EOF
# written by tests/slurm/local_cluster.sh: a one-node cluster on $host
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
# the munge socket for talking to slurmdbd (AuthInfo does not reach that connection)
AccountingStoragePass=$DIR/munge/munge.socket
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat > "$DIR/slurmdbd.conf" <<EOF
# written by tests/slurm/local_cluster.sh: accounting for the one-node cluster $CLUSTER
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
DbdHost=$host
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/slurmdbd.log
EOF
    chmod 600 "$DIR/slurmdbd.conf"  # slurmdbd refuses a config that others can read
    slurmdbd
    wait_for 30 slurmdbd sacctmgr --noheader list cluster

    slurmctld -c  # -c: a clean start, no state from an earlier cluster
    slurmd
    wait_for 60 "the node (idle in sinfo)" bash -c "[[ \$(sinfo --noheader --partition=$PARTITION --format=%T) == idle ]]"
    # slurmctld registers its cluster with slurmdbd as it connects: until then sacct knows no job
    wait_for 30 "accounting (the cluster in sacctmgr)" bash -c "sacctmgr --noheader --parsable2 list cluster format=cluster | grep -qx $CLUSTER"
    say "up, node $host idle in partition $PARTITION, accounting on (SLURM_CONF=$SLURM_CONF)"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up|down" ;;
esac
