#!/usr/bin/env bash
# Starts JupyterLab headless from the project's venv, runs check_lab.mjs on each notebook given
# (runs all its cells in the browser, moves the sliders, watches the animations) and stops the
# server again. Screenshots go to OUTDIR/<notebook name>/.
#
#   scripts/browser/check_lab.sh OUTDIR NOTEBOOK...
#   e.g. scripts/browser/check_lab.sh target/lab-check notebooks/01_forward_process.ipynb notebooks/09_sampling.ipynb
#
# Needs node and Chromium (see check_pictures.mjs) and `make setup`. Runs the notebooks in quick
# mode (DDPM_QUICK=1) unless LAB_FULL=1. Environment: VENV (default <repo>/.venv), PORT (8899),
# CHECK_TIMEOUT (seconds the cells of one notebook may run, default 600), DDPM_EVCXR_HOME (the
# kernel's compile cache; default <repo>/target/evcxr, see scripts/evcxr_kernel.py), CHROMIUM.
# The server has settings and workspaces of its own (in a temporary folder), with autosave off,
# so the notebooks are not written to.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/scripts/browser"
if [ $# -lt 2 ]; then
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
fi
OUTDIR="$(mkdir -p "$1" && cd "$1" && pwd)"
shift
VENV="${VENV:-$ROOT/.venv}"
PORT="${PORT:-8899}"
CHECK_TIMEOUT="${CHECK_TIMEOUT:-600}"
# As scripts/evcxr_kernel.py, explicitly: this checkout's cache even when VENV's kernel spec
# points at another checkout's launcher.
export DDPM_EVCXR_HOME="${DDPM_EVCXR_HOME:-$ROOT/target/evcxr}"
JUPYTER="$VENV/bin/jupyter"
[ -x "$JUPYTER" ] || { echo "check_lab: no $JUPYTER; run make setup (or set VENV)" >&2; exit 2; }
for nb in "$@"; do
  [ -f "$nb" ] || { echo "check_lab: no notebook $nb" >&2; exit 2; }
done
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  (cd "$HERE" && npm install --no-audit --no-fund)
fi

TMP="$(mktemp -d)"
TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
URL="http://127.0.0.1:$PORT/"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true # the server shuts its kernels down
    for _ in $(seq 1 20); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Settings of this server only: no autosave (the outputs would be written into the notebooks),
# no news or update checks.
mkdir -p "$TMP/settings/@jupyterlab/docmanager-extension" "$TMP/settings/@jupyterlab/apputils-extension"
echo '{"autosave": false}' > "$TMP/settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
echo '{"fetchNews": "false", "checkForUpdates": false}' > "$TMP/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"

quick=(DDPM_QUICK=1)
[ "${LAB_FULL:-}" = 1 ] && quick=()
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)
echo "check_lab: starting JupyterLab on port $PORT (log: $OUTDIR/jupyter-lab.log)${quick:+, DDPM_QUICK=1}"
(
  cd "$ROOT"
  [ ${#quick[@]} -gt 0 ] || unset DDPM_QUICK
  exec env "${quick[@]}" JUPYTER_PREFER_ENV_PATH=1 \
    JUPYTERLAB_SETTINGS_DIR="$TMP/settings" JUPYTERLAB_WORKSPACES_DIR="$TMP/workspaces" \
    JUPYTER_RUNTIME_DIR="$TMP/runtime" \
    "$JUPYTER" lab --no-browser "${root_flag[@]}" --ip 127.0.0.1 --port "$PORT" --ServerApp.port_retries=0 \
    --ServerApp.root_dir="$ROOT" --IdentityProvider.token="$TOKEN"
) > "$OUTDIR/jupyter-lab.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 120); do
  curl -sf -H "Authorization: token $TOKEN" "${URL}api/status" > /dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "check_lab: JupyterLab exited:" >&2; tail -20 "$OUTDIR/jupyter-lab.log" >&2; exit 1; }
  [ "$i" = 120 ] && { echo "check_lab: JupyterLab did not answer within 60 s" >&2; exit 1; }
  sleep 0.5
done

status=0
rels=()
for nb in "$@"; do
  rel="$(realpath --relative-to="$ROOT" "$nb")"
  rels+=("$rel")
  name="$(basename "$nb" .ipynb)"
  echo "check_lab: $rel"
  node "$HERE/check_lab.mjs" --url "$URL" --token "$TOKEN" --timeout "$CHECK_TIMEOUT" "$rel" "$OUTDIR/$name" || status=1
done
if ! git -C "$ROOT" diff --quiet -- "${rels[@]}"; then
  echo "check_lab: a notebook was modified on disk (saved with outputs?): git diff ${rels[*]}" >&2
  status=1
fi
[ "$status" = 0 ] && echo "check_lab: all ok (screenshots in $OUTDIR)" || echo "check_lab: FAILED (screenshots in $OUTDIR)"
exit "$status"
