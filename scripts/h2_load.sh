#!/usr/bin/env bash
# Load run: the demo's TLS listener over HTTP/2 versus HTTP/1.1, with h2load
# (nghttp2) as the outside client, on both frameworks (axum, then actix).
#
# Builds the demo in release mode; for each framework, starts it on free
# loopback ports with a fresh state directory, checks with curl that every
# request below answers 200 over the protocol it claims, then measures with
# h2load, round after round, each run preceded by a short warm-up:
#   healthz  h2    GET /healthz                      (no authentication)
#   healthz  h1    GET /healthz                      (HTTP/1.1)
#   api_key  h2    GET /v1/whoami, X-API-Key <main>  (the API-key check)
#   api_key  h1    GET /v1/whoami, X-API-Key <main>  (HTTP/1.1)
# HTTP/2 runs multiplex STREAMS requests per connection (-m); HTTP/1.1 has no
# multiplexing (one request in flight per connection, keep-alive). Every run
# must answer every request with a 2xx over the negotiated protocol (ALPN h2
# or http/1.1), or the script fails.
#
# Reading the output: the table gives each run's req/s as the median over
# ROUNDS (with min..max, which shows how much the machine's noise moves it).
# Ratios, from the medians, per framework:
#   h2/h1 healthz          > 1: HTTP/2 (with multiplexing) serves more
#                          requests/s than HTTP/1.1 on the same connections;
#                          < 1: HTTP/2's framing costs more than it saves.
#                          HTTP/2 keeps up to CONNECTIONS x
#                          STREAMS requests in flight, HTTP/1.1 CONNECTIONS:
#                          the ratio is protocol and concurrency together.
#   h2/h1 api_key          the same, with the API-key check in every request.
#   api_key/healthz (h2)   what the API-key check leaves of the bare route's
#                          throughput over HTTP/2 (1.0 = free; 0.5 = halves it).
#   api_key/healthz (h1)   the same over HTTP/1.1.
# h2load runs on the same machine as the demo and takes CPU from it; on a
# shared 2-core machine compare ratios taken in one run rather than absolute
# req/s across runs. The load average (uptime) is printed at start and end.
#
# usage: nice -n 10 scripts/h2_load.sh
# env:   REQUESTS (40000 per measured run), CONNECTIONS (16), STREAMS (8,
#        HTTP/2 only), WARMUP_REQUESTS (4000 before each run), ROUNDS (5),
#        FRAMEWORKS ("axum actix"), CARGO_TARGET_DIR
#        ($HOME/.cache/auth-stack/target), RUST_LOG (passed to the demo)
# Only 127.0.0.1 is contacted; the demo is stopped on exit.
# Exit status: 0 when every run completed with only 2xx answers.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${REQUESTS:-40000}"
CONNECTIONS="${CONNECTIONS:-16}"
STREAMS="${STREAMS:-8}"
WARMUP_REQUESTS="${WARMUP_REQUESTS:-4000}"
ROUNDS="${ROUNDS:-5}"
FRAMEWORKS="${FRAMEWORKS:-axum actix}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auth-stack/target}"

log() { echo "h2_load.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for v in REQUESTS CONNECTIONS STREAMS WARMUP_REQUESTS ROUNDS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
for fw in $FRAMEWORKS; do
  case "$fw" in axum | actix) ;; *) die "unknown framework '$fw' (axum|actix)" ;; esac
done

# --- tools ---------------------------------------------------------------------
need=()
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi

# --- demo ----------------------------------------------------------------------
cargo build --release --locked -p auth-demo
demo_bin="$CARGO_TARGET_DIR/release/auth-demo"

