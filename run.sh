#!/usr/bin/env bash
# Run the DeepClean online pipeline in one tmux session.
#
#   ./run.sh NAME            start run NAME (builds environments on first use)
#   ./run.sh NAME status     what is running, health, newest frame, versions,
#                            with the run's own ports and folders (those
#                            start wrote to its run.env), whatever this
#                            shell's settings; exit status 0: every pane
#                            alive, Triton and the exporter healthy and
#                            the monitor's verdict not CRITICAL or
#                            UNKNOWN, 3: not running, 4: running but a
#                            pane is dead or a health check failed, 1: an
#                            error
#   ./run.sh NAME stop       stop every service cleanly (reverse order)
#   ./run.sh NAME attach     attach to the tmux session
#   ./run.sh NAME render     print what start would run (profile, ports,
#                            frame source, each pane's command, each
#                            service's settings as it parses them); starts
#                            nothing (alias: --dry-run)
#
# NAME: a letter or digit, then letters, digits, _ and - (it names the tmux
# session deepclean-NAME and, by default, the folder ~/deepclean/NAME).
#
# Configuration: .env at the repository root (copy .env.example; without one
# the example's defaults are used), and .env.NAME for run NAME alone (it
# overrides .env). Variables already set by the caller override both.
# Each line of these files is blank, a comment (#...) or NAME=VALUE, with an
# optional leading "export "; anything else is refused, naming the file and
# line. Whitespace around the line, the = and the value is dropped (so are
# Windows line ends); an unquoted value ends at " #" (a comment). A value in
# matching double or single quotes is taken as it is between them (# and
# spaces included). ${VAR} and $VAR are then replaced in every value, quoted
# or not (single quotes too): by the caller's variables, ${PROJECT} (= NAME)
# and what the files set before: .env.example, then .env, then .env.NAME,
# each line in order (so .env.NAME may use a value of .env).
# DEEPCLEAN_CONFIG (default pyproject.toml) and DEEPCLEAN_PROFILE ("" =
# embedded CPU defaults, "low-latency", "production" = the GPU sections)
# choose the typeo sections
# (<service>-<profile>; a service without one runs its base section; a
# profile no service has a section of is refused).
# DEEPCLEAN_SOURCE says whether run.sh may start the embedded frame source
# when DATA_DIR holds no frames: "simulate" yes, "live" never (the services
# wait for the live source's frames), "" or "auto" only when DATA_DIR lies
# inside PROJECT_DIR (the run's own folder, which nothing else reads: never
# a site's shared memory, where simulated frames would reach every other
# reader). Frames present are always used.
# DEEPCLEAN_SCENE (e.g. sideband-heavy, drifting) runs the embedded frame
# source with section replay-<scene> instead: a harder simulated coupling.
# DEEPCLEAN_PORT_BASE (.env) moves every port of the run to BASE..BASE+9,
# so that two runs (e.g. H1 and L1) share a node. When the exporter's
# backend is tensorrt (production), Triton runs from the NGC container
# (triton-server/container.sh) on DEEPCLEAN_TRITON_GPUS and the trainer on
# DEEPCLEAN_TRAINER_GPUS. With no terminal (CI) the session stays detached.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
cd "$ROOT"
die() { echo "run.sh: ERROR: $*" >&2; exit 1; }
info() { echo "run.sh: $*"; }

