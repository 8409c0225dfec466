#!/usr/bin/env bash
# RTE records and frames (docs/voice.md "RTE (real-time events)"): the hub splits one record across two
# WebSocket frames (the handshake answer included) and merges two records
# into one frame; eventType comes as a number or a name; unknown event types
# are skipped. The talking state is right in every mode.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/voice_helpers.sh"

vs_setup
fv_user alice@contoso.com >/dev/null
fv_user bob@contoso.com >/dev/null
# from the first byte: the handshake answer `{}` + 0x1E is split in two frames
fv_ctl POST settings '{"framing":"split"}' >/dev/null
vs_config '["alice@contoso.com", "bob@contoso.com"]'
sub_start talk 'voice/+/talking'
vs_start_daemon
wait_link 15

# split: every record spans two frames
C1=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
C2=$(call_start '{"email":"alice@contoso.com","terminal":"mobile","direction":"outbound"}')
wait_talking 5 alice@contoso.com true 2
call_end "$C1"
wait_talking 5 alice@contoso.com true 1
call_end "$C2"
wait_talking 5 alice@contoso.com false 0

# merge: two records in one frame (Connected + Disconnected of one call)
fv_ctl POST settings '{"framing":"merge"}' >/dev/null
C3=$(call_start '{"email":"bob@contoso.com"}')
C4=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 bob@contoso.com true 1
wait_talking 5 alice@contoso.com true 1
call_end "$C3"
call_end "$C4"
wait_talking 5 bob@contoso.com false 0
wait_talking 5 alice@contoso.com false 0

# numeric and mixed eventType, unknown event types in between
fv_ctl POST settings '{"framing":"normal","event_type_format":"number","unknown_events":true}' >/dev/null
C5=$(call_start '{"email":"alice@contoso.com"}')
wait_talking 5 alice@contoso.com true 1
call_end "$C5"
wait_talking 5 alice@contoso.com false 0
fv_ctl POST settings '{"framing":"merge","event_type_format":"mixed","unknown_events":true}' >/dev/null
C6=$(call_start '{"email":"bob@contoso.com"}')
C7=$(call_start '{"email":"bob@contoso.com","terminal":"mobile"}')
wait_talking 5 bob@contoso.com true 2
call_end "$C6"
call_end "$C7"
wait_talking 5 bob@contoso.com false 0
# the link never dropped through all this
health_has '.reconnects == 0 and .link == "live"' || fail "link dropped: $(health_voice)"
grep -q 'bad RTE' "$T/daemon.log" && fail "a record was misread: $(grep 'bad RTE' "$T/daemon.log")"
validate_talking "$T/talk.sub"
pass test_voice_framing
