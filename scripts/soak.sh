#!/usr/bin/env bash
# The randomized fault test (tests/integration/test_fault_random.sh) as a
# soak: the same steps, faults and quiet-point checks as ctest's
# it_fault_random, for as long as asked (docs/testing.md, "Soak").
#
#   scripts/soak.sh [--seconds N] [--seed S] [--instances N] [--build-dir DIR] [--keep]
#
# --seconds: how long new steps are started (default 900); --seed: replay a
# run (default: random, printed); --instances: daemons with one
# configuration (default 2); --keep: keep the logs also when it passes
# (a failure always keeps them). Ends with the test's RESULT line; the exit
# status is the test's.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=900
seed=""
instances=2
build=build
keep=0
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
case $seconds$instances in *[!0-9]*) echo "soak.sh: --seconds and --instances take numbers" >&2; exit 2 ;; esac
[ -z "$seed" ] || case $seed in *[!0-9]*) echo "soak.sh: --seed takes a number" >&2; exit 2 ;; esac
for t in connector/presence-sync tests/fakes/graph/fake-graph tests/fakes/voice/fake-voice; do
    [ -x "$build/$t" ] || { echo "soak.sh: $build/$t is not built (cmake --build $build)" >&2; exit 2; }
done

build=$(cd "$build" && pwd)
# A failed run always keeps its directory (the test's usual place, TMPDIR or
# /tmp) and prints "kept DIR".
[ "$keep" = 0 ] || export PS_KEEP_TMP=1
[ -z "$seed" ] || export FAULT_SEED=$seed
start=$(date +%s)
rc=0
PS_BUILD=$build PS_BIN=$build/connector/presence-sync FAKE_GRAPH=$build/tests/fakes/graph/fake-graph \
    FAKE_VOICE=$build/tests/fakes/voice/fake-voice FAULT_SECONDS=$seconds FAULT_INSTANCES=$instances \
    bash tests/integration/test_fault_random.sh || rc=$?
echo "soak: $(($(date +%s) - start)) s in all, exit status $rc"
exit "$rc"
