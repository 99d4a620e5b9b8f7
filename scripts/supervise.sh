#!/usr/bin/env bash
# Keep one service running: restart it when it dies, with back-off, and give
# up (loudly) after too many crashes in a short time instead of looping.
#
#   scripts/supervise.sh NAME COMMAND [ARGS...]
#
# A clean exit (status 0) or SIGTERM/SIGINT to this script ends supervision.
# Env: SUPERVISE_MAX_CRASHES (default 5) crashes within
# SUPERVISE_WINDOW (s, default 300) -> give up; back-off doubles from 1 s to
# 30 s, and starts again from 1 s after a run of SUPERVISE_STABLE s (default
# 60) or more, so a service that crashes once a day restarts at once.
# Every start/exit is logged to $PROJECT_DIR/logs/supervisor.log.
set -uo pipefail
NAME=$1; shift
MAX=${SUPERVISE_MAX_CRASHES:-5}
WINDOW=${SUPERVISE_WINDOW:-300}
STABLE=${SUPERVISE_STABLE:-60}
LOG=${PROJECT_DIR:-.}/logs/supervisor.log
mkdir -p "$(dirname "$LOG")"
say() { echo "$(date -u +%FT%TZ) supervisor $NAME: $*" | tee -a "$LOG"; }

child=
stop() { say "stopping"; [[ -n $child ]] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0; }
trap stop TERM INT HUP

crashes=()
backoff=1
while true; do
    say "starting: $*"
    started=$(date +%s)
    "$@" &
    child=$!
    wait "$child"
    rc=$?
    child=
    if [[ $rc -eq 0 ]]; then say "exited cleanly"; exit 0; fi
    now=$(date +%s)
    (( now - started >= STABLE )) && backoff=1
    crashes+=("$now")
    recent=()
    for t in "${crashes[@]}"; do (( now - t < WINDOW )) && recent+=("$t"); done
    crashes=("${recent[@]}")
    if (( ${#crashes[@]} >= MAX )); then
        say "ERROR: crashed ${#crashes[@]} times in ${WINDOW}s (last status $rc); giving up — see logs/$NAME.log"
        exit 1
    fi
    say "WARNING: exited with status $rc; restarting in ${backoff}s"
    sleep "$backoff" & wait $!
    backoff=$(( backoff * 2 > 30 ? 30 : backoff * 2 ))
done
