#!/usr/bin/env bash
# A/B load run: two builds of the demo measured in one run, so that the
# machine's drift (large on shared 2-core machines) hits both alike.
#
# Starts both demo binaries side by side on free loopback ports (each idle
# while the other is measured), mints an ES256 token for each, then for
# every round measures with wrk, A then B: GET /healthz, GET /v1/reports
# with the token (verified-token cache hits), GET /v1/reports with the
# `main` API key. Prints each round and the mean ratios to /healthz.
# Only 127.0.0.1 is contacted; both demos are stopped on exit.
#
# usage: scripts/load_ab.sh BIN_A BIN_B
#   e.g. git worktree add /tmp/base <rev> && (cd /tmp/base && cargo build --release -p auth-demo)
#        cp "$CARGO_TARGET_DIR/release/auth-demo" /tmp/demo-a   (then the same for B)
# env:   ROUNDS (3), DURATION (10s), CONNECTIONS (32), RUST_LOG (demo default),
#        FRAMEWORK (axum|actix, default axum),
#        PIN (0; 1 pins both demos to CPU 0 and wrk to CPU 1 with taskset,
#        so that wrk does not compete with the demo measured)
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
FRAMEWORK="${FRAMEWORK:-axum}"
PIN="${PIN:-0}"
. scripts/pin.sh
PY=.venv/bin/python
command -v wrk >/dev/null || { echo "load_ab.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$PY" ] || { echo "load_ab.sh: run scripts/load.sh once first (it sets up .venv)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

declare -A addr token key
for side in A B; do
  bin="$1"; shift
  dir="$work/$side"
  mkdir -p "$dir"
  "${pin_demo[@]}" "$bin" --framework "$FRAMEWORK" --http 127.0.0.1:0 --https 127.0.0.1:0 --state-dir "$dir/state" \
    --ready-file "$dir/ready.json" >"$dir/demo.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 300); do [ -s "$dir/ready.json" ] && break; sleep 0.1; done
  addr[$side]="$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$dir/ready.json")"
  case "${addr[$side]}" in 127.0.0.1:*) ;; *) echo "unexpected address ${addr[$side]}" >&2; exit 1 ;; esac
  token[$side]="$($PY scripts/mint_token.py "$dir/state" es256 --scope reports:read --exp-in 3600)"
  key[$side]="$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_keys"]["main"])' "$dir/state/credentials.json")"
done

rps() { # wrk args...: requests/s, failing on errors or non-2xx answers
  local out
  out="$("${pin_wrk[@]}" wrk -t1 -c"$CONNECTIONS" "$@")"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "$out" >&2; exit 1; fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

declare -A sum
for side in A B; do
  for r in healthz jwt api_key; do sum[$side$r]=0; done
  rps -d2s "http://${addr[$side]}/healthz" >/dev/null
  rps -d2s -H "X-API-Key: ${key[$side]}" "http://${addr[$side]}/v1/reports" >/dev/null
done
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    h="$(rps -d"$DURATION" "http://${addr[$side]}/healthz")"
    j="$(rps -d"$DURATION" -H "Authorization: Bearer ${token[$side]}" "http://${addr[$side]}/v1/reports")"
    k="$(rps -d"$DURATION" -H "X-API-Key: ${key[$side]}" "http://${addr[$side]}/v1/reports")"
    awk -v r="$round" -v s="$side" -v h="$h" -v j="$j" -v k="$k" 'BEGIN {
      printf "round %s %s: healthz %8.0f  jwt %8.0f (%.3f)  api_key %8.0f (%.3f)\n", r, s, h, j, j/h, k, k/h }'
    sum[${side}healthz]="$(awk -v a="${sum[${side}healthz]}" -v b="$h" 'BEGIN {print a+b}')"
    sum[${side}jwt]="$(awk -v a="${sum[${side}jwt]}" -v b="$j" 'BEGIN {print a+b}')"
    sum[${side}api_key]="$(awk -v a="${sum[${side}api_key]}" -v b="$k" 'BEGIN {print a+b}')"
  done
done
for side in A B; do
  awk -v s="$side" -v n="$ROUNDS" -v h="${sum[${side}healthz]}" -v j="${sum[${side}jwt]}" -v k="${sum[${side}api_key]}" 'BEGIN {
    printf "%s mean: healthz %8.0f  jwt %8.0f (%.3f)  api_key %8.0f (%.3f)\n", s, h/n, j/n, j/h, k/n, k/h }'
done
