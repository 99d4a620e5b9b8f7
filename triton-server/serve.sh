#!/usr/bin/env bash
# Start the embedded CPU Triton Inference Server (the tritonserver 2.51 binary
# inside the nvidia-pytriton wheel; python backend only) over a model
# repository, with explicit model control, bound to 127.0.0.1.
#
#   triton-server/serve.sh MODEL_REPO [--http-port N] [--grpc-port N]
#                   [--metrics-port N] [--address A] [--load MODEL]...
#
# Environment: TRITON_ENV (default <repo>/.venv/triton). Readiness is the
# caller's bounded wait (GET /v2/health/live); the exporter loads the models.
# The server runs in the foreground (exec), so a supervisor (tmux pane, test
# fixture) owns its PID; SIGTERM stops it cleanly. GPU nodes use the NGC
# container instead: triton-server/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENV=${TRITON_ENV:-$ROOT/.venv/triton}
die() { echo "serve.sh: ERROR: $*" >&2; exit 1; }

# shellcheck source=triton-server/server_args.sh
. "$ROOT/triton-server/server_args.sh"
parse_server_args "$@"

PY=$ENV/bin/python
[[ -x $PY ]] || die "no Triton environment at $ENV (run ./build.sh triton)"
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
LIBDIR=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
PYVER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
TS=$SITE/pytriton/tritonserver
[[ -x $TS/bin/tritonserver ]] || die "no tritonserver binary in $TS"

# The python backend wants the stub built for this interpreter next to it.
# Assembled in a temporary folder and renamed into place, so that servers
# started at the same moment never run a half-copied stub.
BACKENDS=$ENV/triton-backends
if [[ ! -x $BACKENDS/python/triton_python_backend_stub ]]; then
    STAGE=$(mktemp -d "$ENV/.triton-backends.XXXXXX")
    mkdir "$STAGE/python"
    cp "$TS/backends/python/libtriton_python.so" \
       "$TS/backends/python/triton_python_backend_utils.py" \
       "$TS/python_backend_stubs/$PYVER/triton_python_backend_stub" \
       "$STAGE/python/"
    chmod 755 "$STAGE"
    mv -T "$STAGE" "$BACKENDS" 2>/dev/null || rm -rf "$STAGE"
    [[ -x $BACKENDS/python/triton_python_backend_stub ]] \
        || die "no python backend stub in $BACKENDS"
fi
mkdir -p "$REPO"

# docs/architecture.md, "Triton": the wheel's libs and this interpreter's LIBDIR first, or the
# stub picks up the system libpython and python models fail.
export LD_LIBRARY_PATH=$SITE/nvidia_pytriton.libs:$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=$ENV/bin:$PATH
export PYTHONNOUSERSITE=1
exec "$TS/bin/tritonserver" "${SERVER_ARGS[@]}" \
    --backend-directory="$BACKENDS" --log-verbose=0
