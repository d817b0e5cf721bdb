#!/usr/bin/env python3
"""OAuth 2.0 clients nobody here wrote, against a running auth-demo.

    oauth_clients.py authlib STATE_DIR HTTP_BASE HTTPS_BASE
        Authlib: authorization code with PKCE (the confidential client and
        the public one), logging in with Basic on the TLS listener; client
        credentials; refresh with rotation and reuse detection. The tokens
        must open the resource routes, and stop opening them when revoked.

    oauth_clients.py browser STATE_DIR HTTP_BASE HTTPS_BASE
        Headless Chromium (Selenium, Debian's chromium and chromedriver)
        on the login-and-consent page: a wrong password is refused on the
        page, the right one sends the browser to the client's loopback
        redirect URI with a code, which Authlib redeems.

Every check is an assert; the exit status tells the Rust test
(tests/tests/oauth_clients.rs) whether all held. Prints one JSON line of
what it saw.
"""

import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

MODE, STATE, HTTP, HTTPS = sys.argv[1:5]
CA = os.path.join(STATE, "ca.pem")
with open(os.path.join(STATE, "credentials.json"), encoding="utf-8") as f:
    CREDS = json.load(f)
CLIENTS = CREDS["oauth_clients"]
ALICE = CREDS["basic_users"]["alice"]["password"]
BOB = CREDS["basic_users"]["bob"]["password"]
SEEN = {}


def resource(base, token, path="/v1/reports"):
    r = requests.get(
        base + path, headers={"Authorization": f"Bearer {token}"}, verify=CA, timeout=10
    )
    return r.status_code, (r.json() if r.headers.get("content-type", "").startswith("application/json") else None)


def code_flow(name, user, password, scope, redeem_twice=False):
    """Authorization code with PKCE through Authlib; Basic login on TLS."""
    c = CLIENTS[name]
    kwargs = {}
    if c.get("client_secret"):
        kwargs["client_secret"] = c["client_secret"]
    else:
        kwargs["token_endpoint_auth_method"] = "none"
    s = OAuth2Session(
        c["client_id"],
        scope=scope,
        redirect_uri=c["redirect_uri"],
        code_challenge_method="S256",
        **kwargs,
    )
    s.verify = CA
    verifier = generate_token(64)
    url, state = s.create_authorization_url(HTTPS + "/oauth/authorize", code_verifier=verifier)
    r = requests.get(url, auth=(user, password), verify=CA, allow_redirects=False, timeout=10)
    assert r.status_code == 302, (r.status_code, r.text)
    location = r.headers["location"]
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert location.startswith(c["redirect_uri"] + "?"), location
    assert q["state"] == state, "state comes back"
    assert q["iss"] == CREDS["issuer"], "RFC 9207 iss"
    token = s.fetch_token(
        HTTPS + "/oauth/token", authorization_response=location, code_verifier=verifier, verify=CA
    )
    if not redeem_twice:
        return s, token, None
    # A second redemption of the same code is refused and revokes the first.
    again = requests.post(
        HTTPS + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": q["code"],
            "redirect_uri": c["redirect_uri"],
            "code_verifier": verifier,
            "client_id": c["client_id"],
            **({"client_secret": c["client_secret"]} if c.get("client_secret") else {}),
        },
        verify=CA,
        timeout=10,
    )
    return s, token, again


