//! The demo's log: one line per event, e.g.
//! `2026-11-29T03:41:44.123Z INFO auth_core::decision: method=jwt subject=user-42 outcome=allow path=/v1/reports`.
//!
//! The decision line is on every request's path, so writing it must cost a
//! request next to nothing. [`LineLayer`] is a `tracing-subscriber` layer
//! that formats each event straight into its own thread's buffer in a
//! [`LogSink`]: the request thread takes only its own lock (uncontended), makes
//! no syscall, and allocates only when its buffer grows. A writer thread
//! ([`LogSink::spawn_writer`]) drains every thread's buffer up to a hundred
//! times a second and writes one batch, merged back into timestamp order.
//!
//! Values holding a control character, a space or a quote are written
//! Debug-quoted, so a value can neither forge a line nor a field.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// A thread's unwritten lines beyond this are written by the thread itself
/// (backpressure when the output is slower than the log).
const MAX_PENDING: usize = 4 << 20;

/// Where the log lines go: one buffer per thread, drained by [`LogSink::flush`].
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

struct Shared {
    /// Tells this sink's buffers apart in a thread's list.
    id: usize,
    threads: Mutex<Vec<Arc<Mutex<ThreadBuf>>>>,
    out: Mutex<Box<dyn Write + Send>>,
}

/// One thread's lines, and its cached timestamp prefix.
struct ThreadBuf {
    batch: Batch,
    /// A drained batch handed back by the writer, so that the next one
    /// fills memory that is already mapped.
    spare: Batch,
    stamp_secs: u64,
    /// `YYYY-MM-DDTHH:MM:SS.` for `stamp_secs`.
    stamp: [u8; 20],
}

impl ThreadBuf {
    fn new() -> Self {
        Self {
            batch: Batch {
                lines: Vec::with_capacity(64 * 1024),
                runs: Vec::with_capacity(1024),
            },
            spare: Batch::default(),
            stamp_secs: u64::MAX,
            stamp: [0; 20],
        }
    }
}

/// Lines in time order, and where each new millisecond starts: the writer
/// merges threads run by run, without looking into the lines.
#[derive(Default)]
struct Batch {
    lines: Vec<u8>,
    /// (Unix time in ms, offset in `lines`) of each run of lines stamped
    /// with the same millisecond.
    runs: Vec<(u64, usize)>,
}

impl Batch {
    fn clear(&mut self) {
        self.lines.clear();
        self.runs.clear();
    }

    /// Each run: its millisecond and its lines.
    fn runs(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.runs.iter().enumerate().map(|(i, (ms, start))| {
            let end = self.runs.get(i + 1).map_or(self.lines.len(), |r| r.1);
            (*ms, self.lines.get(*start..end).unwrap_or_default())
        })
    }
}

