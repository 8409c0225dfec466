#!/usr/bin/env bash
# The Dockerfile, checked without a Docker engine: every COPY source exists
# and survives .dockerignore, every stage used by --from or by compose
# exists; the build stage lists the -dev package of every pkg-config module
# and header the build needs, and the runtime stage lists the package of
# every shared library that the built presence-sync, fake-graph and
# fake-voice load (found with ldd + dpkg -S). A sanitizer build links more
# than the image's plain build, so its runtime libraries are not checked
# (the plain pass checks them). docker-compose.yml: test_compose.sh.
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
pass dockerfile
