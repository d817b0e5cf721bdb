#!/usr/bin/env bash
# Load run against the demo: how much a JWT bearer check costs in throughput.
#
# Builds the demo in release mode, starts it on free loopback ports with a
# fresh state directory, mints one ES256 access token with PyJWT, then uses
# wrk to measure requests/s of, alternating, round after round:
#   healthz  GET /healthz                       (no authentication)
#   jwt      GET /v1/reports, Bearer <token>    (the same token every time,
#                                                so the verified-token cache
#                                                is hit)
#   api_key  GET /v1/reports, X-API-Key <main>  (for comparison)
# and prints each throughput and the ratios to healthz (target for jwt:
# >= 0.8). Only 127.0.0.1 is contacted; the demo is stopped on exit.
#
# usage: scripts/load.sh
# env:   THREADS (1), CONNECTIONS (32), DURATION (10s), ROUNDS (3),
#        FRAMEWORK (axum|actix, default axum), TARGET_RATIO (0.8),
#        CARGO_TARGET_DIR ($HOME/.cache/auth-stack/target),
#        RUST_LOG (passed to the demo; unset = its default, `info`, which
#        logs refusals; `auth_core::decision=debug` adds a line for every
#        allowed request)
# Exit status: 0 when the run completed (whether or not the target is met;
# the verdict is printed), non-zero when the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
FRAMEWORK="${FRAMEWORK:-axum}"
TARGET_RATIO="${TARGET_RATIO:-0.8}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auth-stack/target}"

log() { echo "load.sh: $*" >&2; }

# --- tools -------------------------------------------------------------------
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
# PyJWT, as scripts/test.sh installs it.
if ! .venv/bin/python -c 'import jwt, cryptography' >/dev/null 2>&1; then
  log "installing PyJWT into .venv"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'pyjwt[crypto]>=2.8,<3'
fi
PY=.venv/bin/python

# --- demo ----------------------------------------------------------------------
cargo build --release --locked -p auth-demo
demo_bin="$CARGO_TARGET_DIR/release/auth-demo"

work="$(mktemp -d)"
state="$work/state"
mkdir -p "$state"
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill "$demo_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$demo_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$demo_bin" --framework "$FRAMEWORK" --http 127.0.0.1:0 --https 127.0.0.1:0 \
  --state-dir "$state" --ready-file "$work/ready.json" >"$work/demo.log" 2>&1 &
demo_pid=$!

for _ in $(seq 300); do
  [ -s "$work/ready.json" ] && break
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    log "the demo exited before it was ready:"
    cat "$work/demo.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ ! -s "$work/ready.json" ]; then
  log "the demo was not ready after 30 s"
  cat "$work/demo.log" >&2
  exit 1
fi

http_addr="$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/ready.json")"
case "$http_addr" in
  127.0.0.1:*) ;;
  *) log "unexpected HTTP address '$http_addr' (only 127.0.0.1 may be contacted)"; exit 1 ;;
esac
base="http://$http_addr"

token="$($PY scripts/mint_token.py "$state" es256 --scope reports:read --exp-in 3600)"
api_key="$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_keys"]["main"])' \
  "$state/credentials.json")"

# --- sanity: each request is answered as expected before it is measured -------
status() { # URL [HEADER]
  $PY - "$@" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    name, value = sys.argv[2].split(": ", 1)
    req.add_header(name, value)
try:
    print(urllib.request.urlopen(req, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}
expect() { # WANT URL [HEADER]
  local want="$1" got
  shift
  got="$(status "$@")"
  if [ "$got" != "$want" ]; then
    log "expected $want from GET $1, got $got"
    exit 1
  fi
}
expect 200 "$base/healthz"
expect 200 "$base/v1/reports" "Authorization: Bearer $token"
expect 200 "$base/v1/reports" "X-API-Key: $api_key"
expect 401 "$base/v1/reports"

# --- measure -------------------------------------------------------------------
# wrk's "Requests/sec:" of one run; fails on any socket error or non-2xx
# answer, which would make the throughput meaningless.
run_wrk() { # NAME URL [HEADER]
  local name="$1" url="$2" out rps
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
  [ $# -ge 3 ] && args+=(-H "$3")
  out="$(wrk "${args[@]}" "$url")"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    log "$name: errors during the run:"
    echo "$out" >&2
    exit 1
  fi
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  [ -n "$rps" ] || { log "$name: no Requests/sec in wrk output"; echo "$out" >&2; exit 1; }
  local p50 p99
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  printf '  %-8s %12.1f req/s   p50 %-9s p99 %s\n' "$name" "$rps" "$p50" "$p99" >&2
  echo "$rps"
}

echo "auth-demo ($FRAMEWORK, release, RUST_LOG=${RUST_LOG:-<unset>: info>}) at $base;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS round(s)"
echo "warm-up: 2 s per route (not counted)"
for target in "healthz|$base/healthz|" \
  "jwt|$base/v1/reports|Authorization: Bearer $token" \
  "api_key|$base/v1/reports|X-API-Key: $api_key"; do
  IFS='|' read -r _ url header <<<"$target"
  if [ -n "$header" ]; then
    wrk -t1 -c"$CONNECTIONS" -d2s -H "$header" "$url" >/dev/null
  else
    wrk -t1 -c"$CONNECTIONS" -d2s "$url" >/dev/null
  fi
done

healthz=()
jwt=()
apikey=()
for round in $(seq "$ROUNDS"); do
  echo "round $round:"
  # One assignment per run, so that set -e sees a failed run.
  r="$(run_wrk healthz "$base/healthz")"
  healthz+=("$r")
  r="$(run_wrk jwt "$base/v1/reports" "Authorization: Bearer $token")"
  jwt+=("$r")
  r="$(run_wrk api_key "$base/v1/reports" "X-API-Key: $api_key")"
  apikey+=("$r")
done

$PY - "$TARGET_RATIO" "${healthz[*]}" "${jwt[*]}" "${apikey[*]}" <<'EOF'
import sys
target = float(sys.argv[1])
rows = {name: [float(x) for x in vals.split()] for name, vals in
        zip(["healthz", "jwt", "api_key"], sys.argv[2:5])}
mean = {k: sum(v) / len(v) for k, v in rows.items()}
print()
print("mean over rounds:")
for k in ["healthz", "jwt", "api_key"]:
    print(f"  {k:<8} {mean[k]:12.1f} req/s")
# Each round's ratio, to show how much the machine's noise moves it.
per_round = [j / h for j, h in zip(rows["jwt"], rows["healthz"])]
spread = f"rounds {min(per_round):.3f}..{max(per_round):.3f}"
r_jwt = mean["jwt"] / mean["healthz"]
r_key = mean["api_key"] / mean["healthz"]
print(f"ratio jwt/healthz     {r_jwt:.3f}  ({spread}; target >= {target}: {'met' if r_jwt >= target else 'NOT met'})")
print(f"ratio api_key/healthz {r_key:.3f}")
print(f"ratio jwt/api_key     {mean['jwt'] / mean['api_key']:.3f}")
EOF
