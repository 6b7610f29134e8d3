#!/usr/bin/env bash
# Demos + training (+ an optional sanity eval) of twins checkpoints on one GPU machine, in one go
# (docs/training.md). Records the twins' expert demos there (parallel processes, EGL on the GPU),
# trains several runs at once on the one GPU, packs each checkpoint (no tokenizer; pruned vocab,
# zero text head, so they compress) with its history into $OUT, and evaluates them there if asked.
#
# Runs are named in RUNS (default "A B"); run R takes
#   PAIRS_R   task:embodiment pairs it trains on        SPLITS_R  demo splits of EPISODES each per pair
#   STEPS_R   optimizer steps (cosine schedule length)  HOLDOUT_R hydra list of held-out pairs ([] default)
#   EVAL_R    task@embodiment pairs evaluated there (EVAL_TRIALS each; empty: none)
#   ARGS_R    extra h05 train overrides, space-separated (e.g. "uac.enabled=true uac.max_delay=5 mpg.enabled=true")
# Shared knobs: EPISODES, DEMO_START (demos use init indices DEMO_START.., evaluation 0..: unseen
# layouts), DEMO_TIMEOUT, BATCH, LR, WARMUP, MINUTES (training wall-clock cap), PRESET, PRECISION,
# EVAL_TRIALS, EVAL_WORKERS, PY, OUT, WORK. Defaults reproduce the first session's A/B pair sets.
set -u
PY=${PY:-python3}
OUT=${OUT:-/tmp/h05_out}
WORK=${WORK:-/tmp/h05_work}
EPISODES=${EPISODES:-50}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-300}
MINUTES=${MINUTES:-5.5}
BATCH=${BATCH:-64}
LR=${LR:-3e-4}
WARMUP=${WARMUP:-200}
PRESET=${PRESET:-twins}
EVAL_TRIALS=${EVAL_TRIALS:-0}
EVAL_WORKERS=${EVAL_WORKERS:-8}
DEMO_START=${DEMO_START:-100}
RUNS=${RUNS:-"A B"}
PAIRS_A=${PAIRS_A:-"place_on_pad:so101 place_on_pad:fr3_inspire place_on_pad:d1"}
PAIRS_B=${PAIRS_B:-"$PAIRS_A place_on_pad:adam_u place_on_pad:g1 place_left_of:so101 place_left_of:fr3_inspire place_left_of:d1 place_left_of:adam_u place_left_of:g1"}
HOLDOUT_B=${HOLDOUT_B:-"[place_on_pad@adam_u,place_left_of@fr3_inspire]"}
mkdir -p "$OUT" "$WORK"
export MUJOCO_GL=egl HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export MESA_SHADER_CACHE_DIR=$WORK/mesa
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
var() { local n="$1_$2"; echo "${!n-${3-}}"; }   # var PAIRS A [default]

stamp "python: $($PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())')"
$PY -c "import mujoco, av; print('mujoco', mujoco.__version__, 'av', av.__version__)" || exit 3

# 1. demos: one process per (pair, split), each pair recorded with the most splits any run asks for
declare -A NSPLIT
for r in $RUNS; do
  for p in $(var PAIRS "$r"); do
    s=$(var SPLITS "$r" 2); [ "${NSPLIT[$p]:-0}" -lt "$s" ] && NSPLIT[$p]=$s
  done
