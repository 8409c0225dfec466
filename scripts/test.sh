#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs the
# whole suite (unit, simulators, integration, fuzz regressions) twice: a
# normal build, then an AddressSanitizer + UndefinedBehaviorSanitizer build;
# then runs every libFuzzer target with a fixed seed and number of runs
# (scripts/fuzz.sh --gate, repeatable). PS_SANITIZE_PASS=0 skips the
# sanitizer pass; PS_FUZZ_SECONDS=0 the fuzzing, PS_FUZZ_SECONDS=N a timed
# random run instead of the gate; extra args go to ctest.
#
# scripts/test.sh --quick [ctest args]: an answer in about a minute. Builds
# (build/) and runs the lint, unit, component and integration labels only:
# not the slow end-to-end scripts, not the fuzzers, not the sanitizer pass
# (labels: tests/timing.cmake, docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi

scripts/setup.sh

jobs=$(nproc)
run_suite() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" "${CTEST_ARGS[@]}"
}

CTEST_ARGS=("${@}")
if [ "$quick" = 1 ]; then
    # The quick scripts wait on sockets and timers more than they compute:
    # two per core finish sooner than one.
    echo "== build and run the quick tests (lint, unit, component, integration)"
    CTEST_ARGS=(-L '^(lint|unit|component|integration)$' "${CTEST_ARGS[@]}")
    jobs=$((jobs * 2))
    run_suite build
    exit 0
fi
echo "== build and test"
run_suite build
if [ "${PS_SANITIZE_PASS:-1}" != 0 ]; then
    echo "== build and test under ASan + UBSan"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_suite build-asan -DPS_SANITIZE=ON
fi
if [ -z "${PS_FUZZ_SECONDS:-}" ]; then
    echo "== fuzz each target: fixed seed and runs (the gate)"
    scripts/fuzz.sh --gate
elif [ "$PS_FUZZ_SECONDS" != 0 ]; then
    echo "== fuzz each target for $PS_FUZZ_SECONDS s"
    scripts/fuzz.sh "$PS_FUZZ_SECONDS"
fi
