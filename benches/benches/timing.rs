//! dudect-style timing checks (issue 8), with `dudect-bencher`.
//!
//! Each check times one operation on inputs drawn at random from two
//! classes, interleaved, and runs Welch's t-test on the two timing
//! distributions (whole and cropped at ~100 percentiles; the largest |t| is
//! printed as `max t`). |t| < 4.5 means no evidence of a timing difference
//! at this sample size; it does not prove there is none.
//!
//! Checks (names are quoted in benches/TIMING.md; keep them stable):
//!
//! - `api_key_right_vs_wrong`: `ApiKeys::verify` with a right key (Left)
//!   against a wrong one (Right): the same key id, a different secret of the
//!   same length, and a checksum that matches, so it gets past the format
//!   check to the keyed hash and the store lookup. There is no cache of
//!   verified API keys in auth-core (a key is looked up by its HMAC on every
//!   request); every key of the pool is verified once before timing, so its
//!   `last_used_at` is already written and the right class measures the read
//!   path, as a live key does between two writes (one a minute).
//! - `api_key_wrong_near_vs_far`: two refusals: a wrong secret that differs
//!   from the right one in its last character only (Left) against one whose
//!   first 42 characters are another fixed random string per key (Right),
//!   its last character random in both. This is the check for a comparison
//!   that leaks how much of the secret is right.
//! - `api_key_wrong_far_vs_far`: the A/A control of the previous check:
//!   built the same way, but neither class is close to the real secret. A
//!   |t| as large here as there says the difference is not about the secret.
//! - `basic_known_vs_unknown`: Basic through `Guard::check`, a wrong
//!   password for a known user (Left) against any password for an unknown
//!   user (Right), which is checked against the dummy hash: both are 401s.
//!   The users' hashes come from `hash_password` (argon2id with the
//!   argon2 crate's default parameters, as deployments make them). The
//!   verified-credential cache is off (`cache_ttl(0)`, and only successes
//!   are cached anyway) and the lockout limits are set out of reach, so every
//!   sample runs argon2 and the lockout counters are still counted for both
//!   classes alike.
//! - `basic_min_params_known_vs_unknown`: the same with user hashes made
//!   with the cheapest argon2id parameters the authenticator accepts
//!   (OWASP's minimum: m = 7 MiB, t = 5, p = 1). Smaller ones, which would
//!   have made the check faster, are refused at build. It asks whether the
//!   dummy hash costs what the users' hashes cost when they are not made
//!   with the default parameters.
//!
//! Run with `cargo bench -p auth-benches --bench timing` (under `nice -n 19`
//! on a shared machine); add `-- NAME` to run the checks whose name contains
//! NAME. Sample counts per check (both classes together) can be set with
//! `TIMING_SAMPLES_API_KEY`, `TIMING_SAMPLES_BASIC` and
//! `TIMING_SAMPLES_BASIC_MIN`.
//!
//! `dudect-bencher`'s own `ctbench_main!` parses its arguments with clap and
//! exits on the `--bench` that `cargo bench` passes, so this file has its own
//! `main`. Without `--bench` (that is, under `cargo test --benches`) every
//! check runs a handful of samples only, to show that it still works.

