#!/usr/bin/env bash
# The benchmarks of docs/performance.md, in one bounded run
# (about 10 minutes on a 2-core machine): builds a Release tree in
# build-bench, then runs tests/bench/bench_*.sh against mosquitto and the
# simulators and prints their RESULT lines, with the machine and the date.
# Benchmarks are not ctest tests: tests do not time things.
#   scripts/bench.sh [webhook] [scale] [latency] [budget] [recovery] [scale100k]
# (default: the first five; scale100k, 100,000 users in two shapes, takes
# about 12 minutes more)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${PS_BENCH_BUILD:-$SRC/build-bench}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target presence-sync fake-graph fake-voice \
    bench_load bench_ack_server bench_bodies bench_rsa >/dev/null
export PS_SRC=$SRC PS_BUILD=$BUILD
sel=("$@")
[ ${#sel[@]} -gt 0 ] || sel=(webhook scale latency budget recovery)

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc) cpu='$(sed -n '/^model name[[:space:]]*: /{s///p;q}' /proc/cpuinfo)' kernel=$(uname -r)"
echo "build: $BUILD (Release) commit=$(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet 2>/dev/null || echo +dirty)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
start=$(date +%s)
for s in "${sel[@]}"; do
    case $s in
    webhook) tests/bench/bench_webhook.sh ;;
    scale)
        BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60} tests/bench/bench_scale.sh 1 10000 16
        tests/bench/bench_scale.sh 20 500 1
        tests/bench/bench_scale.sh 1 10000 16 false
        ;;
    scale100k)
        BENCH_READY_TIMEOUT_S=120 BENCH_SETTLE_SECONDS=150 BENCH_IDLE_SECONDS=60 \
            tests/bench/bench_scale.sh 1 100000 154
        BENCH_READY_TIMEOUT_S=120 BENCH_SETTLE_SECONDS=150 BENCH_IDLE_SECONDS=60 \
            tests/bench/bench_scale.sh 20 5000 8
        ;;
    latency) tests/bench/bench_latency.sh ;;
    budget) tests/bench/bench_budget.sh ;;
    recovery) tests/bench/bench_recovery.sh ;;
    *) echo "unknown benchmark $s" >&2; exit 2 ;;
    esac 2>>"${PS_BENCH_LOG:-/dev/null}" | grep '^RESULT' || echo "RESULT $s FAILED (see PS_BENCH_LOG)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "total: $(($(date +%s) - start)) s"
