#!/usr/bin/env bash
# System packages the pipeline and its tests need beyond Python: tmux (run.sh)
# and a headless Chromium (the monitor's status-page test). Installs what is
# missing with apt-get when run as root; otherwise says what to install.
set -uo pipefail
need=()
command -v tmux >/dev/null || need+=(tmux)
if [[ ${1:-} == --with-browser ]]; then
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
        || need+=(chromium)
fi
[[ ${#need[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${need[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
        >/tmp/deepclean-apt.log 2>&1 \
        || { echo "WARNING: apt-get install ${need[*]} failed (see /tmp/deepclean-apt.log)" >&2; exit 1; }
else
    echo "WARNING: please install: ${need[*]}" >&2
    exit 1
fi
