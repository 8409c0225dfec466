#!/usr/bin/env bash
# SIGKILL mid-call, calls end while the daemon is dead, restart: the
# start-up reconcile clears the session and the Voice flag the dead run left
# (CONTRACT §6); the restarted mapper works normally. (A Voice call that
# lasts across the restart is invisible to the restarted Voice side, which
# only sees calls through RTE events: it announces 'not talking' and the
# mapper follows it; see docs/mapper.md, limitations.)
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com
ms_start

CA=$(call_start '{"email":"alice@contoso.com"}')
CC=$(call_start '{"email":"carol@contoso.com"}')
sim POST /users/bob@contoso.com/start/meeting >/dev/null
wait_g_session 10 alice@contoso.com Busy/InACall
wait_g_session 10 carol@contoso.com Busy/InACall
wait_v_talking 10 bob@contoso.com true

kill -9 "$PS_PID"
wait "$PS_PID" 2>/dev/null || true
call_end "$CA"
sim POST /users/bob@contoso.com/end/meeting >/dev/null
sleep 0.5
# what the dead run left behind
g_session_is alice@contoso.com Busy/InACall || fail "alice's session vanished by itself"
v_talking_is bob@contoso.com true || fail "bob's flag vanished by itself"

ms_start
wait_g_session 15 alice@contoso.com ""
wait_v_talking 15 bob@contoso.com false
call_end "$CC"
wait_g_session 10 carol@contoso.com ""
# the restarted mapper works: a new call, its session, its end
CC=$(call_start '{"email":"carol@contoso.com"}')
wait_g_session 10 carol@contoso.com Busy/InACall
call_end "$CC"
wait_g_session 10 carol@contoso.com ""
for u in alice bob carol; do
    wait_for 15 sync_quiet $u@contoso.com || fail "$u not quiet: $(sync_of $u@contoso.com)"
    v_talking_is $u@contoso.com false || fail "$u talking"
    g_session_is $u@contoso.com "" || fail "$u session"
done
pass
