#!/usr/bin/env bash
# cargo deny over the workspace, with deny.toml:
#   - bans, licenses, sources: always; any failure fails the script;
#   - advisories: needs the RustSec advisory database, a git repository on
#     GitHub. When it can be fetched, the check runs and its failures count.
#     When it cannot (a machine that reaches package registries only), what
#     happens depends on DENY_ADVISORIES:
#       require       the script fails (the default under CI=true);
#       if-reachable  the script prints a loud SKIPPED block and goes on
#                     (the default elsewhere).
#     A copy already fetched into $CARGO_HOME/advisory-dbs is used, stale,
#     with its date printed, when a new fetch fails.
# Installs cargo-deny (cargo install cargo-deny --locked) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo deny --version >/dev/null 2>&1; then
  echo "scripts/deny.sh: installing cargo-deny (cargo install cargo-deny --locked)" >&2
  cargo install cargo-deny --locked
fi
cargo deny --version

mode="${DENY_ADVISORIES:-}"
if [ -z "$mode" ]; then
  if [ "${CI:-}" = true ]; then mode=require; else mode=if-reachable; fi
fi
case "$mode" in
  require | if-reachable) ;;
  *)
    echo "scripts/deny.sh: DENY_ADVISORIES must be 'require' or 'if-reachable', not '$mode'" >&2
    exit 2
    ;;
esac

status=0
cargo deny --locked check bans licenses sources || status=1

loud() {
  echo "=========================================================================="
  for line in "$@"; do echo "$line"; done
  echo "=========================================================================="
}

dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
fetch_log="$(mktemp)"
trap 'rm -f "$fetch_log"' EXIT
if timeout 300 cargo deny --locked fetch db >"$fetch_log" 2>&1; then
  cargo deny --locked check advisories || status=1
else
  why=""
  for pattern in 'Could not resolve host: [^ ]*' 'fatal: .*' 'ERROR\] .*'; do
    why="$(grep -m1 -o "$pattern" "$fetch_log" || true)"
    [ -n "$why" ] && break
  done
  why="${why:-cargo deny fetch db failed}"
  local_db="$(find "$dbs" -mindepth 2 -maxdepth 2 -name crates -type d 2>/dev/null | head -n1 || true)"
  if [ -n "$local_db" ]; then
    db_dir="$(dirname "$local_db")"
    fetched="$(git -C "$db_dir" log -1 --format=%cd --date=short 2>/dev/null || stat -c %y "$db_dir" | cut -d' ' -f1)"
    loud "STALE: cargo deny check advisories runs against the copy in $db_dir," \
      "last updated $fetched: the RustSec advisory database could not be fetched ($why)." \
      "Advisories published since then are NOT checked."
    cargo deny --locked --offline check advisories || status=1
  elif [ "$mode" = require ]; then
    loud "FAILED: cargo deny check advisories could not run: the RustSec advisory" \
      "database (github.com/RustSec/advisory-db) could not be fetched ($why)," \
      "and DENY_ADVISORIES=require (the default under CI=true)." \
      "Known vulnerabilities, unsound, unmaintained and yanked crates were NOT checked."
    status=1
  else
    loud "SKIPPED: cargo deny check advisories -- the RustSec advisory database" \
      "(github.com/RustSec/advisory-db) could not be fetched ($why)." \
      "Checked: bans licenses sources. NOT checked: known vulnerabilities," \
      "unsound, unmaintained and yanked crates (DENY_ADVISORIES=if-reachable)."
  fi
fi

if [ "$status" -ne 0 ]; then
  echo "scripts/deny.sh: FAILED (see above)" >&2
fi
exit "$status"
