#!/usr/bin/env bash
# scripts/demo.sh as an end-to-end check: the whole story (mosquitto, both
# simulators, the daemon with the Graph side, the Voice side and the mapper)
# passes with exit status 0 and leaves no process and no temporary directory
# behind; with --stay, the printed instructions drive it, no secret is ever
# in a command line, and Ctrl-C (SIGINT to its process group) stops all of it.
source "$(dirname "$0")/../lib/common.sh"

DEMO=$PS_SRC/scripts/demo.sh
[ -x "$DEMO" ] || fail "$DEMO is not executable"

# On any way out, a demo still running is stopped through its process group,
# so that its own cleanup runs (common.sh's SIGKILL would orphan its children).
DEMO_PID=""
demo_stop() {
    if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
        kill -TERM -- "-$DEMO_PID" 2>/dev/null || true
        wait_for 20 sh -c "! kill -0 $DEMO_PID 2>/dev/null" || kill -KILL -- "-$DEMO_PID" 2>/dev/null || true
    fi
}
trap 'demo_stop; ps_cleanup' EXIT

# group_left PGID: processes still running in that process group. A zombie
# (stat Z) has exited already: a command substitution killed with the demo
# leaves one that waits for init to reap it, which on some machines (a VM
# whose PID 1 is not a real init) takes a while.
group_left() { ps -e -o pid=,pgid=,stat=,args= | awk -v g="$1" '$2 == g && $3 !~ /^Z/'; }
# run_demo NAME ARGS...: the demo in a process group of its own (as an
# interactive shell would start it: job control on, so SIGINT is not ignored);
# output in $T/NAME.txt. Sets DEMO_PID (= its process group id).
run_demo() {
    local name=$1
    shift
    set -m
    TMPDIR=$T/tmp-$name "$DEMO" --no-setup --no-build --build-dir "$PS_BUILD" \
        --mqtt-port "$(free_port)" "$@" >"$T/$name.txt" 2>&1 &
    DEMO_PID=$!
    set +m
    PIDS+=("$DEMO_PID")
}
# finished NAME RC [KEPT]: the demo exited with RC and left no process behind,
# and no files unless KEPT (--keep: exactly its one directory).
finished() {
    local name=$1 want=$2 kept=${3:-0} rc=0 left
    wait "$DEMO_PID" || rc=$?
    [ "$rc" = "$want" ] || { cat "$T/$name.txt" >&2; fail "$name: demo exit status $rc, expected $want"; }
    sleep 0.2
    left=$(group_left "$DEMO_PID")
    [ -z "$left" ] || fail "$name: processes left behind: $left"
    if [ "$kept" = 1 ]; then
        [ "$(find "$T/tmp-$name" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] ||
            fail "$name: expected one kept directory: $(ls -A "$T/tmp-$name")"
    else
        [ -z "$(ls -A "$T/tmp-$name")" ] || fail "$name: temporary files left: $(ls -A "$T/tmp-$name")"
    fi
}

# --- 1. the default run: the story, then a clean stop
mkdir -p "$T/tmp-plain" "$T/tmp-stay"
start=$(date +%s%N)
run_demo plain --keep
finished plain 0 1
log "demo run: $((($(date +%s%N) - start) / 1000000)) ms"
for want in "1. Everybody is idle" "2. Alice joins a Teams call" "3. Bob takes a call" \
    "4. Carol's calendar meeting" "5. Everybody hangs up" "All steps passed" \
    "published presence-sync/state offline"; do
    grep -qF "$want" "$T/plain.txt" || fail "plain: no '$want' in the output"
done
grep -F "Teams call -> Voice 'talking'" "$T/plain.txt" | sed -n 1p >&2
grep -qE '^   teams/alice@contoso.com/busy \{"busy":true' "$T/plain.txt" ||
    fail "plain: the topic lines are not shown"
# every payload the demo saw matches its schema (docs/topics.md)
python3 - "$PS_SRC/schemas" "$T"/tmp-plain/presence-sync-demo.*/topics.out <<'PY' || fail "plain: a payload does not match its schema"
import json, os, sys
import jsonschema
schemas = {"teams/": "teams-busy", "voice/": "voice-talking", "presence-sync/state": "state",
           "presence-sync/sync/": "sync"}
seen = {}
for line in open(sys.argv[2]):
    topic, payload = line.rstrip("\n").split(" ", 1)
    for prefix, name in schemas.items():
        path = os.path.join(sys.argv[1], name + ".schema.json")
        if topic.startswith(prefix) and os.path.exists(path):
            jsonschema.validate(json.loads(payload), json.load(open(path)))
            seen[name] = seen.get(name, 0) + 1
print("validated", seen, file=sys.stderr)
for name in ("teams-busy", "voice-talking", "state"):
    if not seen.get(name):
        sys.exit("no %s payload seen" % name)
PY
rm -rf "$T"/tmp-plain/presence-sync-demo.*

# --- 2. --stay: the instructions work, secrets stay out of argv, Ctrl-C ends it all
run_demo stay --stay
wait_for 120 grep -q 'Everything keeps running' "$T/stay.txt" || {
    cat "$T/stay.txt" >&2
    fail "stay: the demo did not reach its waiting state"
}
sleep 0.5
kill -0 "$DEMO_PID" 2>/dev/null || fail "stay: the demo exited: $(tail -n 20 "$T/stay.txt")"
# every secret file of the demo: its value is in no process's command line
dir=$(ls -d "$T"/tmp-stay/presence-sync-demo.*)
args=$(ps -e -o args=)
for s in graph_client_secret graph_svc1_password voice_secret_key; do
    [ "$(stat -c %a "$dir/$s")" = 600 ] || fail "stay: $s is not mode 0600"
    [ -s "$dir/$s" ] || fail "stay: $s is empty"
    # (the pattern comes from the file: a grep argument would be a command line itself)
    grep -qFf "$dir/$s" <<<"$args" && fail "stay: the value of $s is in a command line"
    for f in "$dir"/*.log "$dir"/*.out; do
        grep -qFf "$dir/$s" "$f" && fail "stay: the value of $s is in $(basename "$f")"
    done
done
[ "$(stat -c %a "$dir")" = 700 ] || fail "stay: $dir is not mode 0700"
# the printed commands drive it: Alice's Teams call shows up on the topic
cmd=$(grep -m1 -E "^ +curl .*/start/call$" "$T/stay.txt") || fail "stay: no 'start a Teams call' example"
watch=$(grep -m1 -E "^ +mosquitto_sub -h 127.0.0.1 -p [0-9]+ -v -t '#'$" "$T/stay.txt") ||
    fail "stay: no mosquitto_sub example"
eval "$cmd" >/dev/null || fail "stay: '$cmd' failed"
wait_line 10 "$T/stay.txt" '^teams/alice@contoso.com/busy \{"busy":true' ||
    fail "stay: the Teams call from the example is not streamed: $(tail -n 5 "$T/stay.txt")"
retained=$(eval "$watch -C 30 -W 3 --retained-only" 2>&1 || true) # -W: ends with status 27
grep -q '^presence-sync/state {"state":"online"' <<<"$retained" ||
    fail "stay: the mosquitto_sub example shows no online state"
# Ctrl-C: SIGINT to the whole foreground process group
kill -INT -- "-$DEMO_PID"
wait_for 20 sh -c "! kill -0 $DEMO_PID 2>/dev/null" || fail "stay: still running 20 s after Ctrl-C"
finished stay 130
grep -q 'interrupted; stopping everything' "$T/stay.txt" || fail "stay: no interruption message"
pass
