#!/usr/bin/env bash
# The container files, checked without a Docker engine.
# The Dockerfile: every COPY source exists and survives .dockerignore, every
# stage used by --from or by compose exists; the build stage lists the -dev
# package of every pkg-config module and header the build needs, and the
# runtime stage lists the package of every shared library that the built
# presence-sync, fake-graph and fake-voice load (found with ldd + dpkg -S). A
# sanitizer build links more than the image's plain build, so its runtime
# libraries are not checked (the plain pass checks them).
# docker-compose.yml: `docker-compose config -q` passes (with and without the
# demo profile), every bind mount and secret file exists (repo paths in the
# repo and not git-ignored, secrets as made by
# broker-config/make-demo-secrets.sh), every bind mount is read-only, the
# daemon's secrets come through compose `secrets:`, and the config it mounts
# passes `presence-sync check-config` with exactly those secret files; the
# checker itself fails on a missing secret file and on a writable mount.
# The compose part is skipped (exit 77, after the Dockerfile part) when
# docker-compose is not installed (scripts/setup.sh installs it).
source "$(dirname "$0")/../lib/common.sh"

cd "$PS_SRC" || fail "cannot cd to $PS_SRC"
for f in Dockerfile .dockerignore docker-compose.yml broker-config/make-demo-secrets.sh \
    docs/examples/config.compose.json; do
    [ -f "$f" ] || fail "$f missing"
done

# ---- Dockerfile ---------------------------------------------------------------
# stage_packages STAGE: the packages its apt-get install lines name
stage_packages() {
    awk -v st="$1" '
        /^FROM / { cur = ($NF == st); next }
        cur { print }' Dockerfile | sed 's/\\$//' |
        awk '/apt-get install/ { on = 1 } on { print } /&&|^$/ && !/apt-get install/ { on = 0 }' |
        tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
        grep -vxE 'apt-get|install|rm|update|DEBIAN_FRONTEND=noninteractive' || true
}
stages=$(awk '/^FROM / && toupper($(NF-1)) == "AS" { print $NF }' Dockerfile)
for st in build runtime-base runtime fakes mosquitto; do
    grep -qx "$st" <<<"$stages" || fail "Dockerfile has no stage '$st'"
done
grep -Eo -- '--from=[A-Za-z0-9_-]+' Dockerfile | cut -d= -f2 | sort -u | while read -r st; do
    grep -qx "$st" <<<"$stages" || fail "COPY --from=$st: no such stage"
done

# COPY sources: exist, and not excluded by .dockerignore
python3 - <<'PY' || fail "Dockerfile COPY sources"
import fnmatch, os, re, sys
ignore = [l.strip() for l in open(".dockerignore") if l.strip() and not l.startswith("#")]
def ignored(path):
    parts = path.rstrip("/").split("/")
    for pat in ignore:
        pat = pat.rstrip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatch(prefix, pat) or (pat.startswith("**/") and fnmatch.fnmatch(parts[i-1], pat[3:])):
                return pat
    return None
bad = 0
for line in open("Dockerfile"):
    m = re.match(r"^COPY\s+(.*)$", line)
    if not m or "--from=" in line:
        continue
    args = [a for a in m.group(1).split() if not a.startswith("--")]
    for src in args[:-1]:
        if not os.path.exists(src):
            print(f"COPY source missing: {src}", file=sys.stderr); bad = 1
        elif ignored(src):
            print(f"COPY source {src} excluded by .dockerignore ({ignored(src)})", file=sys.stderr); bad = 1
for must in ["build/", "build-x/", "secrets/", ".git"]:
    if not ignored(must):
        print(f".dockerignore does not exclude {must}", file=sys.stderr); bad = 1
sys.exit(bad)
PY

# build stage: the -dev package of every pkg-config module and header
build_pkgs=$(stage_packages build)
[ -n "$build_pkgs" ] || fail "no packages found in the build stage"
for mod in libcurl libcjson libwebsockets openssl cmocka; do
    pc=$(pkg-config --path "$mod") || fail "pkg-config module $mod not installed here"
    pkg=$(dpkg -S "$(readlink -f "$pc")" 2>/dev/null | sed -n 1p | cut -d: -f1) || true
    [ -n "$pkg" ] || pkg=$(dpkg -S "$pc" | sed -n 1p | cut -d: -f1)
    grep -qx "$pkg" <<<"$build_pkgs" || fail "build stage lacks $pkg (provides $mod.pc)"