done
for p in "${!NSPLIT[@]}"; do
  t=${p%%:*}; e=${p##*:}
  for k in $(seq 0 $((NSPLIT[$p] - 1))); do
    timeout "$DEMO_TIMEOUT" $PY -m evaluators.cli demos --benchmark twins --tasks "$t" --embodiments "$e" \
      --episodes "$EPISODES" --start-index $((DEMO_START + k * EPISODES)) --out "$WORK/demos/${t}_s$k" \
      > "$WORK/demos_${t}_${e}_s$k.log" 2>&1 &
  done
done
wait
stamp "demos done"
for p in "${!NSPLIT[@]}"; do
  t=${p%%:*}; e=${p##*:}
  for k in $(seq 0 $((NSPLIT[$p] - 1))); do
    n=$(grep -c ": success" "$WORK/demos_${t}_${e}_s$k.log"); f=$(grep -c ": failure" "$WORK/demos_${t}_${e}_s$k.log")
    ok=$([ -f "$WORK/demos/${t}_s$k/$e/meta/info.json" ] && echo written || echo MISSING)
    echo "demos $t@$e split $k: $n success, $f failure, dataset $ok"
  done
done | sort | tee "$OUT/demos_summary.txt"

datasets() {  # $1: pairs, $2: splits -> hydra list of existing datasets
  local s="" p t e k
  for p in $1; do t=${p%%:*}; e=${p##*:}
    for k in $(seq 0 $(($2 - 1))); do
      [ -f "$WORK/demos/${t}_s$k/$e/meta/info.json" ] && s="$s{path: $WORK/demos/${t}_s$k/$e, weight: 1},"
    done
  done
  echo "[${s%,}]"
}
COMMON=(model.preset=$PRESET model.text_head=zero save_prune_vocab=true save_tokenizer=false benchmark=twins
        metadata_name=twins train.batch_size=$BATCH train.max_minutes=$MINUTES train.warmup=$WARMUP train.lr=$LR
        train.save_every=1000 device=${DEVICE:-auto} data.decode_threads=${DECODE_THREADS:-6} progress=false
        precision=${PRECISION:-auto})

# 2. train every run at once on the one GPU
declare -A PID
for r in $RUNS; do
  $PY -m evaluators.cli train "datasets=$(datasets "$(var PAIRS "$r")" "$(var SPLITS "$r" 2)")" \
    "holdout=$(var HOLDOUT "$r" '[]')" out=$WORK/train_$r train.steps=$(var STEPS "$r" 6000) "${COMMON[@]}" $(var ARGS "$r" "") \
    > "$WORK/train_$r.log" 2>&1 &
  PID[$r]=$!
done
for r in $RUNS; do
  wait "${PID[$r]}"; stamp "train $r exit $?"; tail -2 "$WORK/train_$r.log"
  # pack at once, so the checkpoint comes back whatever happens next
  [ -d "$WORK/train_$r/final" ] && tar -C "$WORK/train_$r" -cf - final history.jsonl | xz -T8 -6 > "$OUT/ckpt_$r.tar.xz"
done
ls -la "$OUT"

# 3. evaluation there (GPU policy, EGL renderer), one run folder per checkpoint; records come back
if [ "$EVAL_TRIALS" -gt 0 ]; then
  for r in $RUNS; do
    pairs=$(var EVAL "$r" ""); [ -n "$pairs" ] && [ -d "$WORK/train_$r/final" ] || continue
    # one h05 eval per suite (every named task must belong to each suite given)
    for su in $(for q in $pairs; do $PY -c "from envs.twins.tasks import twin_task; print(twin_task('${q%%@*}').suite)"; done | sort -u); do
      sel=$(for q in $pairs; do [ "$($PY -c "from envs.twins.tasks import twin_task; print(twin_task('${q%%@*}').suite)")" = "$su" ] && echo "$q"; done | paste -sd, -)
      timeout ${EVAL_TIMEOUT:-300} $PY -m evaluators.cli eval benchmark=twins "suites=[$su]" "tasks=[$sel]" \
        trials_per_task=$EVAL_TRIALS workers=$EVAL_WORKERS policy=h05 policy.checkpoint=$WORK/train_$r/final \
        policy.device=${EVAL_DEVICE:-cuda} runs_dir=$WORK/runs name=device_${r}_$su progress=false > "$WORK/eval_${r}_$su.log" 2>&1
      stamp "eval $r $su exit $?"; grep -v "^\s*$" "$WORK/eval_${r}_$su.log" | tail -25
    done
  done
  [ -d "$WORK/runs" ] && tar -C "$WORK" -cf - runs | xz -T8 > "$OUT/eval_runs.tar.xz"
fi
tar -C "$WORK" -cf - --exclude='*.pt' --exclude='demos' --exclude='final' --exclude='runs' . 2>/dev/null | xz -T8 > "$OUT/logs.tar.xz"
stamp "all done"; ls -la "$OUT"
