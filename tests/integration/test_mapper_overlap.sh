#!/usr/bin/env bash
# The mapper end to end, overlapping calls: a Teams meeting during a Voice
# call, ended in both orders; a real Teams 1:1 (InACall, looks exactly like
# our own session) together with a Voice call, both orders; a user who set
# DND by hand stays DND through a Voice call. After every real call has
# ended: no app session in Teams, Voice not 'talking'.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/mapper_helpers.sh"

ms_setup alice@contoso.com bob@contoso.com carol@contoso.com dave@contoso.com
ms_start

# all_clear ADDRESS: the end state after every real call has ended.
all_clear() {
    wait_g_session 10 "$1" ""
    wait_v_talking 10 "$1" false
    wait_for 10 sync_quiet "$1" || fail "$1 not quiet: $(sync_of "$1")"
    stays 2 v_talking_is "$1" false || fail "$1: Voice went talking again"
    g_session_is "$1" "" || fail "$1: session came back"
}

# --- alice: Voice call, meeting joins, meeting ends first, then the call
C=$(call_start '{"email":"alice@contoso.com"}')
wait_g_session 10 alice@contoso.com Busy/InACall
sim POST /users/alice@contoso.com/start/meeting >/dev/null
wait_g_shown 10 alice@contoso.com Busy/InAConferenceCall
wait_v_talking 10 alice@contoso.com true # a meeting is a real call: mirrored
sim POST /users/alice@contoso.com/end/meeting >/dev/null
wait_g_shown 10 alice@contoso.com Busy/InACall # ours again
call_end "$C"
wait_g_shown 10 alice@contoso.com Available/Available
all_clear alice@contoso.com

# --- bob: Voice call, meeting joins, the call ends first, then the meeting
C=$(call_start '{"email":"bob@contoso.com"}')
wait_g_session 10 bob@contoso.com Busy/InACall
sim POST /users/bob@contoso.com/start/meeting >/dev/null
wait_v_talking 10 bob@contoso.com true
call_end "$C"
wait_g_session 10 bob@contoso.com ""
wait_g_shown 10 bob@contoso.com Busy/InAConferenceCall
stays 3 v_talking_is bob@contoso.com true || fail "bob: meeting still on, Voice flag dropped"
sim POST /users/bob@contoso.com/end/meeting >/dev/null
all_clear bob@contoso.com

# --- dave: real Teams 1:1 first, then a Voice call; Teams call ends first
sim POST /users/dave@contoso.com/start/call >/dev/null
wait_v_talking 10 dave@contoso.com true
C=$(call_start '{"email":"dave@contoso.com"}')
wait_g_session 10 dave@contoso.com Busy/InACall
sim POST /users/dave@contoso.com/end/call >/dev/null
sleep 1 # Teams still shows InACall: ours; nothing to see
call_end "$C"
all_clear dave@contoso.com
wait_g_shown 10 dave@contoso.com Available/Available

# --- dave again: Voice call first, then a real Teams 1:1 that outlasts it
C=$(call_start '{"email":"dave@contoso.com"}')
wait_g_session 10 dave@contoso.com Busy/InACall
sim POST /users/dave@contoso.com/start/call >/dev/null
sleep 1
call_end "$C"
wait_g_session 10 dave@contoso.com ""
# Teams still shows InACall after our clear: the settle reads find the
# user's own call and mirror it.
wait_v_talking 15 dave@contoso.com true
sync_of dave@contoso.com | jqe '.inputs.teams.source == "read" and .inputs.teams.real_call' \
    >/dev/null || fail "dave: not decided by the read: $(sync_of dave@contoso.com)"
sim POST /users/dave@contoso.com/end/call >/dev/null
all_clear dave@contoso.com

# --- carol: DND by hand stays DND through a Voice call
sim POST /users/carol@contoso.com/preferred '{"availability":"DoNotDisturb","activity":"DoNotDisturb"}' >/dev/null
wait_g_shown 10 carol@contoso.com DoNotDisturb/DoNotDisturb
C=$(call_start '{"email":"carol@contoso.com"}')
wait_g_session 10 carol@contoso.com Busy/InACall
stays 2 g_shown_is carol@contoso.com DoNotDisturb/DoNotDisturb || fail "carol's DND was overridden"
g_user carol@contoso.com | jqe '.preferred.availability == "DoNotDisturb"' >/dev/null ||
    fail "carol's preferred state was touched"
call_end "$C"
all_clear carol@contoso.com
g_shown_is carol@contoso.com DoNotDisturb/DoNotDisturb || fail "carol not DND after the call"
# the mapper never writes the user's preferred presence
sim GET /requests | jqe '[.[] | select(.path | test("UserPreferredPresence"))] | length == 0' \
    >/dev/null || fail "setUserPreferredPresence was used"
pass
