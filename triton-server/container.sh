#!/usr/bin/env bash
# Start Triton from the NGC container (GPU nodes; the production profile)
# over a model repository, with explicit model control, bound to 127.0.0.1,
# pinned to the GPUs of DEEPCLEAN_TRITON_GPUS.
#
#   triton-server/container.sh --check
#   triton-server/container.sh MODEL_REPO [--http-port N] [--grpc-port N]
#                   [--metrics-port N] [--address A] [--load MODEL]...
#
# Environment (.env): DEEPCLEAN_TRITON_IMAGE (an NGC tritonserver image, a
# derived one of triton-server/README.md, or an Apptainer .sif),
# DEEPCLEAN_TRITON_GPUS (comma-separated GPU ids), DEEPCLEAN_CONTAINER
# ("" = the first that works of apptainer, singularity, docker).
#
# --check prints what this node lacks for it (an NVIDIA GPU: nvidia-smi
# present and working; a working container runtime; the image setting),
# one line each, and exits 1 if anything, else prints the runtime and 0.
# The server runs in the foreground (exec), so the supervisor owns it;
# SIGTERM stops it (Docker: --init forwards it, --rm removes the container).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "container.sh: ERROR: $*" >&2; exit 1; }
CHECK_TIMEOUT=20  # s for nvidia-smi / docker info to answer

missing=()
check_gpu() {
    if ! command -v nvidia-smi >/dev/null; then
        missing+=("no NVIDIA GPU: nvidia-smi is not installed (the NVIDIA driver is missing)")
    elif ! out=$(timeout "$CHECK_TIMEOUT" nvidia-smi -L 2>&1) || [[ -z $out ]]; then
        missing+=("no NVIDIA GPU: 'nvidia-smi -L' failed: ${out:-no GPU listed}")
    fi
}
runtime_works() {  # name -> 0 when it can run containers here
    case $1 in
        apptainer|singularity) timeout "$CHECK_TIMEOUT" "$1" --version >/dev/null 2>&1 ;;
        docker) timeout "$CHECK_TIMEOUT" docker info >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}
find_runtime() {
    local wanted=${DEEPCLEAN_CONTAINER:-} name tried=()
    local names=(apptainer singularity docker)
    [[ -n $wanted ]] && names=("$wanted")
    for name in "${names[@]}"; do
        if ! command -v "$name" >/dev/null; then
            tried+=("$name: not installed")
        elif runtime_works "$name"; then
            RUNTIME=$name; return 0
        else
            tried+=("$name: installed but not usable (docker: daemon not reachable)")
        fi
    done
    local IFS=';'
    missing+=("no container runtime: ${tried[*]}")
    return 1
}
check() {
    RUNTIME=
    check_gpu
    find_runtime || true
    [[ -n ${DEEPCLEAN_TRITON_IMAGE:-} ]] \
        || missing+=("DEEPCLEAN_TRITON_IMAGE is not set (.env)")
    [[ ${DEEPCLEAN_TRITON_GPUS:-} =~ ^[0-9]+(,[0-9]+)*$ ]] \
        || missing+=("DEEPCLEAN_TRITON_GPUS='${DEEPCLEAN_TRITON_GPUS:-}' is not a list of GPU ids (.env), e.g. 0 or 0,1")
    if (( ${#missing[@]} )); then
        printf '%s\n' "${missing[@]}"
        return 1
    fi
    echo "$RUNTIME"
}

if [[ ${1:-} == --check ]]; then
    check
    exit
fi
[[ $# -ge 1 ]] || die "usage: container.sh MODEL_REPO [options] | --check"
# shellcheck source=triton-server/server_args.sh
. "$ROOT/triton-server/server_args.sh"
parse_server_args "$@"
if ! report=$(check); then
    die "cannot start Triton from the container: ${report//$'\n'/; }"
fi
RUNTIME=$report
mkdir -p "$REPO"
SERVER=(tritonserver "${SERVER_ARGS[@]}")
# the repository at the same path inside (exporter and Triton agree on
# every path); utils for the python models (deepclean-null, the scheme
# steps) on PYTHONPATH
UTILS=$ROOT/libs/utils
GPUS=$DEEPCLEAN_TRITON_GPUS
echo "container.sh: $RUNTIME $DEEPCLEAN_TRITON_IMAGE on GPUs $GPUS"
case $RUNTIME in
    docker)
        exec docker run --rm --init --name "deepclean-triton-${PROJECT:-run}" \
            --gpus "\"device=$GPUS\"" --network host --shm-size 1g \
            --user "$(id -u):$(id -g)" \
            -v "$REPO:$REPO" -v "$UTILS:/opt/deepclean/utils:ro" \
            -e PYTHONPATH=/opt/deepclean/utils \
            "$DEEPCLEAN_TRITON_IMAGE" "${SERVER[@]}" ;;
    *)
        IMAGE=$DEEPCLEAN_TRITON_IMAGE
        [[ -f $IMAGE ]] || IMAGE=docker://$IMAGE
        export APPTAINERENV_CUDA_VISIBLE_DEVICES=$GPUS
        export SINGULARITYENV_CUDA_VISIBLE_DEVICES=$GPUS
        exec "$RUNTIME" exec --nv --cleanenv \
            -B "$REPO:$REPO" -B "$UTILS:/opt/deepclean/utils:ro" \
            --env PYTHONPATH=/opt/deepclean/utils \
            "$IMAGE" "${SERVER[@]}" ;;
esac
