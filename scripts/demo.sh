#!/usr/bin/env bash
# Build sample-repo end to end. Uses $BINDERY_SIGNING_KEY or --signing-key if you have one;
# otherwise makes a throw-away Ed25519 key outside the repository, in the system temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}
key=${SIGNING_KEY:-${TMPDIR:-/tmp}/bindery-demo-signing-key.pem}
if [ -z "${BINDERY_SIGNING_KEY:-}" ] && [ ! -f "$key" ]; then
  openssl genpkey -algorithm ed25519 -out "$key"
  echo "made a throw-away signing key: $key" >&2
fi
args=(build sample-repo --out "$out")
[ -n "${BINDERY_SIGNING_KEY:-}" ] || args+=(--signing-key "$key")
node bin/bindery.js "${args[@]}"
echo "tarballs: $out/hosts/  manifest: $out/manifest.json" >&2