thread_local! {
    /// This thread's buffer in each sink it has written to.
    static MINE: RefCell<Vec<(usize, Arc<Mutex<ThreadBuf>>)>> = const { RefCell::new(Vec::new()) };
    /// Set while this thread writes an event: an event logged from inside
    /// a field's `Debug` is dropped rather than deadlock on the buffer.
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LogSink {
    /// A sink writing to `out`.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        Self {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                threads: Mutex::new(Vec::new()),
                out: Mutex::new(Box::new(out)),
            }),
        }
    }

    /// Starts the thread that drains the sink: every 10 ms while lines keep
    /// coming, so that each thread's buffer stays small enough to stay in
    /// cache, and every 100 ms when the log is quiet. It ends when every
    /// other handle on the sink is gone.
    pub fn spawn_writer(&self) -> std::io::Result<()> {
        const BUSY: Duration = Duration::from_millis(10);
        const QUIET: Duration = Duration::from_millis(100);
        let sink: Weak<Shared> = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("auth-demo-log".to_owned())
            .spawn(move || {
                let mut merged = Vec::new();
                let mut interval = QUIET;
                loop {
                    std::thread::sleep(interval);
                    let Some(shared) = sink.upgrade() else { break };
                    let wrote = LogSink { shared }.drain(&mut merged);
                    interval = if wrote > 0 { BUSY } else { QUIET };
                }
            })
            .map(drop)
    }

    /// Writes every buffered line, oldest first, and flushes the output.
    pub fn flush(&self) {
        self.drain(&mut Vec::new());
    }

    /// [`flush`](Self::flush), merging in `merged` (kept between calls, so
    /// that its memory is reused); the number of bytes written.
    fn drain(&self, merged: &mut Vec<u8>) -> usize {
        let threads = {
            let mut threads = lock(&self.shared.threads);
            // A thread that has ended left only our handle on its buffer:
            // drain it this once, then forget it.
            let all = threads.clone();
            threads.retain(|t| Arc::strong_count(t) > 2);
            all
        };
        let mut batches: Vec<(&Arc<Mutex<ThreadBuf>>, Batch)> = threads
            .iter()
            .filter_map(|t| {
                let mut buf = lock(t);
                if buf.batch.lines.is_empty() {
                    return None;
                }
                let spare = std::mem::take(&mut buf.spare);
                Some((t, std::mem::replace(&mut buf.batch, spare)))
            })
            .collect();
        let wrote = batches.iter().map(|(_, b)| b.lines.len()).sum();
        {
            let mut out = lock(&self.shared.out);
            if let [(_, one)] = batches.as_slice() {
                let _ = out.write_all(&one.lines);
            } else if !batches.is_empty() {
                let each: Vec<&Batch> = batches.iter().map(|(_, b)| b).collect();
                merge_by_time(&each, merged);
                let _ = out.write_all(merged);
                merged.clear();
            }
            let _ = out.flush();
        }
        for (t, batch) in &mut batches {
            batch.clear();
            let mut buf = lock(t);
            if buf.spare.lines.capacity() == 0 {
                buf.spare = std::mem::take(batch);
            }
        }
        wrote
    }

    /// Runs `f` on this thread's buffer, creating it on first use.
    fn with_buffer(&self, f: impl FnOnce(&mut ThreadBuf)) {
        let id = self.shared.id;
        MINE.with(|mine| {
            {
                let mine = mine.borrow();
                if let Some((_, buf)) = mine.iter().find(|(i, _)| *i == id) {
                    self.write_into(buf, f);
                    return;
                }
            }
            let buf = Arc::new(Mutex::new(ThreadBuf::new()));
            lock(&self.shared.threads).push(Arc::clone(&buf));
            mine.borrow_mut().push((id, Arc::clone(&buf)));
            self.write_into(&buf, f);
        });
    }

    fn write_into(&self, buf: &Mutex<ThreadBuf>, f: impl FnOnce(&mut ThreadBuf)) {
        let mut buf = lock(buf);
        f(&mut buf);
        if buf.batch.lines.len() > MAX_PENDING {
            let mut out = lock(&self.shared.out);
            let _ = out.write_all(&buf.batch.lines);
            buf.batch.clear();
        }
    }
}

/// Interleaves per-thread batches (each in time order) millisecond by
/// millisecond; within one millisecond, one thread's lines come before the
/// next thread's.
fn merge_by_time(batches: &[&Batch], merged: &mut Vec<u8>) {
    let mut heads: Vec<_> = batches.iter().map(|b| b.runs().peekable()).collect();
    merged.reserve(batches.iter().map(|b| b.lines.len()).sum());
    loop {
        let next = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(i, h)| h.peek().map(|(ms, _)| (*ms, i)))
            .min();
        let Some((_, i)) = next else { break };
        if let Some((_, lines)) = heads.get_mut(i).and_then(Iterator::next) {
            merged.extend_from_slice(lines);
        }
    }
}

/// The layer that writes each event as one line into a [`LogSink`].
pub struct LineLayer {
    sink: LogSink,
}

impl LineLayer {
    /// A layer writing into `sink`.
    pub fn new(sink: LogSink) -> Self {
        Self { sink }
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if WRITING.replace(true) {
            return;
        }
        let _reset = ResetWriting;
        self.sink.with_buffer(|buf| buf.write_event(event));
    }
}

/// Clears [`WRITING`], also when a field's `Debug` panics.
struct ResetWriting;

impl Drop for ResetWriting {
    fn drop(&mut self) {
        WRITING.set(false);
    }
}

impl ThreadBuf {
    fn write_event(&mut self, event: &Event<'_>) {
        self.write_timestamp(SystemTime::now());
        let meta = event.metadata();
        let lines = &mut self.batch.lines;
        lines.push(b' ');
        lines.extend_from_slice(meta.level().as_str().as_bytes());
        lines.push(b' ');
        lines.extend_from_slice(meta.target().as_bytes());
        lines.push(b':');
        event.record(&mut Fields(lines));
        lines.push(b'\n');
    }