// Setup failures (a runtime that cannot start, a key that cannot be issued)
// leave nothing meaningful to measure, so the bench aborts with a message;
// clippy's `allow-expect-in-tests` does not cover bench targets.
#![allow(clippy::expect_used)]
// Indices here come from ranges bounded by the slice they index (the key
// format's fixed lengths, a pool's length, the two classes).
#![allow(clippy::indexing_slicing)]

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argon2::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use auth_core::api_key::{ApiKeys, CHECKSUM_LEN, Environment, NewKey, Pepper, SECRET_LEN, parse};
use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
use auth_core::{Guard, SimpleRequest};
use base64::Engine as _;
use dudect_bencher::ctbench::{BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::rand::RngExt;
use dudect_bencher::{BenchRng, Class, CtRunner};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Keys in the store; each sample picks one at random. Many, so that a
/// class's inputs are not a handful of strings whose own quirks (how their
/// characters fall through `parse`'s per-character branches) would show.
const KEY_POOL: usize = 4096;
/// Known (and unknown) Basic user names; each sample picks one at random.
const USER_POOL: usize = 8;
/// Lengths of the wrong passwords (the same for both classes) and of the
/// real ones (longer, so a wrong one is never right by chance).
const WRONG_PASSWORD_LEN: usize = 16;
const REAL_PASSWORD_LEN: usize = 24;

/// Set when `--bench` was passed: full sample counts.
static FULL: AtomicBool = AtomicBool::new(false);
/// Our own per-check summary lines, printed after dudect's.
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Samples for a check: from `var`, else `full` under `cargo bench`, else
/// `smoke` (test mode).
fn samples(var: &str, full: usize, smoke: usize) -> usize {
    if !FULL.load(Ordering::Relaxed) {
        return smoke;
    }
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(full)
}

/// `n` classes, half Left and half Right, in random order.
fn classes(n: usize, rng: &mut BenchRng) -> Vec<Class> {
    let mut out: Vec<Class> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                Class::Left
            } else {
                Class::Right
            }
        })
        .collect();
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    out
}

fn random_base62(len: usize, rng: &mut BenchRng) -> String {
    (0..len)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect()
}

/// The key format's checksum (CRC-32 as 6 base62 digits), as
/// `auth_core::api_key::format` computes it; every key built with it is
/// checked with `parse` before use.
fn checksum(body: &[u8]) -> String {
    let mut n = crc32fast::hash(body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

/// `key` with its secret replaced by `secret` and the checksum recomputed.
fn with_secret(key: &str, secret: &str) -> String {
    let body_len = key.len() - SECRET_LEN - CHECKSUM_LEN;
    let mut text = String::with_capacity(key.len());
    text.push_str(&key[..body_len]);
    text.push_str(secret);
    let sum = checksum(text.as_bytes());
    text.push_str(&sum);
    text
}

/// `key`'s secret with its last character changed.
fn near_secret(key: &str, rng: &mut BenchRng) -> String {
    let body_len = key.len() - SECRET_LEN - CHECKSUM_LEN;
    let secret = &key[body_len..body_len + SECRET_LEN];
    let (head, last) = secret.split_at(SECRET_LEN - 1);
    loop {
        let c = random_base62(1, rng);
        if c != last {
            return format!("{head}{c}");
        }
    }
}

/// Records each sample's time next to dudect's, to report means, medians
/// and the resolution of the run.
#[derive(Default)]
struct Recorder {
    times: RefCell<[Vec<u64>; 2]>,
}

impl Recorder {
    fn run<T>(&self, runner: &mut CtRunner, class: Class, f: impl Fn() -> T) {
        runner.run_one(class, || {
            let start = Instant::now();
            let out = black_box(f());
            let took = start.elapsed().as_nanos() as u64;
            self.times.borrow_mut()[class_index(class)].push(took);
            out
        });
    }

    /// Means, medians and Welch's t over all samples (uncropped), and the
    /// smallest difference of means that |t| = 4.5 would flag.
    fn note(&self, name: &str, unit: (&str, f64)) {
        let times = self.times.borrow();
        let stats = |v: &[u64]| {
            let n = v.len() as f64;
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
            let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let mut sorted = v.to_vec();
            sorted.sort_unstable();
            let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0) as f64;
            (n, mean, var, median)
        };
        let (n0, m0, v0, med0) = stats(&times[0]);
        let (n1, m1, v1, med1) = stats(&times[1]);
        let se = (v0 / n0 + v1 / n1).sqrt();
        let (u, div) = unit;
        NOTES.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
            "{name}: samples left {} + right {} = {}; mean {:.3} / {:.3} {u}, median {:.3} / {:.3} {u}; \
             uncropped Welch t = {:+.3}; 4.5 x SE = {:.3} {u} (smallest mean difference this run flags)",
            n0,
            n1,
            n0 + n1,
            m0 / div,
            m1 / div,
            med0 / div,
            med1 / div,
            (m0 - m1) / se,
            4.5 * se / div,
        ));
    }
}

