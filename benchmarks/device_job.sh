#!/usr/bin/env bash
# Run a job longer than one device call (10 min) on the lent GPU machine: `start` launches it in its
# own process session (it survives the call's end while the machine stays warm) and follows its log;
# `follow` (the next call, issued at once) follows it again. Both return before LIMIT seconds, copying
# the log and everything the job put in JOB_OUT into $OUT.
#   bash benchmarks/device_job.sh start  JOB_OUT LIMIT command...
#   bash benchmarks/device_job.sh follow JOB_OUT LIMIT
# The job's last line of output must contain "all done" (train_twins_device.sh prints it).
set -u
mode=$1 job_out=$2 limit=$3; shift 3
log=$job_out.log
mkdir -p "$job_out"
if [ "$mode" = start ]; then
  setsid nohup "$@" > "$log" 2>&1 < /dev/null &
fi
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt "$limit" ] && ! grep -q "all done" "$log" 2>/dev/null; do sleep 5; done
grep -q "all done" "$log" && echo "JOB FINISHED" || echo "JOB STILL RUNNING after ${limit}s"
tail -60 "$log"
cp "$log" "${OUT:-/tmp}/job.log" 2>/dev/null
grep -q "all done" "$log" && cp "$job_out"/* "${OUT:-/tmp}/" 2>/dev/null
true
