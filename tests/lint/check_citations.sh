#!/usr/bin/env bash
# Fails when a file of the project cites a document that is not in the
# repository: the external contract (`CONTRACT §4`, `../shared/...`), the
# research notes (`reference/<note>.md`, graph-presence.md, enreach-voice.md,
# fidelity-2026-12, real-clients, code-review, field-notes, "research §3"),
# or an issue number ("issue 8", "issues 7 and 8"). Code, tests and docs cite
# docs/ (file and section heading) or a public URL instead; whoever inherits
# the code has docs/, not the notes it was built from.
#   check_citations.sh [ROOT]     scan ROOT (default: the repository)
#   check_citations.sh --self-test
set -euo pipefail

# One extended regex per kind of citation; each is precise enough that
# ordinary words ("contract", "reference", "an issue") do not match.
PATTERNS=(
    '\bCONTRACT\b'
    '\.\./shared\b|\bshared/(reference|CONTRACT)'
    '(^|[^-[:alnum:]_/.])reference/[[:alnum:]_-]+(\.md)?\b|\breference §'
    '(^|[^-[:alnum:]_/.])(graph-presence|enreach-voice|field-notes)(\.md|[[:space:]]+(§|research|note|A\.[0-9]))'
    '\b(fidelity|real-clients|code-review)-20[0-9]{2}-[0-9]{2}\b|\breal-clients (note|G[0-9])'
    '\bresearch (§|notes?\b|in real-)'
    '\b[Ii]ssues? #?[0-9]+\b'
    '§[0-9]+(\.[0-9]+)* #[0-9]+'
)

# What is scanned: everything a reader of the code or the docs sees.
ROOTS=(connector tests scripts schemas docs broker-config cmake .ci
    README.md CMakeLists.txt Dockerfile docker-compose.yml)

# scan FILE...: print file:line: text for each citation; status 1 when any.
scan() {
    local re
    re=$(
        IFS='|'
        echo "${PATTERNS[*]}"
    )
    local rc=0
    grep -nHIE "$re" "$@" || rc=$?
    case $rc in
        0) return 1 ;;
        1) return 0 ;;
        *)
            echo "FAIL: grep could not read the files" >&2
            exit 2
            ;;
    esac
}

# project_files ROOT: the files under ROOTS, without installed packages,
# fuzz inputs (data, not prose) and this script (it spells the patterns).
project_files() {
    local root=$1 p
    for p in "${ROOTS[@]}"; do
        [ -e "$root/$p" ] || continue
        find "$root/$p" \( -name node_modules -o -path '*/tests/fuzz/corpus' \
            -o -path '*/tests/fuzz/regressions' \) -prune -o -type f \
            ! -name "$(basename "$0")" -print
    done
}

self_test() {
    local d
    d=$(mktemp -d)
    printf '%s\n' '/* Topic ids (CONTRACT §4). */' >"$d/bad1.c"
    printf '%s\n' '# see ../shared/CONTRACT.md' >"$d/bad2.sh"
    printf '%s\n' ' * newer serializer (reference/enreach-voice.md §1.2). */' >"$d/bad3.c"
    printf '%s\n' '# RTE keep-alive (reference §2.1)' >"$d/bad4.sh"
    printf '%s\n' '/* Graph (graph-presence.md §3.4). */' >"$d/bad5.h"
    printf '%s\n' '| A9 | ... | the research in real-clients-2026-12 |' >"$d/bad6.md"
    printf '%s\n' '# Fault suite (issue 8 item 1a)' >"$d/bad7.sh"
    printf '%s\n' '# Benchmarks (issues 7 and 9)' >"$d/bad8.cmake"
    printf '%s\n' 'From `shared/reference/fidelity-2026-12.md`' >"$d/bad9.md"
    printf '%s\n' '| A20 | ... | research §3 |' >"$d/bad10.md"
    printf '%s\n' 'type (fake-graph does the same; real-clients note G4).' >"$d/bad11.md"
    printf '%s\n' 'the #42 fix, see issue #42' >"$d/bad12.md"
    printf '%s\n' 'nothing says who caused it (field-notes A.4)' >"$d/bad13.md"
    printf '%s\n' 'fails a whole subscription, §0 #13), logged once' >"$d/bad14.c"
    printf '%s\n' 'The contract of this function: no allocation.' \
        'a reference to the user; reference counting; cross-reference' \
        'https://learn.microsoft.com/en-us/graph/api-reference/v1.0/presence' \
        'https://github.com/eclipse/paho.mqtt.c/issues/1234' \
        'https://devblogs.microsoft.com/x/breaking-changes-to-microsoft-graph-presence-and-online' \
        'docs/voice.md "Wire model"; an issue with the broker; issues arise' \
        'the shared/ directory; CONTRACTOR; reissue 3 tokens; operations.md §6' >"$d/good.md"
    local bad
    for bad in bad1.c bad2.sh bad3.c bad4.sh bad5.h bad6.md bad7.sh bad8.cmake bad9.md \
        bad10.md bad11.md bad12.md bad13.md bad14.c; do
        scan "$d/$bad" >/dev/null && {
            echo "self-test: $bad not flagged"
            exit 1
        }
    done
    if ! scan "$d/good.md"; then
        echo "self-test: good.md flagged"
        exit 1
    fi
    rm -rf "$d"
    echo "PASS: self-test"
}

if [ "${1:-}" = --self-test ]; then
    self_test
    exit 0
fi

ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
mapfile -t files < <(project_files "$ROOT" | sort)
[ ${#files[@]} -gt 100 ] || {
    echo "FAIL: only ${#files[@]} files found under $ROOT"
    exit 1
}
if ! scan "${files[@]}" >"${TMPDIR:-/tmp}/check_citations.$$" 2>&1; then
    echo "FAIL: citations of documents outside the repository (cite docs/ or a public URL):" >&2
    cat "${TMPDIR:-/tmp}/check_citations.$$" >&2
    rm -f "${TMPDIR:-/tmp}/check_citations.$$"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/check_citations.$$"
echo "PASS: ${#files[@]} files cite no document outside the repository"