fn class_index(class: Class) -> usize {
    match class {
        Class::Left => 0,
        Class::Right => 1,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A store of [`KEY_POOL`] live keys (16 in test mode), each verified once (so its
/// `last_used_at` is written before timing starts).
fn key_pool(rt: &tokio::runtime::Runtime) -> (ApiKeys, Vec<String>) {
    let keys = ApiKeys::in_memory(Pepper::generate());
    // Test mode (no `--bench`) needs a working check, not a large pool.
    let size = if FULL.load(Ordering::Relaxed) {
        KEY_POOL
    } else {
        16
    };
    let pool: Vec<String> = (0..size)
        .map(|_| {
            let (key, _) = rt
                .block_on(keys.issue(NewKey::new("owner", Environment::Live).scopes(["s"])))
                .expect("issue API key");
            key.expose().to_owned()
        })
        .collect();
    for key in &pool {
        rt.block_on(keys.verify(key.as_bytes()))
            .expect("issued key verifies");
    }
    (keys, pool)
}

/// Inputs laid out at a fixed stride in one buffer, so that every key
/// starts at the same offset within a cache line: keys allocated one by one
/// land where the allocator puts them, and how they were built (one clone,
/// or a few temporary strings) then differs by class and shows in the
/// timings (a key read across two or three cache lines).
struct Arena {
    bytes: Vec<u8>,
    slots: Vec<(Class, usize, usize)>,
}

/// Room for one key (74 bytes) and a cache line to spare.
const STRIDE: usize = 128;

impl Arena {
    fn new(inputs: impl IntoIterator<Item = (Class, String)>) -> Self {
        let mut bytes = Vec::new();
        let mut slots = Vec::new();
        for (class, text) in inputs {
            assert!(text.len() <= STRIDE, "a key fits its slot");
            let at = bytes.len();
            bytes.extend_from_slice(text.as_bytes());
            bytes.resize(at + STRIDE, 0);
            slots.push((class, at, text.len()));
        }
        Self { bytes, slots }
    }

    fn iter(&self) -> impl Iterator<Item = (Class, &[u8])> {
        self.slots
            .iter()
            .map(|&(class, at, len)| (class, &self.bytes[at..at + len]))
    }
}

/// Times `ApiKeys::verify` over `inputs`; `expect` says, per class, which
/// refusal reason is expected (`None`: accepted).
fn time_verify(
    runner: &mut CtRunner,
    rt: &tokio::runtime::Runtime,
    keys: &ApiKeys,
    inputs: &Arena,
    expect: [Option<&'static str>; 2],
    name: &str,
) {
    for (_, key) in inputs.iter() {
        assert!(
            parse(key, "ask").is_ok(),
            "every timed key is well formed, checksum included"
        );
    }
    let rec = Recorder::default();
    let outcome: Cell<Option<&'static str>> = Cell::new(None);
    let mut wrong = 0_usize;
    for (class, key) in inputs.iter() {
        rec.run(runner, class, || {
            let r = rt.block_on(keys.verify(key));
            outcome.set(r.as_ref().err().map(|e| e.reason()));
            r
        });
        if outcome.get() != expect[class_index(class)] {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 0, "{name}: every sample got its class's outcome");
    rec.note(name, ("ns", 1.0));
}

fn api_key_right_vs_wrong(runner: &mut CtRunner, rng: &mut BenchRng) {
    let rt = runtime();
    let (keys, pool) = key_pool(&rt);
    let n = samples("TIMING_SAMPLES_API_KEY", 1_000_000, 64);
    let inputs = Arena::new(classes(n, rng).into_iter().map(|class| {
        let key = &pool[rng.random_range(0..pool.len())];
        let text = match class {
            Class::Left => key.clone(),
            Class::Right => with_secret(key, &random_base62(SECRET_LEN, rng)),
        };
        (class, text)
    }));
    time_verify(
        runner,
        &rt,
        &keys,
        &inputs,
        [None, Some("unknown_api_key")],
        "api_key_right_vs_wrong",
    );
}

fn api_key_wrong_near_vs_far(runner: &mut CtRunner, rng: &mut BenchRng) {
    let rt = runtime();
    let (keys, pool) = key_pool(&rt);
    // The far class's secrets also start with 42 characters fixed per pool
    // key and end with a random one, so that both classes repeat their
    // inputs alike (a fresh random secret per sample would not: `parse`
    // checks each character with a branch, and repeated inputs train the
    // branch predictor; see TIMING.md). The classes then differ only in
    // whether those 42 characters are the real key's.
    let far_heads: Vec<String> = pool
        .iter()
        .map(|_| random_base62(SECRET_LEN - 1, rng))
        .collect();
    let n = samples("TIMING_SAMPLES_API_KEY", 1_000_000, 64);
    let inputs = Arena::new(classes(n, rng).into_iter().map(|class| {
        let i = rng.random_range(0..pool.len());
        let key = &pool[i];
        let secret = match class {
            Class::Left => near_secret(key, rng),
            Class::Right => format!("{}{}", far_heads[i], random_base62(1, rng)),
        };
        (class, with_secret(key, &secret))
    }));
    time_verify(
        runner,
        &rt,
        &keys,
        &inputs,
        [Some("unknown_api_key"), Some("unknown_api_key")],
        "api_key_wrong_near_vs_far",
    );
}

fn api_key_wrong_far_vs_far(runner: &mut CtRunner, rng: &mut BenchRng) {
    let rt = runtime();
    let (keys, pool) = key_pool(&rt);
    // The A/A control of `api_key_wrong_near_vs_far`: built the same way,
    // but neither class's 42 characters are the real key's. Whatever |t|
    // this shows comes from the inputs' content and the machine, not from
    // closeness to a secret.
    let heads: Vec<[String; 2]> = pool
        .iter()
        .map(|_| {
            [
                random_base62(SECRET_LEN - 1, rng),
                random_base62(SECRET_LEN - 1, rng),
            ]
        })
        .collect();
    let n = samples("TIMING_SAMPLES_API_KEY", 1_000_000, 64);
    let inputs = Arena::new(classes(n, rng).into_iter().map(|class| {
        let i = rng.random_range(0..pool.len());
        let head = &heads[i][class_index(class)];
        let secret = format!("{head}{}", random_base62(1, rng));
        (class, with_secret(&pool[i], &secret))
    }));
    time_verify(
        runner,
        &rt,
        &keys,
        &inputs,
        [Some("unknown_api_key"), Some("unknown_api_key")],
        "api_key_wrong_far_vs_far",
    );
}

/// A guard over [`USER_POOL`] users `user0001`…, hashed by `hash`, with the
/// verified-credential cache off and the lockout out of reach.
fn basic_guard(hash: impl Fn(&str) -> String, rng: &mut BenchRng) -> Guard {
    let users = (1..=USER_POOL).map(|i| {
        let password = random_base62(REAL_PASSWORD_LEN, rng);
        BasicUser::new(format!("user{i:04}"), hash(&password))
    });
    let basic = BasicAuthenticator::builder()
        .users(users)
        .cache_ttl(Duration::ZERO)
        // Never reached: usize::MAX failures per client, and the per-user
        // ceiling (ten times that) saturates.
        .lockout(usize::MAX, Duration::from_secs(3600))
        .build()
        .expect("Basic authenticator");
    Guard::builder(basic)
        .realm("timing")
        .build()
        .expect("Basic guard")
}

/// Times `Guard::check` with a wrong password for a known user (Left)
/// against an unknown user (Right), both of the same length.
fn time_basic(runner: &mut CtRunner, rng: &mut BenchRng, guard: &Guard, n: usize, name: &str) {
    let rt = runtime();
    let inputs: Vec<(Class, SimpleRequest)> = classes(n, rng)
        .into_iter()
        .map(|class| {
            let i = rng.random_range(1..=USER_POOL);
            // Both 8 characters: "user0003" is known, "nouser03" is not.
            let user = match class {
                Class::Left => format!("user{i:04}"),
                Class::Right => format!("nouser{i:02}"),
            };
            let password = random_base62(WRONG_PASSWORD_LEN, rng);
            let payload =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let req = SimpleRequest::get("/v1/reports")
                .tls(true)
                .header("authorization", format!("Basic {payload}"));
            (class, req)
        })
        .collect();
    let rec = Recorder::default();
    let status = Cell::new(0_u16);
    let mut wrong = 0_usize;
    for (class, req) in &inputs {
        rec.run(runner, *class, || {
            let r = rt.block_on(guard.check(req));
            status.set(r.as_ref().map_or_else(|e| e.status(), |_| 200));
            r
        });
        if status.get() != 401 {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 0, "{name}: every sample is a 401 (checked, refused)");
    rec.note(name, ("ms", 1e6));
}

fn basic_known_vs_unknown(runner: &mut CtRunner, rng: &mut BenchRng) {
    let guard = basic_guard(|pw| hash_password(pw).expect("hash password"), rng);
    let n = samples("TIMING_SAMPLES_BASIC", 4_000, 4);
    time_basic(runner, rng, &guard, n, "basic_known_vs_unknown");
}

fn basic_min_params_known_vs_unknown(runner: &mut CtRunner, rng: &mut BenchRng) {
    // OWASP's 7 MiB with 5 passes: the least work the authenticator accepts.
    let params = Params::new(7 * 1024, 5, 1, None).expect("argon2 params");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut salts = Vec::new();
    for _ in 0..USER_POOL {
        let mut salt = [0u8; 16];
        rng.fill(&mut salt);
        salts.push(salt);
    }
    let salts = RefCell::new(salts.into_iter());
    let guard = basic_guard(
        |pw| {
            let salt = salts.borrow_mut().next().expect("one salt per user");
            argon2
                .hash_password_with_salt(pw.as_bytes(), &salt)
                .expect("hash password")
                .to_string()
        },
        rng,
    );
    let n = samples("TIMING_SAMPLES_BASIC_MIN", 1_000, 4);
    time_basic(runner, rng, &guard, n, "basic_min_params_known_vs_unknown");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    FULL.store(args.iter().any(|a| a == "--bench"), Ordering::Relaxed);
    // The first argument that is not a flag filters the checks by name,
    // as with criterion.
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let opts = BenchOpts {
        filter,
        ..BenchOpts::default()
    };
    let bench = |name, benchfn| BenchMetadata {
        name: BenchName(name),
        seed: None,
        benchfn,
    };
    let benches = vec![
        bench("api_key_right_vs_wrong", api_key_right_vs_wrong),
        bench("api_key_wrong_near_vs_far", api_key_wrong_near_vs_far),
        bench("api_key_wrong_far_vs_far", api_key_wrong_far_vs_far),
        bench("basic_known_vs_unknown", basic_known_vs_unknown),
        bench(
            "basic_min_params_known_vs_unknown",
            basic_min_params_known_vs_unknown,
        ),
    ];
    if !FULL.load(Ordering::Relaxed) {
        println!("timing: test mode (no --bench): a few samples per check, t means nothing");
    }
    run_benches_console(opts, benches).expect("write results");
    for line in NOTES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        println!("{line}");
    }
}
