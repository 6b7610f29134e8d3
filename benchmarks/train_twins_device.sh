#!/usr/bin/env bash
# Demos + training + sanity eval of the twins checkpoints on one GPU machine, in one go
# (docs/training.md). Generates the twins' expert demos there (parallel processes, EGL on the
# GPU), trains two checkpoints at once on the one GPU (A: place_on_pad specialist on so101,
# fr3_inspire, d1; B: generalist on place_on_pad + place_left_of x 5 embodiments with held-out
# pairs), evaluates A briefly there, and packs both checkpoints (no tokenizer; pruned vocab,
# zero text head, so they compress) + logs into $OUT.
#
# Knobs (env): EPISODES (per pair and split), SPLITS, DEMO_TIMEOUT (s), STEPS_A/STEPS_B, MINUTES (training
# wall-clock cap), BATCH, PRESET, EVAL_TRIALS (0: no eval there), PY (python), OUT, PAIRS_A / PAIRS_B_EXTRA
# (task:embodiment lists), HOLDOUT (hydra list), DIAG=0 (no open-loop diagnostics), DEMO_BACK=0 (no dataset back), TRAIN_B=0 (specialist A only).
set -u
PY=${PY:-python3}
OUT=${OUT:-/tmp/h05_out}
WORK=${WORK:-/tmp/h05_work}
EPISODES=${EPISODES:-50}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-200}
STEPS_A=${STEPS_A:-6000}
STEPS_B=${STEPS_B:-6000}
MINUTES=${MINUTES:-5.5}
BATCH=${BATCH:-64}
PRESET=${PRESET:-twins}
EVAL_TRIALS=${EVAL_TRIALS:-5}
DEMO_START=${DEMO_START:-100}   # demos from init indices DEMO_START.., eval uses 0..trials-1: unseen layouts
DEVICE=${DEVICE:-auto}
EVAL_DEVICE=${EVAL_DEVICE:-cuda}
mkdir -p "$OUT" "$WORK"
export MUJOCO_GL=egl HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export MESA_SHADER_CACHE_DIR=$WORK/mesa
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }

stamp "python: $($PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())')"
$PY -c "import mujoco, av; print('mujoco', mujoco.__version__, 'av', av.__version__)" || exit 3

