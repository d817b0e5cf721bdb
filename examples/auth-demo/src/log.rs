//! The demo's log: tracing-subscriber's `fmt` output, one line per event, e.g.
//! `2026-11-29T03:41:44.123456Z  INFO auth_core::decision: method="jwt" subject="user-42" outcome="allow" path="/v1/reports"`.
//!
//! [`subscriber`] is the whole setup; the binary hands it tracing-appender's
//! non-blocking stderr writer. The one piece that is not stock is
//! [`EscapedFields`], so that a logged value can forge neither a line nor a
//! field.

use std::fmt::{self, Write as _};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;

/// The demo's subscriber: `fmt` lines without colours, fields written by
/// [`EscapedFields`], events passing `filter`, written to `writer`.
pub fn subscriber<W>(writer: W, filter: EnvFilter) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .fmt_fields(EscapedFields)
        .with_writer(writer)
        .finish()
}

/// Writes fields as `fmt`'s default does (the message bare, then
/// `name=value`, strings Debug-quoted), except that control characters are
/// escaped everywhere, and any other value holding a control character, a
/// space or a quote is Debug-quoted.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> MakeVisitor<Writer<'w>> for EscapedFields {
    type Visitor = FieldWriter<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> FieldWriter<'w> {
        FieldWriter {
            writer,
            result: Ok(()),
            first: true,
        }
    }
}

/// [`EscapedFields`] writing one event's (or span's) fields.
#[derive(Debug)]
pub struct FieldWriter<'w> {
    writer: Writer<'w>,
    result: fmt::Result,
    first: bool,
}

impl FieldWriter<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        // `log.*` fields carry a `log` record's metadata, which `fmt` writes itself.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = match field.name() {
            "message" => self.writer.write_str(sep),
            name => write!(self.writer, "{sep}{name}="),
        }
        .and_then(|()| EscapeControls(&mut self.writer).write_fmt(value));
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            return self.write(field, format_args!("{value:?}"));
        }
        let text = format!("{value:?}");
        let plain = !text.is_empty()
            && !text
                .chars()
                .any(|c| needs_escape(c) || c.is_whitespace() || c == '"');
        if plain {
            self.write(field, format_args!("{text}"));
        } else {
            self.write(field, format_args!("{text:?}"));
        }
    }
}

impl VisitOutput<fmt::Result> for FieldWriter<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for FieldWriter<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Passes text through, each control character written as its Rust escape
/// (`\n`, `\r`, `\u{1b}`, ...).
struct EscapeControls<'a, W>(&'a mut W);

/// Control characters, and the bidirectional formatting characters that
/// can make a line read otherwise than it is written (Trojan Source).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

impl<W: fmt::Write> fmt::Write for EscapeControls<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive(needs_escape) {
            let mut chars = piece.chars();
            match chars.next_back() {
                Some(c) if needs_escape(c) => {
                    self.0.write_str(chars.as_str())?;
                    write!(self.0, "{}", c.escape_debug())?;
                }
                _ => self.0.write_str(piece)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// An output that can be read back after the subscriber wrote to it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the demo's subscriber writes while `f` runs, filtered by `filter`.
    fn capture_with(filter: &str, f: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = subscriber(move || writer.clone(), EnvFilter::new(filter));
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    fn capture(f: impl FnOnce()) -> String {
        capture_with("trace", f)
    }

    /// Each line without its timestamp (up to the first space).
    fn without_stamps(text: &str) -> Vec<&str> {
        text.lines()
            .map(|l| l.split_once(' ').unwrap().1.trim_start())
            .collect()
    }

    #[test]
    fn one_line_per_decision_with_its_fields() {
        let text = capture(|| {
            tracing::info!(
                target: "auth_core::decision",
                method = "jwt",
                subject = "user-42",
                outcome = "allow",
                path = "/v1/reports",
            );
            tracing::info!(
                target: "auth_core::decision",
                outcome = "deny",
                scheme = "bearer",
                kind = "invalid_token",
                reason = "expired",
                status = 401u16,
                subject = None::<&str>,
                path = "/v1/admin",
            );
        });
        assert!(text.ends_with('\n'), "{text}");
        assert_eq!(
            without_stamps(&text),
            [
                r#"INFO auth_core::decision: method="jwt" subject="user-42" outcome="allow" path="/v1/reports""#,
                r#"INFO auth_core::decision: outcome="deny" scheme="bearer" kind="invalid_token" reason="expired" status=401 path="/v1/admin""#,
            ]
        );
        // An RFC 3339 UTC timestamp starts each line.
        for line in text.lines() {
            let stamp = line.split(' ').next().unwrap();
            assert!(stamp.ends_with('Z') && &stamp[10..11] == "T", "{line}");
        }
    }

    #[test]
    fn values_cannot_forge_lines_or_fields() {
        struct Shouty;
        impl fmt::Display for Shouty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a\r\nINFO auth_core::decision: outcome=\"allow\"")
            }
        }
        let text = capture(|| {
            tracing::info!(
                target: "auth_core::decision",
                subject = "eve\nINFO forged=1",
                reason = "\x1b[31mred\r",
                path = "/a b",
                shown = %Shouty,
                plain = %"no-quotes-needed",
                empty = %"",
                list = ?["x y"],
                "a message\nwith a newline and \x1b[2J",
            );
        });
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text}");
        assert_eq!(
            without_stamps(&text),
            [concat!(
                r#"INFO auth_core::decision: a message\nwith a newline and \u{1b}[2J"#,
                r#" subject="eve\nINFO forged=1" reason="\u{1b}[31mred\r" path="/a b""#,
                r#" shown="a\r\nINFO auth_core::decision: outcome=\"allow\"""#,
                r#" plain=no-quotes-needed empty="" list="[\"x y\"]""#,
            )]
        );
    }

    #[test]
    fn bidi_controls_are_escaped_everywhere() {
        let rlo = '\u{202E}';
        let text = capture(|| {
            tracing::info!(
                target: "auth_core::decision",
                subject = "admin\u{202E}nimda",
                shown = %format_args!("x{rlo}y"),
                "deny \u{2066}allow\u{2069}",
            );
        });
        for c in ['\u{202E}', '\u{2066}', '\u{2069}'] {
            assert!(!text.contains(c), "{text:?}");
        }
        assert_eq!(
            without_stamps(&text),
            [concat!(
                r#"INFO auth_core::decision: deny \u{2066}allow\u{2069}"#,
                r#" subject="admin\u{202e}nimda" shown="x\u{202e}y""#,
            )]
        );
    }

    /// tracing-core does not dispatch an event from inside another's
    /// dispatch: the inner one is dropped, and nothing deadlocks.
    #[test]
    fn an_event_logged_while_formatting_one_is_dropped_not_deadlocked() {
        struct Noisy;
        impl fmt::Debug for Noisy {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                tracing::info!("from inside Debug");
                f.write_str("noisy")
            }
        }
        let text = capture(|| {
            tracing::info!(value = ?Noisy, "outer");
            tracing::info!("after");
        });
        assert_eq!(
            without_stamps(&text),
            [
                "INFO auth_demo::log::tests: outer value=noisy",
                "INFO auth_demo::log::tests: after"
            ]
        );
    }

    #[test]
    fn the_filter_decides_what_is_written() {
        let text = capture_with("info", || {
            tracing::debug!(target: "auth_core::decision", outcome = "anonymous");
            tracing::info!(target: "auth_core::decision", outcome = "deny");
        });
        assert_eq!(
            without_stamps(&text),
            [r#"INFO auth_core::decision: outcome="deny""#]
        );
    }
}
