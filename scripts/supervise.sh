#!/usr/bin/env bash
# Keep one service running: restart it when it dies, with back-off, and give
# up (loudly) after too many crashes in a short time instead of looping.
#
#   scripts/supervise.sh NAME COMMAND [ARGS...]
#
# A clean exit (status 0) or SIGTERM/SIGINT to this script ends supervision.
# Exit status 2 is the services' "cannot start" (bad settings, a broken
# contract: libs/utils/utils/startup.py CANNOT_START): it is final, not
# retried (a restart would read the same settings), and this script exits 2.
# Env: SUPERVISE_MAX_CRASHES (default 5) crashes within
# SUPERVISE_WINDOW (s, default 300) -> give up (exit 1); back-off doubles
# from 1 s to 30 s, and starts again from 1 s after a run of SUPERVISE_STABLE
# s (default 60) or more, so a service that crashes once a day restarts at
# once. Every start/exit is logged to $PROJECT_DIR/logs/supervisor.log; what
# the service writes to its terminal (stdout and stderr: why it cannot
# start, a traceback) is shown in the pane and appended to
# $PROJECT_DIR/logs/NAME.console, with a line marking each start (moved to
# NAME.console.1, the one kept before it, whenever it passes
# SUPERVISE_CONSOLE_MAX bytes, default 10 MiB: a service running for weeks
# cannot fill the disk with it). supervisor.log is moved to supervisor.log.1
# the same way.
# SUPERVISE_ENV (run.sh sets it): the service's environment, .venv/NAME.
# While this script runs it holds a shared lock on SUPERVISE_ENV.inuse, which
# build.sh takes alone before it changes that environment: a start of
# another run, or ./test.sh, after an edit of a pyproject.toml refuses to
# rebuild an environment under a running service (pip replacing the
# packages it imports from) instead of doing it.
set -uo pipefail
NAME=$1; shift
MAX=${SUPERVISE_MAX_CRASHES:-5}
WINDOW=${SUPERVISE_WINDOW:-300}
STABLE=${SUPERVISE_STABLE:-60}
CONSOLE_MAX=${SUPERVISE_CONSOLE_MAX:-10485760}
LOGS=${PROJECT_DIR:-.}/logs
LOG=$LOGS/supervisor.log
CONSOLE=$LOGS/$NAME.console
mkdir -p "$LOGS"
say() {
    echo "$(date -u +%FT%TZ) supervisor $NAME: $*" | tee -a "$LOG"
    if (( $(stat -c %s "$LOG" 2>/dev/null || echo 0) > CONSOLE_MAX )); then
        mv -f "$LOG" "$LOG.1"
    fi
}

# where to look when it will not run: its terminal output, and its own log
# when it writes one (Triton's serve.sh does not)
see() {
    local where="logs/$NAME.console"
    [[ -e $LOGS/$NAME.log ]] && where+=" and logs/$NAME.log"
    echo "$where"
}

# The service's output, line by line, to the pane and to the console,
# moved to NAME.console.1 once it passes CONSOLE_MAX bytes (characters, in a
# multibyte locale).
console_tee() {
    local line size
    size=$(stat -c %s "$CONSOLE" 2>/dev/null || echo 0)
    while IFS= read -r line || [[ -n $line ]]; do
        printf '%s\n' "$line"
        printf '%s\n' "$line" >>"$CONSOLE"
        size=$(( size + ${#line} + 1 ))
        if (( size > CONSOLE_MAX )); then
            mv -f "$CONSOLE" "$CONSOLE.1"
            size=0
        fi
    done
}

if [[ -n ${SUPERVISE_ENV:-} ]]; then
    # held by this script and, inherited, by the service: until both are gone
    exec {inuse}>"$SUPERVISE_ENV.inuse"
    flock -s -w 60 "$inuse" || {
        say "ERROR: $SUPERVISE_ENV is being rebuilt (build.sh holds $SUPERVISE_ENV.inuse; waited 60s)"
        exit 1
    }
fi

child=
stop() { say "stopping"; [[ -n $child ]] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0; }
trap stop TERM INT HUP

crashes=()
backoff=1
while true; do
    say "starting: $*"
    echo "--- $(date -u +%FT%TZ) supervisor: starting $NAME" >>"$CONSOLE"
    started=$(date +%s)
    # The tee is made in the forked child, before the command runs, so the
    # supervisor's only child stays the service itself (the tests and the
    # operator find it there); the service's output still reaches the pane.
    "$@" > >(console_tee) 2>&1 &
    child=$!
    wait "$child"
    rc=$?
    child=
    if [[ $rc -eq 0 ]]; then say "exited cleanly"; exit 0; fi
    if [[ $rc -eq 2 ]]; then
        say "ERROR: cannot start (exit status 2: bad settings or a broken contract); not restarting, the same settings would fail again — the reason is in $(see)"
        exit 2
    fi
    now=$(date +%s)
    (( now - started >= STABLE )) && backoff=1
    crashes+=("$now")
    recent=()
    for t in "${crashes[@]}"; do (( now - t < WINDOW )) && recent+=("$t"); done
    crashes=("${recent[@]}")
    if (( ${#crashes[@]} >= MAX )); then
        say "ERROR: crashed ${#crashes[@]} times in ${WINDOW}s (last status $rc); giving up — see $(see)"
        exit 1
    fi
    say "WARNING: exited with status $rc; restarting in ${backoff}s"
    sleep "$backoff" & wait $!
    backoff=$(( backoff * 2 > 30 ? 30 : backoff * 2 ))
done
