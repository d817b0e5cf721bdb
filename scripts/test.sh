#!/usr/bin/env bash
# Runs every test of auth-stack. Installs what the tests need when it is
# missing (curl, openssl, python3-venv, chromium, chromium-driver,
# redis-server, redis-tools: Debian packages; PyJWT, grpcio, Authlib,
# requests and Selenium into .venv),
# then runs:
#   - every unit, integration and doc test of the workspace (the conformance
#     suite starts the demo on axum and on actix-web, over HTTP and TLS);
#   - every criterion benchmark once, in test mode, so they keep working.
# Under CI=true no test may skip for a missing tool: a missing tool fails.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# Headless Chromium drives the OAuth login page (tests/tests/oauth_clients.rs).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The Redis stores' tests, the two-process demo test and the Redis bench
# start their own redis-server instances (standalone and a three-node
# cluster) on free loopback ports; redis-cli creates the cluster.
{ command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; } || need+=(redis-server redis-tools)
if [ "${#need[@]}" -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

# Clients nobody here wrote: PyJWT mints tokens, grpcio (with grpcio-tools
# for the stubs) calls the gRPC example, Authlib runs the OAuth grants and
# Selenium drives Chromium on the login page; Schemathesis fuzzes the demo
# from its OpenAPI document.
if ! .venv/bin/python -c 'import jwt, cryptography, grpc, grpc_tools, authlib, requests, selenium, schemathesis' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing PyJWT, grpcio, Authlib, Selenium and Schemathesis into .venv" >&2
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check \
    'pyjwt[crypto]>=2.8,<3' 'grpcio>=1.60,<2' 'grpcio-tools>=1.60,<2' \
    'authlib>=1.3,<2' 'requests>=2.31,<3' 'selenium>=4.15,<5' \
    'schemathesis>=4.30,<5'
fi

cargo test --workspace --locked
cargo test -p auth-benches --benches --locked