    /// RFC 3339 UTC with milliseconds; the part up to the second is
    /// formatted once per second.
    fn write_timestamp(&mut self, now: SystemTime) {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = now.as_secs();
        let ms = now.subsec_millis();
        let batch = &mut self.batch;
        let unix_ms = secs * 1000 + u64::from(ms);
        if batch.runs.last().is_none_or(|(last, _)| *last != unix_ms) {
            batch.runs.push((unix_ms, batch.lines.len()));
        }
        if secs != self.stamp_secs {
            self.stamp = stamp_prefix(secs);
            self.stamp_secs = secs;
        }
        batch.lines.extend_from_slice(&self.stamp);
        // subsec_millis() < 1000, so each digit fits in a u8.
        for digit in [ms / 100, ms / 10 % 10, ms % 10] {
            batch.lines.push(b'0' + u8::try_from(digit).unwrap_or(0));
        }
        batch.lines.push(b'Z');
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` for a Unix time (Howard Hinnant's days-to-civil).
fn stamp_prefix(secs: u64) -> [u8; 20] {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    );
    let mut out = [b'?'; 20];
    for (o, b) in out.iter_mut().zip(text.bytes()) {
        *o = b;
    }
    out
}

/// Writes an event's fields as ` name=value`, the message bare.
struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(b' ');
        if field.name() != "message" {
            self.0.extend_from_slice(field.name().as_bytes());
            self.0.push(b'=');
        }
    }

    fn value(&mut self, value: &str) {
        if needs_quoting(value) {
            let _ = write!(self.0, "{value:?}");
        } else {
            self.0.extend_from_slice(value.as_bytes());
        }
    }
}

/// Whether a value must be Debug-quoted: it holds a control character, a
/// space or a quote (or is empty, which would read as a missing value).
fn needs_quoting(value: &str) -> bool {
    // The common case, plain printable ASCII, is decided bytewise.
    let plain_ascii = value
        .bytes()
        .fold(true, |ok, b| ok & (b > b' ') & (b < 0x7f) & (b != b'"'));
    if plain_ascii {
        return value.is_empty();
    }
    value.is_empty()
        || value
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '"')
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        self.value(value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.0
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        let start = self.0.len();
        let _ = write!(self.0, "{value:?}");
        if field.name() == "message" {
            // Prose: written as is, but it still cannot start a new line.
            if self.0.get(start..).is_some_and(|m| m.contains(&b'\n')) {
                let text = String::from_utf8_lossy(self.0.split_off(start).as_slice()).into_owned();
                let _ = write!(self.0, "{text:?}");
            }
            return;
        }
        // Formatted in place; quoted after the fact only if it must be.
        let written = std::str::from_utf8(self.0.get(start..).unwrap_or_default())
            .map(needs_quoting)
            .unwrap_or(true);
        if written {
            let text = String::from_utf8_lossy(self.0.split_off(start).as_slice()).into_owned();
            let _ = write!(self.0, "{text:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `YYYY-MM-DDTHH:MM:SS.` + 3 digits + `Z`.
    const STAMP_LEN: usize = 24;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// An output that can be read back after the sink wrote to it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).clone()).unwrap()
        }
    }

    fn capture(f: impl FnOnce()) -> String {
        let out = Captured::default();
        let sink = LogSink::new(out.clone());
        let subscriber = tracing_subscriber::registry().with(LineLayer::new(sink.clone()));
        tracing::subscriber::with_default(subscriber, f);
        assert!(out.text().is_empty(), "nothing is written before a flush");
        sink.flush();
        out.text()
    }

    #[test]
    fn a_decision_is_one_plain_line() {
        let text = capture(|| {
            tracing::info!(
                target: "auth_core::decision",
                method = "jwt",
                subject = "user-42",
                outcome = "allow",
                path = "/v1/reports",
            );
        });
        let (stamp, rest) = text.split_at(STAMP_LEN);
        assert_eq!(
            rest,
            " INFO auth_core::decision: method=jwt subject=user-42 outcome=allow path=/v1/reports\n"
        );
        assert_eq!(&stamp[4..5], "-");
        assert_eq!(&stamp[10..11], "T");
        assert_eq!(&stamp[19..20], ".");
        assert!(stamp.ends_with('Z'), "{stamp}");
    }

    #[test]
    fn values_cannot_forge_lines_or_fields() {
        let text = capture(|| {
            tracing::warn!(
                target: "auth_core::decision",
                subject = "eve\nINFO forged=1",
                path = "/a b",
                quote = "say\"hi",
                empty = "",
                wide = "zoë",
                status = 401u64,
                debug = ?"x y",
                "a message\nwith a newline",
            );
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(
            text.get(STAMP_LEN..).unwrap(),
            concat!(
                " WARN auth_core::decision: \"a message\\nwith a newline\"",
                " subject=\"eve\\nINFO forged=1\" path=\"/a b\"",
                " quote=\"say\\\"hi\" empty=\"\" wide=zoë status=401 debug=\"\\\"x y\\\"\"\n"
            )
        );
    }

    #[test]
    fn an_event_logged_while_formatting_one_is_dropped_not_deadlocked() {
        struct Noisy;
        impl std::fmt::Debug for Noisy {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                tracing::info!("from inside Debug");
                f.write_str("noisy")
            }
        }
        let text = capture(|| {
            tracing::info!(value = ?Noisy, "outer");
            tracing::info!("after");
        });
        let lines: Vec<_> = text.lines().map(|l| &l[STAMP_LEN..]).collect();
        assert_eq!(
            lines,
            [
                " INFO auth_demo::log::tests: outer value=noisy",
                " INFO auth_demo::log::tests: after"
            ]
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let mut buf = ThreadBuf::new();
        // 2026-11-29T03:41:44.007Z, then a later second and a leap day.
        for (secs, ms, want) in [
            (1_795_923_704, 7, "2026-11-29T03:41:44.007Z"),
            (1_795_923_705, 999, "2026-11-29T03:41:45.999Z"),
            (1_709_164_800, 0, "2024-02-29T00:00:00.000Z"),
        ] {
            buf.batch.clear();
            buf.write_timestamp(UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms));
            assert_eq!(String::from_utf8_lossy(&buf.batch.lines), want);
        }
    }

    #[test]
    fn threads_are_merged_in_time_order() {
        let batch = |lines: &[(u64, &str)]| {
            let mut b = ThreadBuf::new();
            for (ms, text) in lines {
                b.write_timestamp(UNIX_EPOCH + Duration::from_millis(*ms));
                b.batch
                    .lines
                    .extend_from_slice(format!(" {text}\n").as_bytes());
            }
            b.batch
        };
        let t0 = 1_795_923_704_000;
        let a = batch(&[(t0 + 1, "a1"), (t0 + 1, "a2"), (t0 + 5, "a3")]);
        let b = batch(&[(t0 + 2, "b1"), (t0 + 9, "b2")]);
        let c = batch(&[(t0 + 1, "c1"), (t0 + 7, "c2")]);
        assert_eq!(a.runs.len(), 2, "one run per millisecond");
        let mut merged = Vec::new();
        merge_by_time(&[&a, &b, &c], &mut merged);
        let merged = String::from_utf8(merged).unwrap();
        let order: Vec<_> = merged
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(order, ["a1", "a2", "c1", "b1", "a3", "c2", "b2"]);
    }

    #[test]
    fn lines_from_many_threads_all_arrive_once() {
        let out = Captured::default();
        let sink = LogSink::new(out.clone());
        let layer = Arc::new(tracing_subscriber::registry().with(LineLayer::new(sink.clone())));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let subscriber = Arc::clone(&layer);
                std::thread::spawn(move || {
                    tracing::subscriber::with_default(subscriber, || {
                        for i in 0..500 {
                            tracing::info!(thread = t, i = i, "line");
                        }
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        sink.flush();
        let text = out.text();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            for i in [0, 250, 499] {
                let want = format!(" line thread={t} i={i}");
                assert_eq!(text.matches(&format!("{want}\n")).count(), 1, "{want}");
            }
        }
        // The ended threads' buffers were drained and forgotten.
        assert!(lock(&sink.shared.threads).is_empty());
        let stamps: Vec<_> = text.lines().map(|l| &l[..STAMP_LEN]).collect();
        assert!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "merged in time order"
        );
    }
}
