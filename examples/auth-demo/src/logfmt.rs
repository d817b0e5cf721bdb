//! The demo's log line: `2026-11-29T03:41:44.123Z INFO auth_core::decision: method=jwt subject=user-42 outcome=allow path=/v1/reports`.
//!
//! One line per event, written straight into the line buffer (no Debug
//! escaping of plain values, no span walk): the decision line is on every
//! request's path. Control characters in values are escaped, so a value
//! cannot forge a line.

use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The demo's event format.
pub struct DemoFormat;

impl<S, N> FormatEvent<S, N> for DemoFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write_timestamp(&mut writer)?;
        let meta = event.metadata();
        write!(writer, " {} {}:", meta.level(), meta.target())?;
        let mut visitor = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_char('\n')
    }
}

struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: std::fmt::Result,
}

impl Fields<'_, '_> {
    fn value(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if field.name() == "message" {
                self.writer.write_char(' ')?;
            } else {
                write!(self.writer, " {}=", field.name())?;
            }
            if value
                .chars()
                .any(|c| c.is_control() || c == ' ' || c == '"')
            {
                write!(self.writer, "{value:?}")
            } else {
                self.writer.write_str(value)
            }
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.value(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            // Messages are prose: no quoting.
            if self.result.is_ok() {
                self.result = write!(self.writer, " {text}");
            }
        } else {
            self.value(field, &text);
        }
    }
}

/// RFC 3339 UTC with milliseconds, computed from the Unix time (civil-from-days).
fn write_timestamp(w: &mut Writer<'_>) -> std::fmt::Result {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    write!(
        w,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_rfc3339() {
        let mut s = String::new();
        write_timestamp(&mut Writer::new(&mut s)).unwrap();
        // e.g. 2026-11-29T03:41:44.123Z
        assert_eq!(s.len(), 24, "{s}");
        assert_eq!(&s[4..5], "-");
        assert_eq!(&s[10..11], "T");
        assert!(s.ends_with('Z'));
        let year: i32 = s[..4].parse().unwrap();
        assert!(year >= 2024);
    }
}