def authlib():
    # Confidential client, alice: reports:read and reports:write.
    s, token, _ = code_flow("confidential", "alice", ALICE, "reports:read reports:write")
    assert token["token_type"].lower() == "bearer"
    assert set(token["scope"].split()) == {"reports:read", "reports:write"}, token["scope"]
    status, body = resource(HTTPS, token["access_token"])
    assert status == 200 and body["subject"] == "alice", (status, body)
    SEEN["code_flow"] = status

    # Refresh: rotated; the new access token works.
    first_refresh = token["refresh_token"]
    new = s.refresh_token(HTTPS + "/oauth/token", refresh_token=first_refresh, verify=CA)
    assert new["refresh_token"] != first_refresh, "rotated"
    status, _ = resource(HTTP, new["access_token"])
    assert status == 200, status
    # The spent refresh token again: refused, and the family is revoked.
    reuse = requests.post(
        HTTPS + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(CLIENTS["confidential"]["client_id"], CLIENTS["confidential"]["client_secret"]),
        verify=CA,
        timeout=10,
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text
    assert reuse.headers["cache-control"] == "no-store"
    status, _ = resource(HTTP, new["access_token"])
    assert status == 401, f"a revoked family's access token is refused, got {status}"
    status, _ = resource(HTTP, token["access_token"])
    assert status == 401, status
    SEEN["refresh_reuse"] = reuse.json()["error"]

    # A code redeemed twice: the first redemption's token stops working.
    _, token, again = code_flow("confidential", "alice", ALICE, "reports:read", redeem_twice=True)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    status, _ = resource(HTTP, token["access_token"])
    assert status == 401, status
    SEEN["code_reuse"] = status

    # The public client, bob: only reports:read, whatever it asks for.
    _, token, _ = code_flow("public", "bob", BOB, "reports:read reports:write")
    assert token["scope"] == "reports:read", token["scope"]
    assert resource(HTTP, token["access_token"])[0] == 200
    status, _ = resource(HTTP, token["access_token"], "/v1/admin")
    assert status == 403, status
    SEEN["public"] = token["scope"]

    # Client credentials, JWT and opaque (checked by introspection).
    for name in ("service", "opaque"):
        c = CLIENTS[name]
        s = OAuth2Session(c["client_id"], c["client_secret"], scope="reports:read")
        s.verify = CA
        token = s.fetch_token(HTTPS + "/oauth/token", grant_type="client_credentials", verify=CA)
        status, body = resource(HTTP, token["access_token"])
        assert status == 200 and body["subject"] == c["client_id"], (name, status, body)
        SEEN[name] = status
        # Revoked (RFC 7009 through Authlib): refused at the resource.
        s.revoke_token(HTTPS + "/oauth/revoke", token["access_token"], verify=CA)
        if name == "service":
            status, _ = resource(HTTP, token["access_token"])
            assert status == 401, status

    # A wrong password for a scripted login: 401 with a Basic challenge.
    c = CLIENTS["confidential"]
    s = OAuth2Session(c["client_id"], c["client_secret"], redirect_uri=c["redirect_uri"], code_challenge_method="S256")
    url, _ = s.create_authorization_url(HTTPS + "/oauth/authorize", code_verifier=generate_token(64))
    r = requests.get(url, auth=("alice", "wrong"), verify=CA, allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic "), r.status_code
    assert "location" not in r.headers


class Callback(http.server.BaseHTTPRequestHandler):
    """The client's loopback redirect URI (RFC 8252): records the query."""

    query = None

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/cb":  # not the browser's /favicon.ico
            Callback.query = dict(urllib.parse.parse_qsl(url.query))
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"signed in")

    def log_message(self, *args):
        pass


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cb = http.server.HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=cb.serve_forever, daemon=True).start()
    # Any port on the registered loopback redirect URI.
    c = CLIENTS["public"]
    redirect = c["redirect_uri"].replace(":9999/", f":{cb.server_port}/")
    s = OAuth2Session(
        c["client_id"],
        scope="reports:read",
        redirect_uri=redirect,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(64)
    url, state = s.create_authorization_url(HTTP + "/oauth/authorize", code_verifier=verifier)

    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(options=opts, service=service)
    try:
        d.set_page_load_timeout(20)
        d.get(url)
        assert "Sign in" in d.title, d.title
        # Nothing but the page itself was loaded.
        loaded = d.execute_script("return performance.getEntriesByType('resource').length")
        assert loaded == 0, loaded
        d.find_element(By.NAME, "username").send_keys("bob")
        d.find_element(By.NAME, "password").send_keys("not-" + BOB)
        d.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        # The click starts a navigation; wait for the answer page.
        alerts = WebDriverWait(d, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]")
        )
        alert = alerts[0].text
        assert "Wrong user name or password" in alert, alert
        assert Callback.query is None
        d.find_element(By.NAME, "username").send_keys("bob")
        d.find_element(By.NAME, "password").send_keys(BOB)
        d.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        for _ in range(100):
            if Callback.query is not None and d.current_url.startswith(redirect):
                break
            time.sleep(0.1)
        assert Callback.query is not None, d.current_url
        # The browser itself was sent to the client's redirect URI.
        assert d.current_url.startswith(redirect + "?"), d.current_url
    finally:
        d.quit()
        cb.shutdown()
    q = Callback.query
    assert q["state"] == state and q["iss"] == CREDS["issuer"], q
    location = redirect + "?" + urllib.parse.urlencode(q)
    token = s.fetch_token(HTTPS + "/oauth/token", authorization_response=location, code_verifier=verifier, verify=CA)
    status, body = resource(HTTP, token["access_token"], "/v1/whoami")
    assert status == 200 and body["subject"] == "bob", (status, body)
    SEEN["browser"] = body["subject"]


if __name__ == "__main__":
    {"authlib": authlib, "browser": browser}[MODE]()
    print(json.dumps(SEEN))