done
paho_h=$(echo '#include <MQTTAsync.h>' | cpp -H -o /dev/null 2>&1 | awk '/MQTTAsync.h/ && !f { print $2; f = 1 }')
pkg=$(dpkg -S "$paho_h" | sed -n 1p | cut -d: -f1)
grep -qx "$pkg" <<<"$build_pkgs" || fail "build stage lacks $pkg (provides MQTTAsync.h)"
for p in cmake pkg-config build-essential; do
    grep -qx "$p" <<<"$build_pkgs" || fail "build stage lacks $p"
done

# runtime stage: the package of every shared library the binaries load
runtime_pkgs=$(stage_packages runtime-base)
[ -n "$runtime_pkgs" ] || fail "no packages found in the runtime stage"
bins=("$PS_BIN")
[ -n "${FAKE_GRAPH:-}" ] && bins+=("$FAKE_GRAPH")
[ -n "${FAKE_VOICE:-}" ] && bins+=("$FAKE_VOICE")
for bin in "${bins[@]}"; do
    [ -x "$bin" ] || fail "not built: $bin"
    # A sanitizer build links more than the image's (plain) build does
    # (no --as-needed effect: e.g. libcap via libwebsockets' pkg-config).
    if objdump -p "$bin" | has 'NEEDED.*libasan'; then
        log "$(basename "$bin") is a sanitizer build: runtime library check skipped"
        continue
    fi
    # direct dependencies only (NEEDED); their own dependencies come with apt
    for lib in $(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }'); do
        path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
        [ -n "$path" ] || fail "$bin: $lib not found by ldd"
        pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | sed -n 1p | cut -d: -f1) ||
            pkg=$(dpkg -S "$path" | sed -n 1p | cut -d: -f1)
        case $pkg in libc6 | libgcc-s1) continue ;; esac # in every Debian image
        grep -qx "$pkg" <<<"$runtime_pkgs" ||
            fail "runtime stage lacks $pkg, which provides $lib for $(basename "$bin")"
    done
done
log "Dockerfile: stages, COPY sources, build and runtime packages OK"

# ---- docker-compose.yml ---------------------------------------------------------
if ! command -v docker-compose >/dev/null; then
    echo "SKIP: docker-compose not installed (Debian package docker-compose); the Dockerfile part passed"
    exit 77
fi
bash broker-config/make-demo-secrets.sh "$T/secrets" >/dev/null || fail "make-demo-secrets.sh failed"
export PS_SECRETS=$T/secrets
docker-compose -f docker-compose.yml config -q 2>"$T/compose.log" || fail "docker-compose config -q: $(cat "$T/compose.log")"
docker-compose -f docker-compose.yml --profile demo config -q 2>"$T/compose.log" ||
    fail "docker-compose --profile demo config -q: $(cat "$T/compose.log")"
docker-compose -f docker-compose.yml --profile demo config >"$T/resolved.yml" 2>"$T/compose.log" ||
    fail "docker-compose config: $(cat "$T/compose.log")"

# check_resolved FILE: the path, mode and wiring rules on a resolved compose file
cat >"$T/check.py" <<'PY'
import json, os, re, subprocess, sys, yaml
resolved, src, secrets_dir, ps_bin, tmp = sys.argv[1:6]
doc = yaml.safe_load(open(resolved))
bad = []
def repo_or_secret(path, what):
    if not os.path.exists(path):
        bad.append(f"{what}: {path} does not exist"); return
    real = os.path.realpath(path)
    if real.startswith(os.path.realpath(src) + os.sep):
        rel = os.path.relpath(real, os.path.realpath(src))
        if subprocess.run(["git", "-C", src, "check-ignore", "-q", rel]).returncode == 0:
            bad.append(f"{what}: {rel} is git-ignored, so not in the repo")
    elif not real.startswith(os.path.realpath(secrets_dir) + os.sep):
        bad.append(f"{what}: {path} is neither in the repo nor a secret")
