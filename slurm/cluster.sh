#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, for tests, CI and trying the
# Slurm launcher on a laptop. Debian's slurmctld + slurmd + munge (22.05);
# installed with apt-get when missing. All state (config, munge key and socket,
# spool, logs) lives under slurm/state/ (git-ignored).
#
#   bash slurm/cluster.sh start    # idempotent: starts what is not running
#   bash slurm/cluster.sh status   # daemons and `sinfo`
#   bash slurm/cluster.sh stop     # stops the daemons, keeps the state
#   bash slurm/cluster.sh wipe     # stop, then delete the state folder
#   bash slurm/cluster.sh env      # prints `export SLURM_CONF=...` for eval
#
# Clients need SLURM_CONF=slurm/state/slurm.conf (the `env` command prints it).
# No accounting daemon runs, so `sacct` answers with an error: the launcher
# reads job states from `squeue`/`scontrol` instead (see docs/slurm.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${H05_SLURM_STATE:-$HERE/state}"
CONF="$STATE/slurm.conf"
MUNGE_SOCKET="$STATE/munge/munge.socket.2"
PARTITION="${H05_SLURM_PARTITION:-debug}"
CTLD_PORT="${H05_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${H05_SLURM_SLURMD_PORT:-6818}"
export SLURM_CONF="$CONF"

log() { echo "slurm/cluster.sh: $*" >&2; }

install_packages() {
  local pkgs=(slurmctld slurmd slurm-client munge) missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "missing ${missing[*]} and no apt-get: install Slurm (slurmctld, slurmd, munge) by hand"
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]} (apt-get)"
  $sudo apt-get update -qq
  # policy-rc.d keeps the packages from starting system daemons of their own.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

write_config() {
  mkdir -p "$STATE"/{munge,ctld,spool,log,run}
  chmod 700 "$STATE/munge"
  if [ ! -s "$STATE/munge/munge.key" ]; then
    dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$STATE/munge/munge.key"
  fi
  # The node line comes from the hardware (slurmd -C); RealMemory is set below
  # what slurmd detects, otherwise the node drains as "Low RealMemory".
  local node detected mem cpus
  node="$(slurmd -C | head -1)"
  detected="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")"
  cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")"
  mem=$(( detected * 9 / 10 ))
  node="$(sed -e 's/^NodeName=[^ ]*/NodeName=localhost NodeAddr=127.0.0.1/' \
               -e "s/RealMemory=[0-9]*/RealMemory=$mem/" <<<"$node")"
  local tmp="$CONF.tmp.$$"
  cat >"$tmp" <<EOF
# Written by slurm/cluster.sh; rewritten on every start.
ClusterName=h05local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=5
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( mem / cpus / 2 ))
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=900
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$tmp" "$CONF"
}

start() {
  install_packages
  mkdir -p "$STATE"
  exec 9>"$STATE/.start.lock"
  flock 9  # two test sessions starting at once must not start two controllers
  if pid_alive "$STATE/run/munged.pid" && pid_alive "$STATE/run/slurmctld.pid" && pid_alive "$STATE/run/slurmd.pid"; then
    wait_ready
    return 0
  fi
  write_config
  if ! pid_alive "$STATE/run/munged.pid"; then
    munged --force --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" \
      --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" \
      --seed-file="$STATE/munge/munge.seed" 9>&-
  fi
  # 9>&-: the daemons must not inherit (and hold forever) the start lock.
  pid_alive "$STATE/run/slurmctld.pid" || slurmctld -f "$CONF" 9>&-
  pid_alive "$STATE/run/slurmd.pid" || slurmd -f "$CONF" -N localhost 9>&-
  wait_ready
}

wait_ready() {
  local i
  for i in $(seq 1 60); do
    if scontrol ping >/dev/null 2>&1 && sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      return 0
    fi
    # A node drained by an earlier run (the drain survives restarts): resume it.
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE 'drain'; then
      scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
    fi
    sleep 0.5
  done
  log "cluster did not become ready in 30 s; logs in $STATE/log/"
  sinfo -N -l >&2 || true
  tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
  exit 1
}

stop_daemon() {
  local pidfile="$STATE/run/$1.pid" i
  pid_alive "$pidfile" || return 0
  kill "$(cat "$pidfile")"
  for i in $(seq 1 50); do pid_alive "$pidfile" || return 0; sleep 0.1; done
  kill -9 "$(cat "$pidfile")" 2>/dev/null || true
}

stop() {
  stop_daemon slurmd
  stop_daemon slurmctld
  stop_daemon munged
}

status() {
  local d
  for d in munged slurmctld slurmd; do
    if pid_alive "$STATE/run/$d.pid"; then echo "$d: running (pid $(cat "$STATE/run/$d.pid"))"; else echo "$d: stopped"; fi
  done
  pid_alive "$STATE/run/slurmctld.pid" && sinfo
  return 0
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  wipe) stop; rm -rf "$STATE" ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|wipe|env" >&2; exit 2 ;;
esac
