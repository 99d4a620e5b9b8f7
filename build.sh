#!/usr/bin/env bash
# Build one isolated Python environment per service under .venv/.
#
#   ./build.sh            build (or refresh) every environment
#   ./build.sh cleaner    only the named ones
#
# Environments are built two at a time (DEEPCLEAN_BUILD_JOBS=N to change).
# Idempotent: an environment is rebuilt only when its inputs (this script and
# the pyproject.toml files it installs) changed; a second run takes seconds.
# Code is installed editable, so editing a service needs no rebuild.
# One build of an environment at a time (two starts of run.sh at once): the
# second waits on .venv/NAME.lock, at most DEEPCLEAN_BUILD_LOCK_TIMEOUT s
# (default 1800), then finds it built. An environment processes run from
# (scripts/supervise.sh and every service hold .venv/NAME.inuse) is not
# rebuilt: build.sh stops with an error naming it.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENVS=$ROOT/.venv
# torch: the CPU build; 2.13.0 satisfies every service's range
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
# environments built at once (DEEPCLEAN_BUILD_JOBS; 1: one after another)
JOBS=${DEEPCLEAN_BUILD_JOBS:-2}

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH"
# tomllib (utils.config, scripts/config_get.py) is in the standard library
# from 3.11 on
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python >= 3.11 needed, found $("$PYTHON" -V 2>&1)"

UTILS="-e $ROOT/libs/utils[test]"
UTILS_NN="-e $ROOT/libs/utils[nn,test]"
# lalsuite for the simulator's injections: the frame source, and the utils
# and root tests that run in these two environments
UTILS_INJ="-e $ROOT/libs/utils[injections,test]"
declare -A SPEC=(
    [replay]="$UTILS_INJ -e $ROOT/projects/replay[test]"
    [trainer]="$TORCH_SPEC $UTILS_NN -e $ROOT/projects/trainer[test]"
    [exporter]="$TORCH_SPEC $UTILS_NN -e $ROOT/projects/exporter[test]"
    [cleaner]="$UTILS -e $ROOT/projects/cleaner[test]"
    [monitor]="$UTILS -e $ROOT/projects/monitor[test]"
    [reprocess]="$TORCH_SPEC -e $ROOT/libs/utils[nn,injections,test] -e $ROOT/projects/reprocess[test]"
    [tests]="$UTILS_INJ -r $ROOT/tests/requirements.txt"
)
# the Triton server's own environment: numpy<2 for the python backend
TRITON_REQS="numpy<2 scipy nvidia-pytriton==0.7.0 onnxruntime"
ORDER=(replay trainer exporter cleaner monitor reprocess triton tests)

fingerprint() {
    # inputs of environment $1
    local files=(build.sh libs/utils/pyproject.toml)
    case $1 in
        triton) ;;
        tests) files+=(tests/requirements.txt) ;;
        *) files+=("projects/$1/pyproject.toml") ;;
    esac
    { echo "$1 $PYTHON $("$PYTHON" -V 2>&1)"; cat "${files[@]}"; } \
        | sha256sum | cut -d' ' -f1
}

build_env() {
    local name=$1 env=$VENVS/$1 stamp=$VENVS/$1/.built lock
    local want; want=$(fingerprint "$name")
    mkdir -p "$VENVS"
    exec {lock}>"$VENVS/$name.lock"
    local wait=${DEEPCLEAN_BUILD_LOCK_TIMEOUT:-1800}
    flock -w "$wait" "$lock" \
        || die "another build of $name holds $VENVS/$name.lock (waited ${wait}s)"
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        echo "  $name: up to date ($env)"
        return
    fi
    # held shared by supervise.sh (SUPERVISE_ENV) and by every service
    # (utils.startup.hold_environment)
    exec {inuse}>"$VENVS/$name.inuse"
    flock -n "$inuse" \
        || die "the $name environment is in use and its inputs changed; not rebuilding it under the processes running from it (a run's services, a reprocess command): stop them first (./run.sh NAME stop; tmux ls lists the runs), or build another checkout"
    echo "  $name: building $env ..."
    local log=$VENVS/$name.build.log
    {
        [[ -x $env/bin/python ]] || "$PYTHON" -m venv "$env"
        if [[ $name == triton ]]; then
            # shellcheck disable=SC2086
            "$env/bin/python" -m pip install -q $TRITON_REQS
            "$env/bin/python" -m pip install -q --no-deps -e "$ROOT/libs/utils"
        else
            # shellcheck disable=SC2086
            "$env/bin/python" -m pip install -q ${SPEC[$name]}
        fi
    } >"$log" 2>&1 || {
        grep -v "^WARNING: Location" "$log" | tail -20 >&2
        die "building the $name environment failed; full log: $log"
    }
    echo "$want" >"$stamp"
    echo "  $name: built ($(du -sh "$env" | cut -f1))"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ORDER[@]}")
for name in "${targets[@]}"; do
    [[ $name == triton || -n ${SPEC[$name]+x} ]] || die "unknown environment $name"
done
if [[ ${#targets[@]} -eq 1 ]]; then
    build_env "${targets[0]}"
    exit
fi
echo "build.sh: environments in $VENVS ($JOBS at a time)"
# one ./build.sh per environment, JOBS at once: pip is mostly one core's
# work (unpacking, compiling), so two builds at a time take ~2/3 as long
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -n 1 "$ROOT/build.sh" \
    || die "an environment failed to build (its error is above)"
echo "build.sh: done: ${targets[*]}"