# 1. demos: one process per (task, embodiment); each writes $WORK/demos/<task>/<embodiment>
PAIRS_A=${PAIRS_A:-"place_on_pad:so101 place_on_pad:fr3_inspire place_on_pad:d1"}
PAIRS_B_EXTRA=${PAIRS_B_EXTRA-"place_on_pad:adam_u place_on_pad:g1 place_left_of:so101 place_left_of:fr3_inspire place_left_of:d1 place_left_of:adam_u place_left_of:g1"}
HOLDOUT=${HOLDOUT:-"[place_on_pad@adam_u,place_left_of@fr3_inspire]"}
# SPLITS processes per pair (init indices k*EPISODES.. of split k), each its own dataset folder
SPLITS=${SPLITS:-2}
for p in $PAIRS_A $PAIRS_B_EXTRA; do
  t=${p%%:*}; e=${p##*:}
  for k in $(seq 0 $((SPLITS - 1))); do
    timeout "$DEMO_TIMEOUT" $PY -m evaluators.cli demos --benchmark twins --tasks "$t" --embodiments "$e" \
      --episodes "$EPISODES" --start-index $((DEMO_START + k * EPISODES)) --out "$WORK/demos/${t}_s$k" \
      > "$WORK/demos_${t}_${e}_s$k.log" 2>&1 &
  done
done
wait
stamp "demos done"
for p in $PAIRS_A $PAIRS_B_EXTRA; do
  t=${p%%:*}; e=${p##*:}
  for k in $(seq 0 $((SPLITS - 1))); do
    n=$(grep -c ": success" "$WORK/demos_${t}_${e}_s$k.log"); f=$(grep -c ": failure" "$WORK/demos_${t}_${e}_s$k.log")
    ok=$([ -f "$WORK/demos/${t}_s$k/$e/meta/info.json" ] && echo written || echo MISSING)
    echo "demos $t@$e split $k: $n success, $f failure, dataset $ok"
  done
done | tee "$OUT/demos_summary.txt"

datasets() {  # $1: pairs -> hydra list of existing datasets
  local s="" p t e k
  for p in $1; do t=${p%%:*}; e=${p##*:}
    for k in $(seq 0 $((SPLITS - 1))); do
      [ -f "$WORK/demos/${t}_s$k/$e/meta/info.json" ] && s="$s{path: $WORK/demos/${t}_s$k/$e, weight: 1},"
    done
  done
  echo "[${s%,}]"
}
COMMON=(model.preset=$PRESET model.text_head=zero save_prune_vocab=true save_tokenizer=false benchmark=twins
        metadata_name=twins train.batch_size=$BATCH train.max_minutes=$MINUTES train.warmup=200 train.lr=3e-4
        train.save_every=1000 device=$DEVICE data.decode_threads=8 progress=false precision=${PRECISION:-auto})

# 2. train A and B at once on the one GPU
$PY -m evaluators.cli train "datasets=$(datasets "$PAIRS_A")" out=$WORK/train_A train.steps=$STEPS_A "${COMMON[@]}" \
  > "$WORK/train_A.log" 2>&1 &
PA=$!
if [ "${TRAIN_B:-1}" = 1 ]; then
  $PY -m evaluators.cli train "datasets=$(datasets "$PAIRS_A $PAIRS_B_EXTRA")" \
    "holdout=$HOLDOUT" out=$WORK/train_B train.steps=$STEPS_B "${COMMON[@]}" \
    > "$WORK/train_B.log" 2>&1 &
  PB=$!
fi
wait $PA; stamp "train A exit $?"; tail -3 "$WORK/train_A.log"
[ "${TRAIN_B:-1}" = 1 ] && { wait $PB; stamp "train B exit $?"; tail -3 "$WORK/train_B.log"; }

# 3. pack checkpoints + logs before the eval, so they come back whatever happens next
for r in A B; do
  [ -d "$WORK/train_$r/final" ] && tar -C "$WORK/train_$r" -cf - final history.jsonl | xz -T8 -6 > "$OUT/ckpt_$r.tar.xz"
done
ls -la "$OUT"

# 3b. open-loop diagnostics on a training split; one GPU-rendered dataset comes back for comparison
if [ "${DIAG:-1}" = 1 ]; then
  timeout ${DIAG_TIMEOUT:-60} $PY benchmarks/train_diag.py "$WORK/train_A/final" "$WORK/demos/place_on_pad_s0/so101" --batches 2 2>&1 \
    | grep -v Warn | tail -3 | tee "$OUT/diag_A.txt"
fi
[ "${DEMO_BACK:-1}" = 1 ] && tar -C "$WORK/demos/place_on_pad_s0" -cf "$OUT/demo_so101.tar" so101

# 4. sanity eval of A there (GPU policy, EGL renderer)
if [ -d "$WORK/train_A/final" ] && [ "$EVAL_TRIALS" -gt 0 ]; then
  timeout ${EVAL_TIMEOUT:-100} $PY -m evaluators.cli eval benchmark=twins suites=[spatial] \
    'tasks=[place_on_pad@so101,place_on_pad@fr3_inspire,place_on_pad@d1]' trials_per_task=$EVAL_TRIALS \
    policy=h05 policy.checkpoint=$WORK/train_A/final policy.device=$EVAL_DEVICE runs_dir=$WORK/runs name=device_A \
    progress=false > "$WORK/eval_A.log" 2>&1
  stamp "eval A exit $?"; tail -25 "$WORK/eval_A.log"
fi
tar -C "$WORK" -cf - --exclude='*.pt' --exclude='demos' --exclude='final' . 2>/dev/null | xz -T8 > "$OUT/logs.tar.xz"
stamp "all done"; ls -la "$OUT"
