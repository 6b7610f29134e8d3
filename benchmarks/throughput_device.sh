#!/usr/bin/env bash
# Throughput benchmarks on one GPU machine (issue 10), in one call, each part under its own timeout and
# each part's JSON in $OUT as soon as it exists (BENCHMARKS.md "## Throughput"):
#   0. EGL devices seen (envs.render_device), GPU, versions            -> log.txt
#   1. render tolerance: the fixed twins scenes on the GPU's EGL vs the committed llvmpipe reference
#                                                                       -> render_tolerance.json, render_gpu.npz
#   2. CPU/render reference workload (CPU ratio to the dev VM)         -> cpu_ref.json
#   3. the machine's own scaling without the harness: K = 1 8 14 16 concurrent physics processes (part "cores")
#                                                                       -> cpu_concurrent.json
#   4. twins N = 1 and 14 blind (part "blind": the composition's CPU ratio); "diag" adds rendered, and rendered with
#      the NVIDIA driver yielding instead of spinning (__GL_YIELD=USLEEP)  -> diag_blind.json diag_render.json diag_usleep.json
#   5. twins end-to-end scaling, N env workers, random policy          -> scaling.json
#   6. batched full-preset inference, batch 1 8 16 32                  -> batched_inference.json
#   7. twins scaling with the small h05 `twins` preset (GPU, batched)  -> scaling_h05.json
#   8. the full LIBERO protocol's node wall-clock, composed (needs ref, blind, scale, infer) -> compose.json
# The default parts' timeouts sum to 460 s, so with the setup below a call stays under 10 minutes. Setup (as in
# docs/training.md "Twins on the GPU machine"; first, here: git archive HEAD | xz > .train_carry/repo.tar.xz;
# carry .gl and .train_carry; 8 files come back, the limit):
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; mkdir -p /tmp/site /tmp/repo
#   tar -C /tmp/site -xJf .train_carry/site312.tar.xz; tar -C /tmp/site -xJf .train_carry/antlr.tar.xz
#   python3 -m zipfile -e .train_carry/transformers-5.23.0-py3-none-any.whl /tmp/site
#   tar -C /tmp/repo -xJf .train_carry/repo.tar.xz; cd /tmp/repo && export PYTHONPATH=/tmp/site:/tmp/repo
#   bash benchmarks/throughput_device.sh
# Knobs (env): PY, OUT, WORK, WORKERS, TRIALS, MAX_STEPS (empty: each task's own limit), PRESET, DEVICE, BATCHES,
# RENDER_DEVICE, H05_TRIALS (4), PARTS (default "ref blind scale infer compose": the composition's inputs;
# also "tol", "cores", "diag" = blind + rendered + yielding, "h05"), T_TOL T_REF T_SCALE T_INFER T_H05 (timeouts, s).
set -u
PY=${PY:-python3}
OUT=${OUT:-/tmp/h05_out}
WORK=${WORK:-/tmp/h05_work}
WORKERS=${WORKERS:-"1 2 4 8 12 14"}
TRIALS=${TRIALS:-16}  # 10 tasks x 16 = 160 full-length episodes: ~11 per worker even at N = 14
MAX_STEPS=${MAX_STEPS:-}
PARTS=${PARTS:-"ref blind scale infer compose"}
want() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
STEPS_ARG=${MAX_STEPS:+--max-steps $MAX_STEPS}
PRESET=${PRESET:-full}
DEVICE=${DEVICE:-cuda}
BATCHES=${BATCHES:-"1 8 16 32"}
RENDER_DEVICE=${RENDER_DEVICE:-auto}
mkdir -p "$OUT" "$WORK"
export MUJOCO_GL=egl HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 MESA_SHADER_CACHE_DIR=$WORK/mesa
if [ ! -e /usr/share/glvnd/egl_vendor.d/10_nvidia.json ] && [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
LOG=$OUT/log.txt
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
part() {  # part <name> <timeout s> <command...>: run, log its tail, never stop the script
  local name=$1 limit=$2; shift 2
  stamp "start $name (timeout ${limit}s)"
  timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  grep -v -i "warn" "$WORK/$name.log" | tail -20 | tee -a "$LOG"
  stamp "end $name: exit $rc"
}

stamp "python/torch: $($PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())' 2>&1)"
command -v nvidia-smi >/dev/null && nvidia-smi -L | tee -a "$LOG"
stamp "EGL devices: $($PY -m envs.render_device 2>&1 | cut -c1-600)"
stamp "cpus: $(nproc); load: $(cat /proc/loadavg)"
command -v lscpu >/dev/null && lscpu | grep -E "^(Model name|CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)|CPU max MHz)" | tee -a "$LOG"

want tol && part render_tolerance ${T_TOL:-60} bash -c "$PY benchmarks/render_tolerance.py render --device $RENDER_DEVICE --out $OUT/render_gpu.npz \
  && $PY benchmarks/render_tolerance.py compare benchmarks/data/render_llvmpipe.npz $OUT/render_gpu.npz --json $OUT/render_tolerance.json"
want ref && part cpu_ref ${T_REF:-30} $PY benchmarks/throughput_cpu_ref.py --device "$RENDER_DEVICE" --json "$OUT/cpu_ref.json"
want cores && part cpu_concurrent ${T_CORES:-60} $PY benchmarks/throughput_cpu_ref.py --concurrent 1 8 14 16 \
  --json "$OUT/cpu_concurrent.json"
if want blind || want diag; then
  part diag_blind ${T_DIAG:-90} $PY benchmarks/throughput_scaling.py --workers 1 14 --trials 4 --no-render --json "$OUT/diag_blind.json"
fi
if want diag; then
  part diag_render ${T_DIAG:-90} $PY benchmarks/throughput_scaling.py --workers 1 14 --trials 4 --json "$OUT/diag_render.json"
  part diag_usleep ${T_DIAG:-90} env __GL_YIELD=USLEEP $PY benchmarks/throughput_scaling.py --workers 1 14 --trials 4 \
    --json "$OUT/diag_usleep.json"
fi
want scale && part scaling ${T_SCALE:-200} $PY benchmarks/throughput_scaling.py --workers $WORKERS --trials "$TRIALS" \
  $STEPS_ARG --render-device "$RENDER_DEVICE" --json "$OUT/scaling.json"
want infer && part batched_inference ${T_INFER:-120} $PY benchmarks/batched_inference.py --preset "$PRESET" --device "$DEVICE" \
  --batch $BATCHES --json "$OUT/batched_inference.json"
if want h05 && [ "$DEVICE" = cuda ]; then
  part scaling_h05 ${T_H05:-75} $PY benchmarks/throughput_scaling.py --policy h05-twins --workers 1 14 \
    --trials "${H05_TRIALS:-4}" $STEPS_ARG --render-device "$RENDER_DEVICE" --json "$OUT/scaling_h05.json"
fi
want compose && part compose ${T_COMPOSE:-60} $PY benchmarks/throughput_compose.py --libero benchmarks/data/libero_step_cost.json \
  --node-dir "$OUT" --node-blind "$OUT/diag_blind.json" --json "$OUT/compose.json"  # needs parts ref, blind, scale, infer
stamp "all done"; ls -la "$OUT" | tee -a "$LOG"