[[ $# -ge 1 && $1 != -* ]] || die "usage: ./run.sh NAME [start|status|stop|attach|render]"
NAME=$1
ACTION=${2:-start}
[[ $ACTION == --dry-run ]] && ACTION=render
# tmux renames '.' and ':' in session names, and '.' or '..' as PROJECT
# would make ~/deepclean/${PROJECT} a parent folder: neither is allowed
[[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] \
    || die "run name '$NAME': a letter or digit, then letters, digits, _ and - only (no '.', '/' or spaces)"
export PROJECT=$NAME
SESSION=deepclean-$NAME
# Exact tmux targets only: a bare "-t deepclean-h1" falls back to a prefix
# match (deepclean-h1-test) when run h1 is not running, so one run's
# status, stop or start check would act on another run.
SESSION_T="=$SESSION"           # commands that take a session
WINDOW_T="=$SESSION:pipeline"   # a window (also: its session's options)
HEALTH_FILE=monitor/status/nagios.json  # the monitor's verdict, in PROJECT_DIR

# --- environment: caller > .env.NAME > .env > .env.example ------------------
# The variables the caller set (and PROJECT) are never replaced; the files
# are read from the weakest to the strongest, each value expanded when its
# line is read, so that it can use the caller's variables and what the
# files set before it.
declare -A CALLER_SET=() FILE_SET=()
while IFS= read -r _var; do CALLER_SET[$_var]=1; done < <(compgen -e)
load_env() {  # file
    local _file=$1 _n=0 _line _key _raw _value _q
    while IFS= read -r _line || [[ -n $_line ]]; do
        _n=$(( _n + 1 ))
        _line=${_line%$'\r'}                             # Windows line end
        _line=${_line#"${_line%%[![:space:]]*}"}         # leading blanks
        _line=${_line%"${_line##*[![:space:]]}"}         # trailing blanks
        [[ -z $_line || $_line == \#* ]] && continue
        [[ $_line =~ ^export[[:space:]]+(.*)$ ]] && _line=${BASH_REMATCH[1]}
        [[ $_line =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] \
            || die "$_file:$_n: not NAME=VALUE, a comment (#) or a blank line"
        _key=${BASH_REMATCH[1]}
        _raw=${BASH_REMATCH[2]}
        if [[ $_raw == [\"\']* ]]; then                  # quoted: as it is
            _q=${_raw:0:1}
            [[ ${_raw:1} =~ ^([^$_q]*)$_q[[:space:]]*(#.*)?$ ]] \
                || die "$_file:$_n: $_key: a value opened with $_q must end with $_q (then at most a comment)"
            _raw=${BASH_REMATCH[1]}
        else
            _raw=${_raw%%[[:space:]]#*}                  # trailing comment
            _raw=${_raw%"${_raw##*[![:space:]]}"}        # and the blanks before it
        fi
        [[ -n ${CALLER_SET[$_key]:-} ]] && continue      # the caller's value wins
        # a variable of run.sh or of bash itself (ROOT, UID...) is no setting
        [[ -n ${!_key+x} && -z ${FILE_SET[$_key]:-} ]] \
            && die "$_file:$_n: $_key is a variable of run.sh or of the shell, not a setting"
        _value=$(envsubst <<<"$_raw")
        export "$_key=$_value"
        FILE_SET[$_key]=1
    done <"$_file"
}
load_env "$ROOT/.env.example"
if [[ -f $ROOT/.env ]]; then
    load_env "$ROOT/.env"
else
    info "no .env: using the defaults of .env.example"
fi
# .env.NAME: this run's own settings (e.g. IFO and DEEPCLEAN_PORT_BASE of a
# second pipeline on the node), over .env's
if [[ -f $ROOT/.env.$NAME ]]; then
    info "settings of run $NAME from .env.$NAME"
    load_env "$ROOT/.env.$NAME"
fi
: "${PROJECT_DIR:?PROJECT_DIR must be set in .env}"
: "${DATA_DIR:?DATA_DIR must be set in .env}"
: "${IFO:?IFO must be set in .env}"
[[ -n ${ARCHIVE_DIR:-} ]] || ARCHIVE_DIR=$PROJECT_DIR/archive
export ARCHIVE_DIR
export DEEPCLEAN_CONFIG=${DEEPCLEAN_CONFIG:-$ROOT/pyproject.toml}
SUFFIX=${DEEPCLEAN_PROFILE:+-$DEEPCLEAN_PROFILE}
READY_TIMEOUT=${DEEPCLEAN_READY_TIMEOUT:-180}
[[ ${DEEPCLEAN_PROFILE:-} =~ ^[A-Za-z0-9-]*$ ]] \
    || die "DEEPCLEAN_PROFILE='$DEEPCLEAN_PROFILE': letters, digits and - only"
# a profile is a suffix of the sections of the services it tunes (replay's
# suffixes are scenes): a misspelt one must not run the base sections
if [[ -n ${DEEPCLEAN_PROFILE:-} ]]; then
    profiles=$(grep -oE '^\[tool\.typeo\.scripts\.(trainer|exporter|cleaner|monitor)-[A-Za-z0-9-]+\]' "$DEEPCLEAN_CONFIG" \
        | sed -E 's/^[^-]*-//; s/\]$//' | sort -u | paste -sd ' ' || true)
    [[ " $profiles " == *" $DEEPCLEAN_PROFILE "* ]] \
        || die "DEEPCLEAN_PROFILE='$DEEPCLEAN_PROFILE': no section [tool.typeo.scripts.<service>-$DEEPCLEAN_PROFILE] in $DEEPCLEAN_CONFIG (profiles: ${profiles:-none}; \"\" for the base sections)"
fi
case ${DEEPCLEAN_SOURCE:-auto} in
    auto|simulate|live) ;;
    *) die "DEEPCLEAN_SOURCE='$DEEPCLEAN_SOURCE': auto, simulate or live" ;;
esac
if [[ -n ${DEEPCLEAN_SCENE:-} ]]; then
    grep -qxF "[tool.typeo.scripts.replay-$DEEPCLEAN_SCENE]" "$DEEPCLEAN_CONFIG" \
        || die "DEEPCLEAN_SCENE='$DEEPCLEAN_SCENE': no section [tool.typeo.scripts.replay-$DEEPCLEAN_SCENE] in $DEEPCLEAN_CONFIG (scenes: $(grep -o '^\[tool.typeo.scripts.replay-[A-Za-z0-9-]*' "$DEEPCLEAN_CONFIG" | sed 's/.*replay-//' | tr '\n' ' '))"
fi
section_of() {  # service -> its typeo section in this run
    if [[ $1 == replay && -n ${DEEPCLEAN_SCENE:-} ]]; then
        echo "replay-$DEEPCLEAN_SCENE"
    else
        echo "$1$SUFFIX"
    fi
}

# --- ports: DEEPCLEAN_PORT_BASE -> every DEEPCLEAN_PORT_* of pyproject.toml --
# (a DEEPCLEAN_PORT_* set by the caller wins; without a base the defaults of
# pyproject.toml apply)
PORT_NAMES=(TRITON_HTTP TRITON_GRPC TRITON_METRICS EXPORTER STATUS
    TRAINER_METRICS EXPORTER_METRICS CLEANER_METRICS MONITOR_METRICS
    REPLAY_METRICS)
if [[ -n ${DEEPCLEAN_PORT_BASE:-} ]]; then
    [[ $DEEPCLEAN_PORT_BASE =~ ^[0-9]+$ ]] \
        && (( DEEPCLEAN_PORT_BASE >= 1024 && DEEPCLEAN_PORT_BASE + ${#PORT_NAMES[@]} <= 65536 )) \
        || die "DEEPCLEAN_PORT_BASE='$DEEPCLEAN_PORT_BASE': a port in 1024..$(( 65536 - ${#PORT_NAMES[@]} ))"
    for i in "${!PORT_NAMES[@]}"; do
        key=DEEPCLEAN_PORT_${PORT_NAMES[$i]}
        [[ -n ${!key:-} ]] || export "$key=$(( DEEPCLEAN_PORT_BASE + i ))"
    done
fi

cfg() { "${PYTHON:-python3}" "$ROOT/scripts/config_get.py" "$DEEPCLEAN_CONFIG" "$@"; }
# the IFO must have its witness list (pyproject.toml, witness_channels_<IFO>)
if ! cfg base.witness_channels >/dev/null 2>&1; then
    known=$(grep -o '^witness_channels_[A-Za-z0-9]*' "$DEEPCLEAN_CONFIG" \
        | sed 's/^witness_channels_//' | tr '\n' ' ')
    die "IFO=$IFO is not supported: $DEEPCLEAN_CONFIG has no witness_channels_$IFO in [tool.typeo.base] (known IFOs: ${known:-none})"
fi
urls() {  # the run's addresses, from DEEPCLEAN_CONFIG and DEEPCLEAN_PORT_*
    TRITON_HTTP=http://$(cfg base.triton_http_url)
    TRITON_GRPC=$(cfg base.triton_grpc_url)
    TRITON_METRICS_PORT=$(cfg base.triton_metrics_port)
    EXPORTER_URL=$(cfg base.exporter_url)
    STATUS_URL=$(cfg base.status_url)
}
urls
# production: the exporter builds TensorRT plans -> the container Triton
# on GPUs; the trainer on its GPUs when its device is cuda
TRITON_KIND=embedded
[[ $(cfg "exporter$SUFFIX.backend") == tensorrt ]] && TRITON_KIND=container
TRAINER_DEVICE=$(cfg "trainer$SUFFIX.device")

# --- readiness: bounded, and the pane must still be alive -------------------
pane_dead() {  # pane -> 0 when its supervisor has exited (or it is gone)
    [[ $(tmux display -p -t "$1" '#{pane_dead}' 2>/dev/null || echo 1) == 1 ]]
}

died_while_starting() {  # what name: the end of its terminal output
    local console=$PROJECT_DIR/logs/$2.console
    die "$1 died while starting; the end of $console:"$'\n'"$(tail -n 15 "$console" 2>/dev/null || echo "  (none)")"
}

wait_http() {  # what url timeout pane name
    local what=$1 url=$2 timeout=$3 pane=$4 name=$5 start=$SECONDS
    info "waiting for $what at $url (up to ${timeout}s)"
    until curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; do
        pane_dead "$pane" && died_while_starting "$what" "$name"
        (( SECONDS - start < timeout )) || die "$what not ready after ${timeout}s; see $PROJECT_DIR/logs/"
        sleep 1
    done
    info "$what ready after $(( SECONDS - start ))s"
}

have_frames() {
    compgen -G "$DATA_DIR/kafka/$IFO/*.gwf" >/dev/null
}

may_simulate() {  # whether the embedded source may write into DATA_DIR
    case ${DEEPCLEAN_SOURCE:-auto} in
        simulate) return 0 ;;
        live) return 1 ;;
    esac
    local data project
    data=$(realpath -m "$DATA_DIR") project=$(realpath -m "$PROJECT_DIR")
    [[ $data == "$project" || $data == "$project"/* ]]
}

start_pane() {  # name command...
    local name=$1; shift
    local cmd
    printf -v cmd '%q ' "$@"
    # the environment travels in a private file, not on command lines
    local full
    # (each pane's environment is .venv/NAME: supervise.sh holds it in use)
    printf -v full 'cd %q && set -a && . %q && set +a && SUPERVISE_ENV=%q exec scripts/supervise.sh %q %s' \
        "$ROOT" "$RUN_ENV" "$ROOT/.venv/$name" "$name" "$cmd"
    # (called as $(start_pane ...), where set -e does not hold: each tmux
    # call is checked, or a failed one would hand an empty pane id on, and
    # tmux takes an empty target for the current pane of any session)
    local pane
    if tmux has-session -t "$SESSION_T" 2>/dev/null; then
        pane=$(tmux split-window -d -P -F '#{pane_id}' -t "$WINDOW_T" "$full") || pane=
        tmux select-layout -t "$WINDOW_T" tiled >/dev/null || true
    else
        pane=$(tmux new-session -d -P -F '#{pane_id}' -s "$SESSION" -n pipeline -x 240 -y 60 "$full") || pane=
        if [[ $pane == %* ]]; then
            tmux set-option -t "$WINDOW_T" pane-border-status top >/dev/null \
                && tmux set-option -t "$WINDOW_T" pane-border-format ' #{pane_title} ' >/dev/null \
                && tmux set-option -t "$WINDOW_T" remain-on-exit on >/dev/null \
                && tmux set-option -t "$WINDOW_T" @deepclean_run_env "$RUN_ENV" >/dev/null \
                || die "cannot set the options of tmux session $SESSION"
        fi
    fi
    [[ $pane == %* ]] || die "tmux started no pane for $name in session $SESSION (pane id '${pane}')"
    tmux select-pane -t "$pane" -T "$name" || die "cannot title tmux pane $pane ($name)"
    echo "$pane"
}

service() {  # name -> command line of a python service
    if [[ $1 == trainer && $TRAINER_DEVICE == cuda* ]]; then
        echo env "CUDA_VISIBLE_DEVICES=${DEEPCLEAN_TRAINER_GPUS:-}" \
            "$ROOT/.venv/$1/bin/$1" --typeo "$DEEPCLEAN_CONFIG:$(section_of "$1")"
    else
        echo "$ROOT/.venv/$1/bin/$1" --typeo "$DEEPCLEAN_CONFIG:$(section_of "$1")"
    fi
}

triton_command() {  # TRITON_CMD: the Triton server of this profile
    local script=serve.sh
    [[ $TRITON_KIND == container ]] && script=container.sh
    TRITON_CMD=("$ROOT/triton-server/$script" "$(cfg "exporter$SUFFIX.model_repo")"
        --http-port "${TRITON_HTTP##*:}" --grpc-port "${TRITON_GRPC##*:}"
        --metrics-port "$TRITON_METRICS_PORT" --load '*')
}

check_gpu_node() {  # production: say every missing piece, then stop
    [[ $TRITON_KIND == container || $TRAINER_DEVICE == cuda* ]] || return 0
    local missing
    missing=$("$ROOT/triton-server/container.sh" --check) && return 0
    if [[ $TRAINER_DEVICE == cuda* && ! ${DEEPCLEAN_TRAINER_GPUS:-} =~ ^[0-9]+(,[0-9]+)*$ ]]; then
        missing+=$'\n'"DEEPCLEAN_TRAINER_GPUS='${DEEPCLEAN_TRAINER_GPUS:-}' is not a list of GPU ids (.env)"
    fi
    die "profile ${DEEPCLEAN_PROFILE:-cpu} needs a GPU node (Triton from the NGC container on DEEPCLEAN_TRITON_GPUS, the trainer on DEEPCLEAN_TRAINER_GPUS); this node lacks:"$'\n'"$(sed 's/^/  - /' <<<"$missing")"
}

source_kind() {  # LIGO frames present, the embedded frame source, or none
    if have_frames; then echo "LIGO frames in $DATA_DIR/kafka/$IFO"
    elif may_simulate; then echo "embedded frame source ($(section_of replay), falls back to [replay])"
    else echo "none yet in $DATA_DIR/kafka/$IFO: the services wait for the live source's (DEEPCLEAN_SOURCE=${DEEPCLEAN_SOURCE:-auto}; DATA_DIR outside PROJECT_DIR is never simulated into unless DEEPCLEAN_SOURCE=simulate)"; fi
}

render() {  # what start would run; starts nothing
    echo "run $NAME: profile=${DEEPCLEAN_PROFILE:-cpu} IFO=$IFO config=$DEEPCLEAN_CONFIG"
    echo "folders: PROJECT_DIR=$PROJECT_DIR DATA_DIR=$DATA_DIR ARCHIVE_DIR=$ARCHIVE_DIR"
    echo "witnesses: $(cfg base.witness_channels | wc -w)"
    echo "ports: triton http ${TRITON_HTTP##*:} grpc ${TRITON_GRPC##*:} metrics $TRITON_METRICS_PORT; exporter $EXPORTER_URL; status page $STATUS_URL"
    echo "frames: $(source_kind)"
    triton_command
    echo "triton ($TRITON_KIND): ${TRITON_CMD[*]}"
    local svc
    for svc in exporter replay trainer cleaner monitor; do
        [[ $svc == replay ]] && have_frames && continue
        echo "$svc: $(service "$svc")"
    done
    # each service parses its settings in its own environment, all at
    # once (the imports take seconds each); printed in order
    local checks; checks=$(mktemp -d)
    for svc in exporter replay trainer cleaner monitor; do
        [[ $svc == replay ]] && have_frames && continue
        [[ -x $ROOT/.venv/$svc/bin/python ]] || continue
        { if "$ROOT/.venv/$svc/bin/python" "$ROOT/scripts/check_settings.py" \
                "$svc" "$DEEPCLEAN_CONFIG:$(section_of "$svc")" \
                >"$checks/$svc.out" 2>"$checks/$svc.err"
          then echo 0; else echo $?; fi >"$checks/$svc.rc"; } &
    done
    wait
    for svc in exporter replay trainer cleaner monitor; do
        [[ $svc == replay ]] && have_frames && continue
        [[ -x $ROOT/.venv/$svc/bin/python ]] || { echo "$svc settings: no .venv/$svc (./build.sh $svc)"; continue; }
        printf '%s settings: %s' "$svc" "$(cat "$checks/$svc.out")"
        echo
        cat "$checks/$svc.err" >&2
        [[ $(cat "$checks/$svc.rc") == 0 ]] || { rm -rf "$checks"; return 1; }
    done
    rm -rf "$checks"
    if [[ $TRITON_KIND == container || $TRAINER_DEVICE == cuda* ]]; then
        local missing
        if missing=$("$ROOT/triton-server/container.sh" --check); then
            echo "GPU node: ok ($missing)"
        else
            echo "GPU node: missing:"; sed 's/^/  - /' <<<"$missing"
        fi
    fi
}

start() {
    command -v tmux >/dev/null || die "tmux is not installed (apt-get install tmux)"
    if tmux has-session -t "$SESSION_T" 2>/dev/null; then
        die "run $NAME is already running (./run.sh $NAME status | stop)"
    fi
    "$ROOT/build.sh"
    check_gpu_node
    mkdir -p "$PROJECT_DIR/logs" "$DATA_DIR" "$ARCHIVE_DIR"
    # an earlier run's verdict says nothing of this one (status would read
    # it as UNKNOWN until the monitor's first)
    rm -f "$PROJECT_DIR/$HEALTH_FILE"
    if [[ -z ${DEEPCLEAN_API_TOKEN:-} ]]; then
        local token_file=$PROJECT_DIR/api-token
        if [[ ! -s $token_file ]]; then
            (umask 077; "${PYTHON:-python3}" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$token_file")
        fi
        DEEPCLEAN_API_TOKEN=$(cat "$token_file")
        info "API token generated in $token_file (set DEEPCLEAN_API_TOKEN to choose one)"
    fi
    export DEEPCLEAN_API_TOKEN
    RUN_ENV=$PROJECT_DIR/run.env
    local ports=() name
    for name in "${PORT_NAMES[@]}"; do
        name=DEEPCLEAN_PORT_$name
        [[ -n ${!name:-} ]] && ports+=("$name")
    done
    for name in DEEPCLEAN_TRITON_IMAGE DEEPCLEAN_TRITON_GPUS DEEPCLEAN_CONTAINER; do
        [[ -n ${!name:-} ]] && ports+=("$name")
    done
    (umask 077; for key in PROJECT PROJECT_DIR DATA_DIR IFO ARCHIVE_DIR \
            DEEPCLEAN_API_TOKEN DEEPCLEAN_CONFIG ${ports[@]+"${ports[@]}"}; do
        printf '%s=%q\n' "$key" "${!key}"
    done >"$RUN_ENV"; echo "PYTHONUNBUFFERED=1" >>"$RUN_ENV")
    info "run $NAME: PROJECT_DIR=$PROJECT_DIR DATA_DIR=$DATA_DIR IFO=$IFO profile=${DEEPCLEAN_PROFILE:-cpu}"

    # Triton loads every model of the (persistent) repository at start-up, so
    # a restarted server serves the same versions and promotion at once.
    local pane
    triton_command
    pane=$(start_pane triton "${TRITON_CMD[@]}")
    wait_http Triton "$TRITON_HTTP/v2/health/live" "$READY_TIMEOUT" "$pane" triton

    # shellcheck disable=SC2046
    pane=$(start_pane exporter $(service exporter))
    wait_http exporter "$EXPORTER_URL/health" "$READY_TIMEOUT" "$pane" exporter

    if have_frames; then
        info "frames found in $DATA_DIR/kafka/$IFO: using them"
    elif ! may_simulate; then
        info "no frames in $DATA_DIR/kafka/$IFO yet: not simulating into it (DEEPCLEAN_SOURCE=${DEEPCLEAN_SOURCE:-auto}, DATA_DIR outside PROJECT_DIR); the services wait for the live source's frames"
    else
        info "no frames in $DATA_DIR/kafka/$IFO: starting the embedded frame source"
        # shellcheck disable=SC2046
        pane=$(start_pane replay $(service replay))
        local start=$SECONDS
        until have_frames; do
            pane_dead "$pane" && died_while_starting "the frame source" replay
            (( SECONDS - start < READY_TIMEOUT )) || die "the frame source wrote nothing in ${READY_TIMEOUT}s"
            sleep 1
        done
    fi
    for svc in trainer cleaner monitor; do
        # shellcheck disable=SC2046
        start_pane "$svc" $(service "$svc") >/dev/null
    done
    tmux select-layout -t "$WINDOW_T" tiled >/dev/null
    info "started; status page $STATUS_URL, logs in $PROJECT_DIR/logs/"
    info "stop with: ./run.sh $NAME stop"
    if [[ -t 0 && -t 1 && -z ${CI:-} && -z ${TMUX:-} ]]; then
        exec tmux attach -t "$SESSION_T"
    fi
    info "detached (no terminal); attach with: ./run.sh $NAME attach"
}

stop() {
    tmux has-session -t "$SESSION_T" 2>/dev/null || { info "run $NAME is not running"; return 0; }
    local order=(monitor cleaner trainer replay exporter triton) name pane pid
    for name in "${order[@]}"; do
        while read -r pane pid title; do
            [[ $title == "$name" ]] || continue
            info "stopping $name"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 40); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.5
            done
            kill -KILL "$pid" 2>/dev/null || true
        done < <(tmux list-panes -s -t "$SESSION_T" -F '#{pane_id} #{pane_pid} #{pane_title}')
    done
    tmux kill-session -t "$SESSION_T" 2>/dev/null || true
    info "run $NAME stopped"
}

run_settings() {  # the settings of the running run: the run.env start wrote
    # (this shell's may differ: another port base, PROJECT_DIR or config,
    # e.g. after IFO=H1 DEEPCLEAN_PORT_BASE=18000 ./run.sh h1)
    local file name
    file=$(tmux show-options -v -t "$WINDOW_T" @deepclean_run_env 2>/dev/null) || file=
    [[ -n $file ]] || file=$PROJECT_DIR/run.env  # a session of an older run.sh
    if [[ ! -r $file ]]; then
        info "WARNING: cannot read $file, the settings run $NAME started with: the ports and folders below are this shell's"
        return 0
    fi
    # this shell's ports go: a run started without them has none in its file
    for name in "${PORT_NAMES[@]}"; do unset "DEEPCLEAN_PORT_$name"; done
    set -a
    # shellcheck disable=SC1090
    . "$file"
    set +a
    urls
    echo "settings: $file"
}

newest_frame() {  # DIR: its newest frame by GPS, and how long ago it was written
    # judged as the services judge names: a frame of a second not begun
    # (a stray) is not the newest
    local python=$ROOT/.venv/monitor/bin/python
    [[ -x $python ]] || { echo "? (no .venv/monitor: ./build.sh monitor)"; return 0; }
    timeout 10 "$python" "$ROOT/scripts/newest_frame.py" "$1" 2>/dev/null || echo "? (cannot list $1)"
}

# FILE: the monitor's health verdict (its nagios.json) as LIGO's dashboard
# reads it: the status code of the interval in force by the file's age
# (UNKNOWN, 3, once it is too old; - when there is no file yet), then that
# interval's text on one printable line and the age
verdict() {
    [[ -e $1 ]] || { echo "- none yet ($1)"; return 0; }
    [[ -f $1 ]] || { echo "3 unreadable ($1: not a file)"; return 0; }
    timeout 5 "${PYTHON:-python3}" - "$1" 2>/dev/null <<'PY' || echo "3 unreadable ($1)"
import json, os, sys, time
age = max(0.0, time.time() - os.stat(sys.argv[1]).st_mtime)
with open(sys.argv[1]) as file:
    intervals = json.loads(file.read(1 << 20))["status_intervals"]
now = [i for i in intervals if i["start_sec"] <= age][-1]
code = int(now["num_status"])
text = "".join(c for c in " ".join(str(now["txt_status"]).split()) if c.isprintable())
print(f"{code if 0 <= code <= 3 else 3} {text[:300]} (judged {age:.0f} s ago)")
PY
}

status() {  # exit status: 0 healthy, 3 not running, 4 a pane dead or unhealthy
    if ! tmux has-session -t "$SESSION_T" 2>/dev/null; then
        info "run $NAME is not running"; return 3
    fi
    run_settings
    local healthy=1 dead line health
    echo "services (tmux session $SESSION):"
    # (tmux 3.3a at times marks a pane dead and never records its status)
    while read -r dead line; do
        echo "  $line"
        [[ $dead == 0 ]] || healthy=0
    done < <(tmux list-panes -s -t "$SESSION_T" \
        -F '#{pane_dead} #{pane_title}: #{?pane_dead,DEAD (status #{?#{!=:#{pane_dead_status},},#{pane_dead_status},not recorded}),running} (pid #{pane_pid})')
    local code  # (curl -w writes 000 when it cannot connect)
    if code=$(curl -fsS -m 2 -o /dev/null -w '%{http_code}' "$TRITON_HTTP/v2/health/ready" 2>/dev/null); then
        echo "Triton:   $code"
    else
        echo "Triton:   not ready ($TRITON_HTTP)"; healthy=0
    fi
    printf 'exporter: '
    curl -fsS -m 2 "$EXPORTER_URL/health" 2>/dev/null || { printf 'down (%s)' "$EXPORTER_URL"; healthy=0; }
    echo
    printf 'versions: '; curl -fsS -m 2 "$EXPORTER_URL/versions" 2>/dev/null | head -c 600 || echo "?"; echo
    local raw=$DATA_DIR/kafka/$IFO source="live frames"
    if tmux list-panes -s -t "$SESSION_T" -F '#{pane_title}' | grep -qx replay; then
        source="the embedded frame source (pane replay)"
    fi
    echo "input:    $source in $raw, newest $(newest_frame "$raw")"
    echo "carousel: $(ls "$PROJECT_DIR/carousel" 2>/dev/null | grep -c '\.gwf$' || true) frames, newest $(newest_frame "$PROJECT_DIR/carousel")"
    health=$(verdict "$PROJECT_DIR/$HEALTH_FILE")
    echo "health:   ${health#* }"
    case ${health%% *} in 2|3) healthy=0 ;; esac  # CRITICAL or UNKNOWN
    echo "status page: $STATUS_URL"
    if (( ! healthy )); then
        info "run $NAME is not healthy (a dead pane, Triton or the exporter down, or the health verdict CRITICAL or UNKNOWN): see $PROJECT_DIR/logs/"
        return 4
    fi
}

case $ACTION in
    start) start ;;
    render) render ;;
    stop) stop ;;
    status) status ;;
    attach) exec tmux attach -t "$SESSION_T" ;;
    *) die "unknown action $ACTION (start|status|stop|attach|render)" ;;
esac
