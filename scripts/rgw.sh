#!/usr/bin/env bash
# A throw-away single-node Ceph cluster with a RADOS Gateway (a real S3 server) on 127.0.0.1,
# for the publishing tests and benchmarks.
#
#   scripts/rgw.sh start [state dir]   start it (or find the one already running there)
#   scripts/rgw.sh stop  [state dir]   stop it by the PIDs it wrote, and remove the state
#   scripts/rgw.sh status [state dir]  exit 0 when it answers
#
# The state dir (default $BINDERY_RGW_STATE or /tmp/bindery-rgw) receives `env`: shell lines
# BINDERY_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, and `pids`.
# One monitor, one OSD on the memstore object store (data lives in memory: nothing survives a
# stop), cephx off, RGW's beast frontend. Packages: radosgw ceph-mon ceph-osd (Debian).
set -euo pipefail

cmd=${1:-}
state=${2:-${BINDERY_RGW_STATE:-/tmp/bindery-rgw}}

die() { echo "rgw.sh: $*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel picks it; a race with another process is unlikely and fails loudly).
uuid() { node -e 'console.log(require("crypto").randomUUID())'; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

answers() { [ -f "$state/env" ] && (. "$state/env" && curl -s -o /dev/null --max-time 2 "$BINDERY_S3_ENDPOINT"); }

stop() {
  [ -f "$state/pids" ] || { rm -rf "$state"; return 0; }
  # Reverse start order: the gateway first, the monitor last. radosgw may ignore SIGTERM.
  for pid in $(tac "$state/pids"); do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$state"
}

start() {
  if answers; then echo "rgw.sh: already running ($state/env)" >&2; return 0; fi
  for tool in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:radosgw monmaptool:ceph-mon curl:curl; do
    command -v "${tool%%:*}" >/dev/null || die "${tool%%:*} not found: apt-get install ${tool#*:}"
  done
  stop # whatever a dead run left
  mkdir -p "$state"/{run,log,mon,osd}
  local mon_port rgw_port fsid conf
  mon_port=$(free_port)
  rgw_port=$(free_port)
  fsid=$(uuid)
  conf="$state/ceph.conf"
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms bind ipv6 = false
# "secure" needs cephx: without it a daemon cannot even fetch its configuration.
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
# Fail in seconds, not after the default 300 s, when something is wrong.
client mount timeout = 30
run dir = $state/run
admin socket = $state/run/\$name.asok
pid file = $state/run/\$name.pid
log file = $state/log/\$name.log
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 1073741824
[mon.a]
mon data = $state/mon
[osd.0]
osd data = $state/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = 127.0.0.1
rgw enable usage log = false
rgw data = $state/rgw
EOF
  : >"$state/pids"
  monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$state/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$state/monmap" >/dev/null
  ceph-mon -c "$conf" -i a
  echo "$(cat "$state/run/mon.a.pid")" >>"$state/pids"
  local ceph=(ceph -c "$conf" --connect-timeout 10)
  local osd_uuid
  osd_uuid=$(uuid)
  "${ceph[@]}" osd new "$osd_uuid" 0 >/dev/null
  # The monitor only lets the OSD boot if its fsid is the one registered above.
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
  ceph-osd -c "$conf" -i 0
  for _ in $(seq 100); do [ -s "$state/run/osd.0.pid" ] && break; sleep 0.1; done
  echo "$(cat "$state/run/osd.0.pid")" >>"$state/pids"
  for _ in $(seq 60); do "${ceph[@]}" osd stat 2>/dev/null | grep -q '1 up' && break; sleep 0.5; done
  "${ceph[@]}" osd stat | grep -q '1 up' || die "the OSD did not come up: see $state/log/osd.0.log"
  mkdir -p "$state/rgw"
  radosgw -c "$conf" -n client.rgw
  for _ in $(seq 100); do [ -s "$state/run/client.rgw.pid" ] && break; sleep 0.1; done
  echo "$(cat "$state/run/client.rgw.pid")" >>"$state/pids"
  local endpoint="http://127.0.0.1:$rgw_port"
  for _ in $(seq 600); do curl -s -o /dev/null --max-time 2 "$endpoint" && break; sleep 0.1; done
  curl -s -o /dev/null --max-time 2 "$endpoint" || die "radosgw does not answer on $endpoint: see $state/log/client.rgw.log"
  local user access secret
  user=$(radosgw-admin -c "$conf" -n client.rgw user create --uid=bindery --display-name=bindery 2>/dev/null)
  access=$(node -e 'const u=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(u.keys[0].access_key)' <<<"$user")
  secret=$(node -e 'const u=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(u.keys[0].secret_key)' <<<"$user")
  umask 077
  cat >"$state/env.tmp" <<EOF
BINDERY_S3_ENDPOINT=$endpoint
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
EOF
  mv "$state/env.tmp" "$state/env"
  echo "rgw.sh: S3 on $endpoint (credentials in $state/env)" >&2
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) die "usage: scripts/rgw.sh start|stop|status [state dir]" ;;
esac
