# Sourced by serve.sh and container.sh: the command line both take, and the
# tritonserver flags it becomes (explicit model control, the three
# endpoints, metrics on, a bounded exit).
#
#   MODEL_REPO [--http-port N] [--grpc-port N] [--metrics-port N]
#              [--address A] [--load MODEL]...
#
# parse_server_args "$@" sets REPO (absolute) and SERVER_ARGS (an array);
# the caller defines die().
parse_server_args() {
    [[ $# -ge 1 ]] || die "usage: $(basename "$0") MODEL_REPO [options]"
    REPO=$(realpath -m "$1"); shift
    local http=8000 grpc=8001 metrics=8002 address=127.0.0.1 loads=()
    while [[ $# -gt 0 ]]; do
        [[ $# -ge 2 ]] || die "option $1 needs a value"
        case $1 in
            --http-port) http=$2 ;;
            --grpc-port) grpc=$2 ;;
            --metrics-port) metrics=$2 ;;
            --address) address=$2 ;;
            --load) loads+=("--load-model=$2") ;;
            *) die "unknown option $1" ;;
        esac
        shift 2
    done
    SERVER_ARGS=(
        --model-repository="$REPO" --model-control-mode=explicit
        ${loads[@]+"${loads[@]}"}
        --http-address="$address" --http-port="$http"
        --grpc-address="$address" --grpc-port="$grpc"
        --metrics-address="$address" --metrics-port="$metrics"
        --allow-metrics=true --exit-timeout-secs=10
    )
}
