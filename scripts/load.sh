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
# and prints each throughput and the ratios to healthz (targets: api_key
# >= 0.9, jwt >= 0.85). Beside throughput it reads the demo's own CPU time
# from /proc around each run and prints microseconds of demo CPU per
# request, and the same ratios from those (healthz CPU / route CPU): what
# the throughput ratio would be if the demo alone were the bottleneck. On
# a small shared machine wrk competes with the demo for the cores, so the
# CPU ratio is the steadier of the two. Only 127.0.0.1 is contacted; the
# demo is stopped on exit.
#
# usage: scripts/load.sh
# env:   THREADS (1), CONNECTIONS (32), DURATION (10s), ROUNDS (3),
#        FRAMEWORK (axum|actix, default axum),
#        TARGET_API_KEY (0.9), TARGET_JWT (0.85),
#        PIN (0; 1 pins the demo to CPU 0 and wrk to CPU 1 with taskset),
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
TARGET_API_KEY="${TARGET_API_KEY:-0.9}"
TARGET_JWT="${TARGET_JWT:-0.85}"
PIN="${PIN:-0}"
. scripts/pin.sh
clk_tck="$(getconf CLK_TCK)"
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

"${pin_demo[@]}" "$demo_bin" --framework "$FRAMEWORK" --http 127.0.0.1:0 --https 127.0.0.1:0 \
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
# The demo's CPU time so far (user + system), in clock ticks.
demo_ticks() {
  awk '{print $14 + $15}' "/proc/$demo_pid/stat"
}

# wrk's "Requests/sec:" of one run and the demo's CPU microseconds per
# request ("RPS CPU_US"); fails on any socket error or non-2xx answer, which
# would make the throughput meaningless.
run_wrk() { # NAME URL [HEADER]
  local name="$1" url="$2" out rps t0 t1 requests cpu
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
  [ $# -ge 3 ] && args+=(-H "$3")
  t0="$(demo_ticks)"
  out="$("${pin_wrk[@]}" wrk "${args[@]}" "$url")"
  t1="$(demo_ticks)"
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
  requests="$(awk '/ requests in / {print $1}' <<<"$out")"
  cpu="$(awk -v a="$t0" -v b="$t1" -v n="$requests" -v hz="$clk_tck" \
    'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')"
  printf '  %-8s %12.1f req/s   p50 %-9s p99 %-9s demo CPU %6s us/req\n' \
    "$name" "$rps" "$p50" "$p99" "$cpu" >&2
  echo "$rps $cpu"
}

echo "auth-demo ($FRAMEWORK, release, RUST_LOG=${RUST_LOG:-<unset>: info>}) at $base;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS round(s)$([ "$PIN" = 1 ] && echo ', demo on CPU 0, wrk on CPU 1')"
echo "warm-up: 2 s per route (not counted)"
for target in "healthz|$base/healthz|" \
  "jwt|$base/v1/reports|Authorization: Bearer $token" \
  "api_key|$base/v1/reports|X-API-Key: $api_key"; do
  IFS='|' read -r _ url header <<<"$target"
  if [ -n "$header" ]; then
    "${pin_wrk[@]}" wrk -t1 -c"$CONNECTIONS" -d2s -H "$header" "$url" >/dev/null
  else
    "${pin_wrk[@]}" wrk -t1 -c"$CONNECTIONS" -d2s "$url" >/dev/null
  fi
done

healthz=()
jwt=()
apikey=()
healthz_cpu=()
jwt_cpu=()
apikey_cpu=()
for round in $(seq "$ROUNDS"); do
  echo "round $round:"
  # One assignment per run, so that set -e sees a failed run.
  r="$(run_wrk healthz "$base/healthz")"
  healthz+=("${r% *}")
  healthz_cpu+=("${r#* }")
  r="$(run_wrk jwt "$base/v1/reports" "Authorization: Bearer $token")"
  jwt+=("${r% *}")
  jwt_cpu+=("${r#* }")
  r="$(run_wrk api_key "$base/v1/reports" "X-API-Key: $api_key")"
  apikey+=("${r% *}")
  apikey_cpu+=("${r#* }")
done

$PY - "$TARGET_API_KEY" "$TARGET_JWT" "${healthz[*]}" "${jwt[*]}" "${apikey[*]}" \
  "${healthz_cpu[*]}" "${jwt_cpu[*]}" "${apikey_cpu[*]}" <<'EOF'
import sys
target = {"api_key": float(sys.argv[1]), "jwt": float(sys.argv[2])}
names = ["healthz", "jwt", "api_key"]
rows = {n: [float(x) for x in v.split()] for n, v in zip(names, sys.argv[3:6])}
cpu = {n: [float(x) for x in v.split()] for n, v in zip(names, sys.argv[6:9])}
mean = {k: sum(v) / len(v) for k, v in rows.items()}
mean_cpu = {k: sum(v) / len(v) for k, v in cpu.items()}
print()
print("mean over rounds:")
for k in names:
    print(f"  {k:<8} {mean[k]:12.1f} req/s   demo CPU {mean_cpu[k]:6.2f} us/req")
for k in ["api_key", "jwt"]:
    # Each round's ratio, to show how much the machine's noise moves it.
    per_round = [r / h for r, h in zip(rows[k], rows["healthz"])]
    spread = f"rounds {min(per_round):.3f}..{max(per_round):.3f}"
    r = mean[k] / mean["healthz"]
    c = mean_cpu["healthz"] / mean_cpu[k]
    def verdict(x):
        return "met" if x >= target[k] else "NOT met"
    print(f"ratio {k}/healthz: throughput {r:.3f} ({spread}; {verdict(r)}),"
          f" demo CPU {c:.3f} ({verdict(c)}); target >= {target[k]}")
print(f"ratio jwt/api_key     {mean['jwt'] / mean['api_key']:.3f}")
EOF
