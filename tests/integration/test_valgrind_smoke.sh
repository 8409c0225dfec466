#!/usr/bin/env bash
# The end-to-end smoke run under valgrind memcheck: mosquitto + fake-graph +
# fake-voice + the daemon (Graph side, Voice side, mapper) through a Teams
# call and a Voice call, then SIGTERM. Memcheck must report no errors and no
# definitely-lost blocks. Sanitizer builds cannot run under valgrind: skipped
# (exit 77).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

command -v valgrind >/dev/null || fail "valgrind not installed (scripts/setup.sh installs it)"
if objdump -p "$PS_BIN" | has 'NEEDED.*libasan'; then
    echo "SKIP: $PS_BIN is a sanitizer build; the plain build runs this test"
    exit 77
fi

ms_setup alice@contoso.com bob@contoso.com
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
    --log-file="$T/valgrind.txt" "$PS_BIN" run -c "$T/ps.json" >>"$T/daemon.log" 2>&1 &
PS_PID=$!
PIDS+=("$PS_PID")

# valgrind slows everything ~20x: generous bounds, never fixed sleeps
wait_for 90 bash -c "curl -s '$FG/_sim/subscriptions' | jqe 'length == 1 and .[0].pending == false'" ||
    fail "no Graph subscription under valgrind: $(sim_subs)"
wait_link 90
wait_for 90 quiet_count_is 2 || fail "start-up reconcile not done: $(quiet_count) of 2 quiet"

sim POST /users/alice@contoso.com/start/call >/dev/null
wait_v_talking 60 alice@contoso.com true
sim POST /users/alice@contoso.com/end/call >/dev/null
wait_v_talking 60 alice@contoso.com false

C=$(call_start '{"email":"bob@contoso.com","terminal":"desk"}')
wait_g_session 60 bob@contoso.com Busy/InACall
call_end "$C"
wait_g_session 60 bob@contoso.com ""

kill -TERM "$PS_PID"
rc=0
wait "$PS_PID" || rc=$?
grep -E 'ERROR SUMMARY|definitely lost' "$T/valgrind.txt" >&2 || true
[ "$rc" = 0 ] || fail "daemon under valgrind exited $rc (99: memcheck errors or definite leaks; see valgrind.txt)"
grep -q 'ERROR SUMMARY: 0 errors' "$T/valgrind.txt" || fail "memcheck reported errors"
pass valgrind_smoke
