#!/usr/bin/env python3
"""Mints a token for the auth-stack demo with PyJWT, a client nobody here wrote.

usage: mint_token.py STATE_DIR es256|rs256|hs256|none [--scope S] [--typ T] [--exp-in SECONDS]

Prints the token. `none` makes PyJWT's unsigned (alg=none) token, which the
demo must refuse.
"""
import argparse
import base64
import json
import os
import time
import uuid

import jwt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("state_dir")
    p.add_argument("kind", choices=["es256", "rs256", "hs256", "none"])
    p.add_argument("--scope", default="reports:read")
    p.add_argument("--typ", default=None)
    p.add_argument("--exp-in", type=int, default=600)
    a = p.parse_args()

    creds = json.load(open(os.path.join(a.state_dir, "credentials.json")))
    jwt_conf = creds["jwt"]
    now = int(time.time())
    claims = {
        "iss": creds["issuer"],
        "aud": jwt_conf["audience"],
        "sub": "pyjwt-user",
        "client_id": "pyjwt-client",
        "iat": now,
        "exp": now + a.exp_in,
        "jti": str(uuid.uuid4()),
        "scope": a.scope,
    }
    if a.kind in ("es256", "rs256"):
        key_conf = jwt_conf[a.kind]
        key = open(os.path.join(a.state_dir, key_conf["private_key"])).read()
        headers = {"kid": key_conf["kid"], "typ": a.typ or "at+jwt"}
        token = jwt.encode(claims, key, algorithm=a.kind.upper(), headers=headers)
    elif a.kind == "hs256":
        internal = jwt_conf["internal_hs256"]
        secret = internal["secret_b64url"]
        secret = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        claims["iss"] = internal["issuer"]
        token = jwt.encode(claims, secret, algorithm="HS256", headers={"typ": a.typ or "JWT"})
    else:
        token = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
    print(token)


if __name__ == "__main__":
    main()
