#!/usr/bin/env bash
# Fails when a shell script of the project decides anything from a pipeline
# whose reader can stop early: `cmd | grep -q`, `cmd | grep -m N` or
# `cmd | head`. The reader exits at its first match or line, cmd may then
# die of SIGPIPE, and under `set -o pipefail` the pipeline fails although
# the line was there (it_compose, now part of it_container, failed so in 19 of 50 tries). Use
# `cmd | has PATTERN` (tests/lib/common.sh), `grep -q PATTERN FILE`,
# `grep -q PATTERN <<<"$(cmd)"`, or `sed -n 1,Np` for display.
# Under tests/ it also fails on `jq -e`: jq 1.6 exits 0 under -e when its
# input is empty, so a check of an answer that never came passed (use jqe
# from tests/lib/common.sh, which is false when jq printed nothing).
#   check_pipelines.sh [ROOT]     scan ROOT (default: the repository)
#   check_pipelines.sh --self-test
set -euo pipefail

# A pipe, then grep with -q/-m/--quiet/--silent/--max-count, or head.
EARLY='\|[[:space:]]*(grep([[:space:]]+-[a-zA-Z]*)*[[:space:]]+-[a-zA-Z]*[qm][a-zA-Z0-9]*|grep[[:space:]].*--(quiet|silent|max-count)|head([[:space:]]|$))'

# jq with an -e among its single-letter options (not --slurpfile etc.).
JQ_E='(^|[^[:alnum:]_-])jq([[:space:]]+-[-[:alnum:]]+)*[[:space:]]+-[[:alpha:]]*e[[:alpha:]]*([[:space:]]|$)'

# joined FILE: "N:text" per logical line, a line that ends in a pipe or a
# backslash joined with the next (N: its first line), so that a pipe
# continued on the next line is seen whole.
joined() {
    awk '{ if (acc == "") { n = NR; acc = $0 } else acc = acc " " $0 }
         /(\||\\)[[:space:]]*$/ { next }
         { print n ":" acc; acc = "" }
         END { if (acc != "") print n ":" acc }' "$1"
}

# scan FILE...: print file:line: text for each offending line (comments
# and this script's own patterns excluded); status 1 when there was one.
scan() {
    local f found=0 re
    for f in "$@"; do
        re=$EARLY
        case /$f in */tests/*) re="$EARLY|$JQ_E" ;; esac
        if joined "$f" | grep -E "$re" | grep -vE '^[0-9]+:[[:space:]]*#|command jq -e' >"$TMP" 2>/dev/null; then
            sed "s|^|$f:|" "$TMP"
            found=1
        fi
    done
    return $((found == 1))
}

# shell_files ROOT: the *.sh files and the bash/sh scripts without suffix
# under tests/, scripts/ and .ci/.
shell_files() {
    local root=$1 f
    while IFS= read -r -d '' f; do
        case $f in
            *.sh) echo "$f" ;;
            *) [[ $(grep -m1 -I '' "$f" 2>/dev/null || true) =~ ^#!.*(bash|/sh) ]] && echo "$f" ;;
        esac
    done < <(find "$root/tests" "$root/scripts" "$root/.ci" -type f \
        ! -path '*/node_modules/*' ! -name "$(basename "$0")" -print0 2>/dev/null)
}

self_test() {
    local d
    d=$(mktemp -d)
    printf '%s\n' '#!/usr/bin/env bash' 'objdump -p x | grep -q NEEDED' >"$d/bad1.sh"
    printf '%s\n' 'curl -s u | grep -Eq "^a" || fail' >"$d/bad2.sh"
    printf '%s\n' 'x=$(sed -n p f | head -1)' >"$d/bad3.sh"
    printf '%s\n' 'wait_for 5 sh -c "curl -s u | grep -F -q ok"' >"$d/bad4.sh"
    printf '%s\n' 'ls | grep -qF x && y' >"$d/bad5.sh"
    printf '%s\n' 'a | grep -Evq "^b$" && y' >"$d/bad6.sh"
    printf '%s\n' 'if jq -R . f |' '    grep -q .; then x; fi' >"$d/bad7.sh"
    mkdir -p "$d/tests"
    printf '%s\n' 'mqtt_retained t | jq -e ".a == 1" || fail' >"$d/tests/bad8.sh"
    printf '%s\n' 'x=$(jq -er .a <<<"$b")' >"$d/tests/bad9.sh"
    printf '%s\n' 'wait_for 5 bash -c "curl -s u | jq -s -e length"' >"$d/tests/bad10.sh"
    printf '%s\n' 'mqtt_retained t | jqe ".a == 1" || fail' 'jq -nc --arg a b "{}"' \
        'jq -r --slurpfile s f .' 'jq --exit-status-not-an-option' >"$d/tests/good2.sh"
    printf '%s\n' 'grep -m1 a f | has b' 'cmd | has -F x' 'grep -q a f' '# cmd | grep -q x' \
        'cmd | grep -c x' 'cmd | sed -n 1,3p' >"$d/good.sh"
    local bad
    for bad in bad1 bad2 bad3 bad4 bad5 bad6 bad7 tests/bad8 tests/bad9 tests/bad10; do
        scan "$d/$bad.sh" >/dev/null && { echo "self-test: $bad.sh not flagged"; exit 1; }
    done
    scan "$d/good.sh" "$d/tests/good2.sh" || { echo "self-test: a good line flagged"; exit 1; }
    rm -rf "$d"
    echo "self-test ok"
}

TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
if [ "${1:-}" = --self-test ]; then
    self_test
    exit 0
fi
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
mapfile -t files < <(shell_files "$ROOT")
[ ${#files[@]} -gt 10 ] || { echo "FAIL: only ${#files[@]} shell files found under $ROOT"; exit 1; }
if ! scan "${files[@]}"; then
    echo "FAIL: pipelines that end in an early-exiting reader (see the header of $0)"
    exit 1
fi
echo "PASS: ${#files[@]} shell files, no pipeline ends in grep -q, grep -m or head; no jq -e in tests/"
