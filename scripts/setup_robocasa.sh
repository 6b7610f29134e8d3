#!/usr/bin/env bash
# RoboCasa's own interpreter (.venv-robocasa): RoboCasa 1.0 asserts mujoco==3.3.1
# and numpy==2.2.5 and needs robosuite 1.5, so it cannot share .venv with LIBERO.
# Installs the exact lock with --no-deps (no torch here), puts the repository on
# the path (.pth; only numpy-level modules of envs/ are used there), then makes an
# asset pack active: official assets when present (in the package, or the folder
# named by ROBOCASA_ASSETS), else the generated lite pack. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ROBOCASA_VENV:-.venv-robocasa}
LOCK=requirements/lock-robocasa.txt
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
stamp="$VENV/.lock-stamp"
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip -q --disable-pip-version-check install --no-deps -r "$LOCK"
  echo "$want" > "$stamp"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD" > "$site/h05_bench_repo.pth"
# robosuite/robocasa warn on every import without private macro files; the defaults are what we want
for pkg in robosuite robocasa; do
  dir="$site/$pkg"
  [ -f "$dir/macros_private.py" ] || echo "# defaults (written by scripts/setup_robocasa.sh)" > "$dir/macros_private.py"
done
"$VENV/bin/python" -m sim_assets.robocasa_lite.generate --install
