#!/usr/bin/env bash
# A flood of Basic requests for distinct unknown users against the release
# demo over TLS, with curl as the outside client: how the demo sheds them,
# how fast /healthz answers meanwhile, and the demo's memory (VmRSS from
# /proc/<pid>/status) before, at its peak and after.
#
# usage: scripts/basic_flood.sh
# env:   USERS (300, all sent at once), FRAMEWORK (axum|actix, default axum),
#        CARGO_TARGET_DIR ($HOME/.cache/auth-stack/target)
# Only 127.0.0.1 is contacted; the demo is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-300}"
FRAMEWORK="${FRAMEWORK:-axum}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auth-stack/target}"
log() { echo "basic_flood.sh: $*" >&2; }
command -v curl >/dev/null 2>&1 || { log "curl is missing"; exit 1; }

cargo build --release --locked -p auth-demo
work="$(mktemp -d)"
demo=""
cleanup() {
  [ -n "$demo" ] && kill "$demo" 2>/dev/null && wait "$demo" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$CARGO_TARGET_DIR/release/auth-demo" --framework "$FRAMEWORK" \
  --http 127.0.0.1:0 --https 127.0.0.1:0 --state-dir "$work/state" \
  --ready-file "$work/ready.json" >"$work/demo.log" 2>&1 &
demo=$!
for _ in $(seq 1 300); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { log "the demo did not start"; cat "$work/demo.log" >&2; exit 1; }
addr() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/ready.json" "$1"; }
http="$(addr http)"
https_port="$(addr https | sed 's/.*://')"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$demo/status"; }

before="$(rss)"
peak="$before"
( while kill -0 "$demo" 2>/dev/null; do rss >>"$work/rss"; sleep 0.05; done ) &
sampler=$!

# /healthz, one request after another, from before the flood to its end.
( while [ ! -e "$work/stop" ]; do
    curl -s -o /dev/null -w '%{time_total}\n' "http://$http/healthz" >>"$work/healthz"
  done ) &
prober=$!
for i in $(seq 1 "$USERS"); do
  printf 'nobody-%s-%s:pw' "$i" "$RANDOM" | base64 -w0 >"$work/cred-$i"
done
sleep 0.5
# Every user at once: each curl is its own TLS connection.
start=$(date +%s.%N)
for i in $(seq 1 "$USERS"); do
  curl -s -o /dev/null -w '%{http_code}\n' --cacert "$work/state/ca.pem" \
    --resolve "localhost:$https_port:127.0.0.1" \
    -H "Authorization: Basic $(cat "$work/cred-$i")" "https://localhost:$https_port/v1/whoami" \
    >>"$work/codes" &
done
touch "$work/codes"
while [ "$(wc -l <"$work/codes")" -lt "$USERS" ]; do sleep 0.05; done
touch "$work/stop"
wait "$prober" 2>/dev/null || true
end=$(date +%s.%N)
sleep 1
after="$(rss)"
kill "$sampler" 2>/dev/null || true
peak="$(sort -n "$work/rss" | tail -1)"

echo "flood of $USERS unknown Basic users over TLS ($FRAMEWORK, release):"
echo "  answers: $(sort "$work/codes" | uniq -c | awk '{printf "%s x %s, ", $1, $2}')in $(echo "$end - $start" | bc) s"
if [ -s "$work/healthz" ]; then
  sort -n "$work/healthz" | awk '{a[NR]=$1} END {printf "  /healthz from before to after: %d answers, median %.1f ms, 99th percentile %.1f ms, slowest %.1f ms\n", NR, a[int((NR+1)/2)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'
fi
echo "  demo VmRSS: before $((before / 1024)) MiB, peak $((peak / 1024)) MiB, after $((after / 1024)) MiB"
