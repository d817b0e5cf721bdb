//! Every parser on the request path, fed random and mutated input: none may
//! panic, and every refusal is a 4xx. (A seeded stand-in for fuzz targets:
//! cargo-fuzz needs a nightly toolchain, which this project does not assume.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::{AnyOf, Credential, Guard, Secret, SimpleRequest};
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..6) {
        match rng.random_range(0..5) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            1 => {
                let i = rng.random_range(0..=v.len());
                let specials = b"._-:=+/ %\"\\\x00\xff";
                v.insert(i, specials[rng.random_range(0..specials.len())]);
            }
            2 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v.truncate(i);
            }
            3 => v.extend_from_slice(seed),
            _ => v.push(rng.random()),
        }
    }
    v
}

#[tokio::test]
async fn no_input_makes_a_parser_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("o", Environment::Live))
        .await
        .unwrap();
    let basic = BasicAuthenticator::builder()
        .user(BasicUser::new("alice", hash_password("pw").unwrap()))
        .build()
        .unwrap();
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("i")
                .audience("a")
                .key(
                    JwtKey::hmac(&Secret::new(vec![1; 32]), jsonwebtoken::Algorithm::HS256)
                        .unwrap(),
                )
                .token_types(["JWT"]),
        )
        .build()
        .unwrap();
    let guard = Guard::builder(
        AnyOf::new()
            .or(ApiKeyAuthenticator::new(keys))
            .or(basic)
            .or(jwt),
    )
    .realm("r")
    .build()
    .unwrap();

    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt_seed = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"HS256","typ":"JWT","kid":"k"}"#),
        b64(r#"{"iss":"i","aud":"a","sub":"s","exp":4102444800}"#)
    );
    let seeds: Vec<Vec<u8>> = vec![
        format!("Bearer {}", key.expose()).into_bytes(),
        format!("Bearer {jwt_seed}").into_bytes(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:wrong")
        )
        .into_bytes(),
        b"Basic !!!".to_vec(),
        b"Digest a=b".to_vec(),
        Vec::new(),
    ];
    let mut refused = 0;
    for round in 0..6000 {
        let seed = &seeds[round % seeds.len()];
        let value = mutate(&mut rng, seed);
        let target = if round % 7 == 0 {
            format!(
                "/x?{}",
                String::from_utf8_lossy(&mutate(&mut rng, b"api_key=1&a=b"))
            )
        } else {
            "/x".to_owned()
        };
        let mut req = SimpleRequest::get(&target)
            .tls(round % 2 == 0)
            .header("authorization", &value);
        if round % 11 == 0 {
            req = req.header("x-api-key", mutate(&mut rng, key.expose().as_bytes()));
        }
        let _ = Credential::from_head(&req, &["authorization", "x-api-key", "x-other"]);
        if let Err(rejection) = guard.check(&req).await {
            assert!(
                (400..500).contains(&rejection.status()),
                "status {} for {:?}",
                rejection.status(),
                String::from_utf8_lossy(&value)
            );
            refused += 1;
        }
    }
    assert!(refused > 5000, "most random inputs are refused ({refused})");
}
