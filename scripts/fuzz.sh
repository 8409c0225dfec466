#!/usr/bin/env bash
# Runs every libFuzzer target, in one of two modes:
#
#   scripts/fuzz.sh --gate                    what CI runs: a fixed seed and a fixed
#                                             number of runs per target, so a pass or a
#                                             finding repeats exactly (about 2 min)
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      the search: a random seed for a bounded
#                                             time; default 30, a long run 600
#
# Configures build-fuzz/ with clang and -DPS_FUZZ=ON, builds the fuzz_*
# programs, and runs each on a scratch copy of its seed corpus (the committed
# tests/fuzz/corpus/ never grows). Targets run two at a time (PS_FUZZ_JOBS).
# Exits non-zero if any target crashed, leaked, tripped a sanitizer or a
# property; the input is kept as build-fuzz/crashes/<name>/crash-* and the
# log as build-fuzz/logs/<name>.log. To keep a crash as a regression test:
#   scripts/fuzz.sh ... ; build-fuzz/tests/fuzz/fuzz_<name> -minimize_crash=1 \
#       -runs=10000 -exact_artifact_path=tests/fuzz/regressions/<name>/<what> <crash file>
# Env: PS_FUZZ_ONLY="a b" runs only those targets; PS_FUZZ_JOBS=N parallelism;
# PS_FUZZ_SEED=N the seed of --gate (default 1).
set -euo pipefail

GATE=0 SECS=30
if [ "${1:-}" = --gate ]; then
    GATE=1
elif [ $# -gt 0 ]; then
    SECS=$1
fi
case $SECS in '' | *[!0-9]*) echo "usage: $0 --gate | [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac
SEED=${PS_FUZZ_SEED:-1}
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$SRC/build-fuzz
JOBS=${PS_FUZZ_JOBS:-2}

# -max_len per target: a little above the largest realistic input, so the
# fuzzer does not waste time on megabyte inputs the code caps anyway.
max_len() {
    case $1 in
    config | notification | notify_decrypt | jwks) echo 16384 ;;
    signalr_reader) echo 8192 ;;
    jwt | signalr_parse | signalr_negotiate | events | discovery | talking | presence | b64) echo 4096 ;;
    ids) echo 1400 ;;
    *) echo 512 ;; # clock, retry_after, signalr_jwt_exp
    esac
}

# --gate: runs per target, about 10 s each on one core of the CI machine
# (half of what 20 s gave on 2026-12-07); a new target gets 100,000 until
# it is measured.
gate_runs() {
    case $1 in
    clock) echo 4000000 ;;
    retry_after | signalr_jwt_exp) echo 2500000 ;;
    events | presence) echo 1500000 ;;
    ids) echo 1000000 ;;
    b64 | signalr_negotiate) echo 800000 ;;
    discovery | signalr_parse) echo 400000 ;;
    config | jwks) echo 300000 ;;
    talking) echo 200000 ;;
    notification) echo 150000 ;;
    signalr_reader) echo 120000 ;;
    jwt) echo 20000 ;;
    notify_decrypt) echo 10000 ;;
    *) echo 100000 ;;
    esac
}

command -v clang >/dev/null || { echo "fuzz: clang not found (scripts/setup.sh installs it)" >&2; exit 2; }
mkdir -p "$B"
CC=clang cmake -S "$SRC" -B "$B" -DPS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$B/configure.log" 2>&1 ||
    { cat "$B/configure.log" >&2; exit 2; }
TARGETS=${PS_FUZZ_ONLY:-$(cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
build_args=()
for t in $TARGETS; do build_args+=(--target "fuzz_$t"); done
cmake --build "$B" -j"$JOBS" "${build_args[@]}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/ps-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$B/crashes" "$B/logs"

# Runs one target; prints one summary line; returns non-zero on a finding.
run_one() {
    local t=$1 corpus=$SCRATCH/$1 out=$B/crashes/$1
    mkdir -p "$corpus" "$out"
    cp -r "$SRC/tests/fuzz/corpus/$t/." "$corpus/" 2>/dev/null || true
    local dicts=() regress=()
    [ -f "$SRC/tests/fuzz/$t.dict" ] && dicts=(-dict="$SRC/tests/fuzz/$t.dict")
    [ -d "$SRC/tests/fuzz/regressions/$t" ] && regress=("$SRC/tests/fuzz/regressions/$t")
    local rc=0
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a blowup.
    local budget=(-max_total_time="$SECS") what="${SECS}s"
    if [ $GATE = 1 ]; then
        budget=(-seed="$SEED" -runs="$(gate_runs "$t")")
        what="seed=$SEED runs=$(gate_runs "$t")"
    fi
    (cd "$out" && "$B/tests/fuzz/fuzz_$t" "${budget[@]}" -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dicts[@]}" \
        -artifact_prefix="$out/" "$corpus" "${regress[@]}") >"$B/logs/$t.log" 2>&1 || rc=$?
    local execs cov
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$B/logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$B/logs/$t.log" | tail -1 | grep -o '[0-9]*' || echo '?')
    if [ $rc -ne 0 ] || [ -n "$(ls -A "$out")" ]; then
        echo "FAIL fuzz_$t rc=$rc execs=$execs cov=$cov: see $B/logs/$t.log, inputs in $out"
        grep -m3 -E 'ERROR: |runtime error|fuzz property failed' "$B/logs/$t.log" | sed 's/^/    /'
        return 1
    fi
    echo "ok   fuzz_$t $what execs=$execs cov=$cov corpus=$(ls "$corpus" | wc -l)"
}

# Previous findings stay in build-fuzz/crashes/ until this run starts over.
rm -rf "${B:?}/crashes"/*
failed=0 pids=() names=()
for t in $TARGETS; do
    run_one "$t" >"$SCRATCH/$t.result" &
    pids+=($!) names+=("$t")
    if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait "${pids[0]}" || failed=1
        cat "$SCRATCH/${names[0]}.result"
        pids=("${pids[@]:1}") names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
    cat "$SCRATCH/${names[$i]}.result"
done
if [ $failed -eq 0 ]; then
    [ $GATE = 1 ] && echo "fuzz: all targets clean (gate, seed $SEED)" ||
        echo "fuzz: all targets clean after ${SECS}s each"
else
    echo "fuzz: FINDINGS, see above" >&2
fi
exit $failed