stages = set(re.findall(r"^FROM \S+ AS (\S+)$", open(os.path.join(src, "Dockerfile")).read(), re.M))
svcs = doc["services"]
for want in ["mosquitto", "presence-sync", "fake-graph", "fake-voice"]:
    if want not in svcs:
        bad.append(f"service {want} missing")
for name, svc in svcs.items():
    b = svc.get("build", {})
    if os.path.realpath(b.get("context", "")) != os.path.realpath(src):
        bad.append(f"{name}: build context is not the repo")
    if b.get("target") not in stages:
        bad.append(f"{name}: build target {b.get('target')} is not a Dockerfile stage")
    for v in svc.get("volumes", []):
        parts = v.split(":") if isinstance(v, str) else [v.get("source"), v.get("target"), "ro" if v.get("read_only") else "rw"]
        source = parts[0]
        if not source.startswith("/"):
            continue  # a named volume
        repo_or_secret(source, f"{name} volume")
        if len(parts) < 3 or "ro" not in parts[2].split(","):
            bad.append(f"{name}: bind mount {source} is not read-only")
    for s in svc.get("secrets", []):
        sname = s["source"] if isinstance(s, dict) else s
        if sname not in doc.get("secrets", {}):
            bad.append(f"{name}: secret {sname} not declared")
for sname, s in doc.get("secrets", {}).items():
    repo_or_secret(s["file"], f"secret {sname}")
for name in ["fake-graph", "fake-voice"]:
    if "demo" not in svcs.get(name, {}).get("profiles", []):
        bad.append(f"{name}: not under the demo profile")
# the daemon's config: mounted read-only, its secrets are exactly compose secrets
ps = svcs.get("presence-sync", {})
cfg = [v.split(":")[0] for v in ps.get("volumes", []) if v.split(":")[1] == "/etc/presence-sync/config.json"]
if len(cfg) != 1:
    bad.append("presence-sync: no config mounted at /etc/presence-sync/config.json")
else:
    text = open(cfg[0]).read()
    given = {s["source"] if isinstance(s, dict) else s for s in ps.get("secrets", [])}
    for used in sorted(set(re.findall(r"/run/secrets/([A-Za-z0-9_.-]+)", text))):
        if used not in given:
            bad.append(f"config names /run/secrets/{used}, which presence-sync is not given")
        else:
            text = text.replace(f"/run/secrets/{used}", doc["secrets"][used]["file"])
    if "/run/secrets/" not in open(cfg[0]).read():
        bad.append("config reads no secret from /run/secrets")
    open(os.path.join(tmp, "config.json"), "w").write(text)
    r = subprocess.run([ps_bin, "check-config", "-c", os.path.join(tmp, "config.json")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        bad.append(f"check-config on the compose config: {r.stdout}{r.stderr}")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
check() { python3 "$T/check.py" "$1" "$PS_SRC" "$PS_SECRETS" "$PS_BIN" "$T"; }
check "$T/resolved.yml" 2>"$T/check.log" || fail "compose checks: $(cat "$T/check.log")"

# the checker can fail: a missing secret file, and a mount without :ro
mv "$T/secrets/voice_secret_key" "$T/voice_secret_key.away"
check "$T/resolved.yml" 2>"$T/check.log" && fail "checker missed a missing secret file"
grep -q 'secret voice_secret_key: .* does not exist' "$T/check.log" || fail "wrong complaint: $(cat "$T/check.log")"
mv "$T/voice_secret_key.away" "$T/secrets/voice_secret_key"
sed 's|broker-config/acl:/etc/mosquitto/acl:ro|broker-config/acl:/etc/mosquitto/acl:rw|' "$T/resolved.yml" >"$T/rw.yml"
check "$T/rw.yml" 2>"$T/check.log" && fail "checker missed a writable mount"
grep -q 'is not read-only' "$T/check.log" || fail "wrong complaint: $(cat "$T/check.log")"
log "docker-compose.yml: config -q, mounts, secrets, check-config OK"
pass container
