#!/usr/bin/env bash
# How much of the distance between an authenticated route and /healthz is
# the authentication, and how much is the route's own answer.
#
# Builds the demo as it is (A) and the demo with scripts/load_floor.patch
# applied in a throwaway worktree (B: GET /v1/reports answers the same
# identity JSON with no authentication layer), then runs
# scripts/load_ab.sh A B. A's ratios are the ones issue 7 targets; B's are
# the ceiling for them, what a check costing nothing would give; A's
# throughput against B's on the same route is what the layer and the check
# cost. B answers every /v1/reports request with 200, credentials or not.
# A is built from the working tree, B from HEAD with the patch.
#
# usage: scripts/load_floor.sh
# env:   passed on to load_ab.sh: PIN (default 1 here), FRAMEWORK, ROUNDS,
#        DURATION, CONNECTIONS; CARGO_TARGET_DIR ($HOME/.cache/auth-stack/target)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auth-stack/target}"
export PIN="${PIN:-1}"

# Both builds share the target directory, where cargo keeps one fingerprint
# per package whichever checkout built it, and trusts file times: B's build
# makes this checkout's (older) sources look built. So touch them before A
# is built and again on the way out, or the next build here would reuse B's.
touch_sources() {
  find auth-core/src auth-tower/src auth-actix/src examples/auth-demo/src \
    -name '*.rs' -exec touch {} +
}

work="$(mktemp -d)"
tree="$work/floor"
cleanup() {
  touch_sources
  git worktree remove --force "$tree" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

touch_sources
cargo build --release --locked -p auth-demo
cp "$CARGO_TARGET_DIR/release/auth-demo" "$work/demo-as-is"

git worktree add --quiet --detach "$tree" HEAD
git -C "$tree" apply "$PWD/scripts/load_floor.patch"
(cd "$tree" && cargo build --release --locked -p auth-demo)
cp "$CARGO_TARGET_DIR/release/auth-demo" "$work/demo-floor"

echo "A: the demo as it is; B: /v1/reports with no authentication (the floor)"
./scripts/load_ab.sh "$work/demo-as-is" "$work/demo-floor"
