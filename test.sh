#!/usr/bin/env bash
# Run every test suite, each in its own service environment.
#
#   ./test.sh            build what is missing, then run all suites
#   ./test.sh SUITE...   only these (lint utils nn interop replay trainer
#                        exporter cleaner monitor reprocess e2e)
#
# "lint" is ruff: `ruff check` and `ruff format --check` over the repo
# (configuration in pyproject.toml), zero findings allowed.
#
# "e2e" is the root suite (tests/): one pipeline started with run.sh for
# the whole session, then the end-to-end test, the security tests and the
# chaos suite over it (~12 min); before it, the profile matrix
# (tests/test_profiles.py: every profile renders, low-latency runs a
# minute, production stops where it needs a GPU). bench/chaos.py
# is the long chaos run.
#
# Prints one summary line at the end: "total: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
./build.sh || exit 1
scripts/ensure_system_packages.sh --with-browser \
    || echo "test.sh: continuing; tests needing the missing packages will say so"

# suite -> the environment it runs in, and its pytest arguments; a
# service's suite is its own tests in its own environment
declare -A ENV=(
    [lint]=tests [utils]=replay [nn]=trainer [interop]=monitor [e2e]=tests
)
declare -A ARGS=(
    [utils]="libs/utils/tests --ignore-glob=*test_nn_* --ignore=libs/utils/tests/test_gwpy_interop.py"
    [nn]="$(ls libs/utils/tests/test_nn_*.py 2>/dev/null | tr '\n' ' ')"
    [interop]="libs/utils/tests/test_gwpy_interop.py"
    [e2e]="tests"
)
for service in replay trainer exporter cleaner monitor reprocess; do
    ENV[$service]=$service
    ARGS[$service]="projects/$service/tests"
done
ORDER=(lint utils nn interop replay trainer exporter cleaner monitor reprocess e2e)
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=("${ORDER[@]}")

free_space() { df -h --output=avail "${TMPDIR:-/tmp}" "$ROOT" | tail -n +2 | sort -h | head -1 | tr -d ' '; }

RESULTS=$ROOT/.venv/test-results
rm -rf "$RESULTS"; mkdir -p "$RESULTS"
status=0
lint() {
    # ruff over the whole repo; one JUnit case per check for the summary
    local ruff=$ROOT/.venv/tests/bin/ruff failures=0 cases=""
    for check in "check" "format --check"; do
        # shellcheck disable=SC2086
        if "$ruff" $check "$ROOT"; then
            cases+="<testcase name=\"ruff $check\"/>"
        else
            failures=$((failures + 1))
            cases+="<testcase name=\"ruff $check\"><failure/></testcase>"
        fi
    done
    echo "<testsuite name=\"lint\" tests=\"2\" failures=\"$failures\"" \
        "errors=\"0\" skipped=\"0\">$cases</testsuite>" > "$RESULTS/lint.xml"
    return "$failures"
}

for suite in "${suites[@]}"; do
    [[ -n ${ENV[$suite]+x} ]] || { echo "unknown suite $suite"; exit 2; }
    if [[ $suite == lint ]]; then
        echo "== lint (ruff, env .venv/tests)"
        lint || { status=1; echo "== lint FAILED"; }
        continue
    fi
    args=${ARGS[$suite]}
    if [[ -z ${args// /} ]]; then echo "== $suite: no tests"; continue; fi
    # the free space is in the log because a suite that fills the disk
    # fails everything after it, far from the cause
    echo "== $suite (env .venv/${ENV[$suite]}; $(free_space) free)"
    # shellcheck disable=SC2086
    "$ROOT/.venv/${ENV[$suite]}/bin/python" -m pytest -q -p no:cacheprovider \
        --junitxml="$RESULTS/$suite.xml" $args
    rc=$?
    # 5 = no tests collected in that suite: not a failure of the suite
    if [[ $rc -ne 0 && $rc -ne 5 ]]; then status=1; echo "== $suite FAILED (exit $rc)"; fi
done
echo "== all suites run ($(free_space) free)"
python3 - "$RESULTS" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
tot = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for f in pathlib.Path(sys.argv[1]).glob("*.xml"):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        for k in tot:
            tot[k] += int(suite.get(k, 0))
failed = tot["failures"] + tot["errors"]
passed = tot["tests"] - failed - tot["skipped"]
print(f"total: {passed} passed, {failed} failed, {tot['skipped']} skipped")
PY
exit $status
