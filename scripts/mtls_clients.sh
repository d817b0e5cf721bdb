#!/usr/bin/env bash
# mTLS against a running auth-demo with clients nobody here wrote: curl
# (--cert/--key/--cacert) and openssl s_client.
#   scripts/mtls_clients.sh STATE_DIR HTTPS_PORT
# Exits non-zero at the first check that fails; prints "ok: ..." at the end.
set -euo pipefail
S=$1
PORT=$2
CURL=${CURL:-curl}
OPENSSL=${OPENSSL:-openssl}
URL=https://localhost:$PORT
fail() { echo "FAIL: $*" >&2; exit 1; }

code() { # cert path -> HTTP status ("000" when the handshake fails)
  local cert=$1 path=$2
  local args=(--silent --output /dev/null --write-out '%{http_code}' --cacert "$S/ca.pem")
  [ -n "$cert" ] && args+=(--cert "$S/$cert.pem" --key "$S/$cert.key")
  "$CURL" "${args[@]}" "$URL$path" || true
}

[ "$(code billing /v1/service)" = 200 ] || fail "curl billing /v1/service"
[ "$(code reporting /v1/service)" = 403 ] || fail "curl reporting /v1/service"
[ "$(code '' /v1/service)" = 401 ] || fail "curl without a certificate /v1/service"
for c in untrusted expired revoked; do
  [ "$(code $c /v1/whoami)" = 000 ] || fail "curl $c: the handshake must fail"
done
body=$("$CURL" --silent --cacert "$S/ca.pem" --cert "$S/billing.pem" --key "$S/billing.key" "$URL/v1/whoami")
case $body in *'"subject":"spiffe://demo.local/billing"'*) ;; *) fail "curl whoami: $body" ;; esac

# openssl s_client: the server asks for a certificate from the demo CA, and
# accepts billing's; a revoked one gets an alert.
out=$(printf 'GET /v1/service HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
  "$OPENSSL" s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile "$S/ca.pem" \
    -cert "$S/billing.pem" -key "$S/billing.key" -ign_eof 2>&1) || true
case $out in *"Verify return code: 0 (ok)"*) ;; *) fail "s_client: server certificate not verified" ;; esac
case $out in *"Acceptable client certificate CA names"*"auth-stack demo CA"*) ;; *) fail "s_client: no request for a client certificate from the demo CA" ;; esac
case $out in *"HTTP/1.1 200"*) ;; *) fail "s_client billing: no 200" ;; esac
out=$(printf 'GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
  "$OPENSSL" s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile "$S/ca.pem" \
    -cert "$S/revoked.pem" -key "$S/revoked.key" -ign_eof 2>&1) || true
case $out in *"HTTP/1.1 200"*) fail "s_client revoked: got in" ;; esac
case $out in *alert*|*error*) ;; *) fail "s_client revoked: no alert" ;; esac
echo "ok: all mTLS checks passed"
