#!/usr/bin/env bash
# The tutorial (docs/tutorial.md) as one script: build the sample site, inspect a host, break
# the build and see the last good output survive, then serve on 127.0.0.1 and fetch devbox's
# configuration into a scratch root. Everything goes into one temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/bindery-tutorial-XXXXXX")
port=${PORT:-6789}
server_pid=
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bindery() { node bin/bindery.js "$@"; }
step() { printf '\n== %s\n' "$*" >&2; }

step "1. build the sample site"
cp -r sample-repo "$work/repo"
openssl genpkey -algorithm ed25519 -out "$work/signing-key.pem"
bindery build "$work/repo" --out "$work/out" --signing-key "$work/signing-key.pem"
ls "$work/out/hosts" | grep -q '^devbox.example.com.tar.gz$'

step "2. inspect a host"
bindery info client devbox.example.com --repo "$work/repo"
bindery info buildfile /etc/motd devbox.example.com --repo "$work/repo"

step "3. break something: two equally specific issue files, for groups web and staging"
echo "web issue" > "$work/repo/Cfg/etc/issue/issue.G50_web"
echo "staging issue" > "$work/repo/Cfg/etc/issue/issue.G50_staging"
before=$(sha256sum "$work/out/manifest.json")
if bindery build "$work/repo" --out "$work/out" --signing-key "$work/signing-key.pem"; then
  echo "the broken build should have failed" >&2; exit 1
fi
[ "$(sha256sum "$work/out/manifest.json")" = "$before" ]   # the last good build is untouched
rm "$work/repo/Cfg/etc/issue/issue.G50_web" "$work/repo/Cfg/etc/issue/issue.G50_staging"

step "4. serve it on 127.0.0.1"
bindery ca init "$work/ca"
bindery ca issue "$work/ca" localhost --server
openssl pkey -in "$work/signing-key.pem" -pubout -out "$work/signing-pub.pem"
node bin/bindery.js serve --build "$work/out" --repo "$work/repo" --listen "127.0.0.1:$port" --state "$work/serve-state" \
  --tls-cert "$work/ca/issued/localhost.crt" --tls-key "$work/ca/issued/localhost.key" --ca "$work/ca" > "$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -sf --cacert "$work/ca/ca.crt" "https://localhost:$port/healthz" >/dev/null && break; sleep 0.2; done

step "5. fetch devbox's configuration: look first, then apply"
# A scratch root stands in for the host: owners come from its own etc/passwd and etc/group.
mkdir -p "$work/root/etc"
printf 'root:x:0:0::/root:/bin/sh\ndeploy:x:1000:1000::/home/deploy:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\nntp:x:107:107::/nonexistent:/bin/false\n' > "$work/root/etc/passwd"
printf 'root:x:0:\ndeploy:x:1000:\nwww-data:x:33:\nntp:x:107:\n' > "$work/root/etc/group"
fetch=(fetch --server "https://localhost:$port" --ca "$work/ca/ca.crt" --trust "$work/signing-pub.pem"
  --user devbox.example.com --password devbox-pw --root "$work/root" --state "$work/fetch-state")
bindery "${fetch[@]}" --dry-run
bindery "${fetch[@]}"
cat "$work/root/etc/motd"
bindery "${fetch[@]}" --dry-run --json | grep -q '"unchanged"'
cat "$work/serve.log" >&2
echo "tutorial: every step worked" >&2
