#!/usr/bin/env bash
# Build sample-repo end to end. Uses $BINDERY_SIGNING_KEY or --signing-key if you have one;
# otherwise makes a throw-away Ed25519 key outside the repository, in the system temp dir.
# The sample's validators call visudo and sshd: where they are missing, the demo says which
# Debian package to install and builds anyway, skipping exactly those validators.
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
# The validators look in /usr/sbin and /sbin too; a tool must be an executable file there.
has_tool() { local p; p=$(PATH=$PATH:/usr/sbin:/sbin command -v "$1") && [ -f "$p" ] && [ -x "$p" ]; }
# tool:Debian package:the path whose validator calls it
for need in visudo:sudo:/etc/sudoers sshd:openssh-server:/etc/ssh/sshd_config; do
  IFS=: read -r tool package path <<<"$need"
  if ! has_tool "$tool"; then
    echo "$tool is not installed (apt-get install $package): skipping the validator of $path" >&2
    args+=(--skip-validator "$path")
  fi
done
node bin/bindery.js "${args[@]}"
echo "tarballs: $out/hosts/  manifest: $out/manifest.json" >&2