work="$(mktemp -d)"
demo_pid=""
stop_demo() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill "$demo_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$demo_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$demo_pid" 2>/dev/null || true
  fi
  [ -n "$demo_pid" ] && { wait "$demo_pid" 2>/dev/null || true; }
  demo_pid=""
}
cleanup() {
  stop_demo
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_demo() { # FRAMEWORK DIR: starts the demo, sets demo_pid
  local fw="$1" dir="$2"
  mkdir -p "$dir"
  "$demo_bin" --framework "$fw" --http 127.0.0.1:0 --https 127.0.0.1:0 \
    --state-dir "$dir/state" --ready-file "$dir/ready.json" >"$dir/demo.log" 2>&1 &
  demo_pid=$!
  for _ in $(seq 300); do
    [ -s "$dir/ready.json" ] && return 0
    if ! kill -0 "$demo_pid" 2>/dev/null; then
      cat "$dir/demo.log" >&2
      die "$fw: the demo exited before it was ready"
    fi
    sleep 0.1
  done
  cat "$dir/demo.log" >&2
  die "$fw: the demo was not ready after 30 s"
}
json() { # FILE KEY [KEY...]: one string from a JSON file
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"
}

# --- checks and runs -------------------------------------------------------------
# curl, verifying the demo's CA: status and HTTP version must be as expected.
check() { # FW PROTO(2|1.1) URL [HEADER]
  local fw="$1" proto="$2" url="$3" got
  local args=(-sS -o /dev/null -w '%{http_code} %{http_version}' --cacert "$state/ca.pem")
  if [ "$proto" = 2 ]; then args+=(--http2); else args+=(--http1.1); fi
  [ $# -ge 4 ] && args+=(-H "$4")
  got="$(curl "${args[@]}" "$url")" || die "$fw: curl failed on GET $url"
  [ "$got" = "200 $proto" ] || die "$fw: GET $url over HTTP/$proto: expected '200 $proto', got '$got'"
}

# One h2load run; prints its req/s. Fails unless every request succeeded with
# a 2xx over the expected protocol.
h2load_run() { # NAME PROTO(h2|h1) N URL [HEADER]
  local name="$1" proto="$2" n="$3" url="$4" out alpn want rps
  local args=(-n "$n" -c "$CONNECTIONS")
  if [ "$proto" = h2 ]; then
    args+=(-m "$STREAMS"); want=h2
  else
    args+=(--h1 -m 1); want=http/1.1
  fi
  [ $# -ge 5 ] && args+=(-H "$5")
  out="$(h2load "${args[@]}" "$url" 2>&1)" || { echo "$out" >&2; die "$name: h2load failed"; }
  alpn="$(awk -F': ' '/^Application protocol:/ {print $2; exit}' <<<"$out")"
  if [ "$alpn" != "$want" ]; then
    echo "$out" >&2
    die "$name: negotiated '$alpn', expected '$want'"
  fi
  # requests: N total, N started, N done, N succeeded, 0 failed, 0 errored, 0 timeout
  # status codes: N 2xx, 0 3xx, 0 4xx, 0 5xx
  if ! awk -v n="$n" '
      /^requests:/     { req = ($2 == n && $8 == n && $10 == 0 && $12 == 0 && $14 == 0) }
      /^status codes:/ { st = ($3 == n && $4 == "2xx,") }
      END { exit !(req && st) }' <<<"$out"; then
    grep -E '^(requests|status codes):' <<<"$out" >&2 || echo "$out" >&2
    die "$name: not every one of the $n requests succeeded with a 2xx"
  fi
  # finished in 1.42s, 14133.17 req/s, 1.66MB/s
  rps="$(awk '/^finished in/ { for (i = 2; i <= NF; i++) if ($i == "req/s,") print $(i - 1) }' <<<"$out")"
  [[ "$rps" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "$out" >&2; die "$name: no req/s in h2load's output"; }
  echo "$rps"
}

stats() { # VALUES...: "median min max"
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s %s %s\n", m, a[1], a[NR] }'
}

load_start="$(uptime)"
started=$(date +%s)
echo "h2load $(h2load --version | awk '{print $2}'), $(nproc) CPU(s);" \
  "-n $REQUESTS -c $CONNECTIONS, HTTP/2 -m $STREAMS, HTTP/1.1 -m 1;" \
  "warm-up -n $WARMUP_REQUESTS before each run; $ROUNDS round(s); RUST_LOG=${RUST_LOG:-<unset>}"
echo "load at start:$load_start"

runs=("healthz h2" "healthz h1" "api_key h2" "api_key h1")
declare -A med lo hi
for fw in $FRAMEWORKS; do
  dir="$work/$fw"
  start_demo "$fw" "$dir"
  state="$dir/state"
  https_addr="$(json "$dir/ready.json" https)"
  case "$https_addr" in
    127.0.0.1:*) ;;
    *) die "$fw: unexpected TLS address '$https_addr' (only 127.0.0.1 may be contacted)" ;;
  esac
  base="https://$https_addr"
  key="$(json "$state/credentials.json" api_keys main)"
  [ -n "$key" ] || die "$fw: no API key 'main' in credentials.json"
  keyhdr="x-api-key: $key"

  for p in 2 1.1; do
    check "$fw" "$p" "$base/healthz"
    check "$fw" "$p" "$base/v1/whoami" "$keyhdr"
  done
  echo "$fw: demo at $base (pid $demo_pid); curl: 200 over HTTP/2 and HTTP/1.1 on both routes"

  declare -A vals=()
  for round in $(seq "$ROUNDS"); do
    line="  round $round:"
    for r in "${runs[@]}"; do
      read -r route proto <<<"$r"
      hdr=()
      url="$base/healthz"
      if [ "$route" = api_key ]; then url="$base/v1/whoami"; hdr=("$keyhdr"); fi
      h2load_run "$fw $route $proto warm-up" "$proto" "$WARMUP_REQUESTS" "$url" "${hdr[@]}" >/dev/null
      # One assignment per run, so that set -e sees a failed run.
      rps="$(h2load_run "$fw $route $proto" "$proto" "$REQUESTS" "$url" "${hdr[@]}")"
      vals[$r]="${vals[$r]:-} $rps"
      line+="$(printf '  %s %s %8.0f' "$route" "$proto" "$rps")"
    done
    echo "$line"
  done
  for r in "${runs[@]}"; do
    # shellcheck disable=SC2086 # split on purpose
    read -r "med[$fw $r]" "lo[$fw $r]" "hi[$fw $r]" <<<"$(stats ${vals[$r]})"
  done
  unset vals

  stop_demo
  panics="$(grep -ci 'panick' "$dir/demo.log" || true)"
  [ "$panics" = 0 ] || { cat "$dir/demo.log" >&2; die "$fw: the demo log mentions a panic"; }
done
load_end="$(uptime)"

# --- report --------------------------------------------------------------------
echo
printf '%-10s %-9s %-9s %10s   %s\n' framework route protocol "req/s" "(min..max over $ROUNDS round(s))"
for fw in $FRAMEWORKS; do
  for r in "${runs[@]}"; do
    read -r route proto <<<"$r"
    shown_proto=HTTP/1.1
    [ "$proto" = h2 ] && shown_proto=HTTP/2
    printf '%-10s %-9s %-9s %10.0f   (%.0f..%.0f)\n' "$fw" "$route" "$shown_proto" \
      "${med[$fw $r]}" "${lo[$fw $r]}" "${hi[$fw $r]}"
  done
done
echo
printf '%-10s %14s %14s %20s %20s\n' framework "h2/h1 healthz" "h2/h1 api_key" "api_key/healthz h2" "api_key/healthz h1"
for fw in $FRAMEWORKS; do
  awk -v fw="$fw" -v hh2="${med[$fw healthz h2]}" -v hh1="${med[$fw healthz h1]}" \
    -v kh2="${med[$fw api_key h2]}" -v kh1="${med[$fw api_key h1]}" 'BEGIN {
      printf "%-10s %14.3f %14.3f %20.3f %20.3f\n", fw, hh2 / hh1, kh2 / kh1, kh2 / hh2, kh1 / hh1 }'
done
echo
echo "routes: healthz = GET /healthz; api_key = GET /v1/whoami with X-API-Key (main)"
echo "load at start:$load_start"
echo "load at end:  $load_end"
echo "measured in $(($(date +%s) - started)) s"
