//! The log's filter: the operator's level (`log_level`, or `CANVAS_LOG`),
//! with the client libraries that print credentials at their most verbose
//! levels held quieter whatever is asked — suppaftp writes the FTP `PASS`
//! command at `trace`.

use tracing_subscriber::EnvFilter;

/// Held at `info`: their `debug`/`trace` lines can carry a password.
const QUIET: [&str; 4] = ["suppaftp", "russh", "russh_sftp", "lettre"];

/// `spec` (an EnvFilter directive list) with the credential printers held
/// quiet: a directive naming one of them (or a module of one, which would
/// outrank the crate's own) is dropped, and so are span directives
/// (`[span]=trace`), which enable every target inside the span.
pub fn filter(spec: &str) -> EnvFilter {
    let kept: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|d| !d.contains('[') && !names_quiet_crate(d))
        .collect();
    QUIET
        .iter()
        .fold(EnvFilter::new(kept.join(",")), |filter, quiet| {
            filter.add_directive(format!("{quiet}=info").parse().expect("a valid directive"))
        })
}

fn names_quiet_crate(directive: &str) -> bool {
    let target = directive.split('=').next().unwrap_or_default().trim();
    QUIET
        .iter()
        .any(|c| target == *c || target.starts_with(&format!("{c}::")))
}

/// The filter from `CANVAS_LOG`, else from `log_level`.
pub fn from_env_or(log_level: &str) -> EnvFilter {
    filter(&std::env::var("CANVAS_LOG").unwrap_or_else(|_| log_level.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_trace_log_keeps_ftp_passwords_out_even_when_asked_for_suppaftp_trace() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(
                "trace,suppaftp=trace,suppaftp::async_ftp::tokio_ftp::control=trace,russh=trace,[run]=trace",
            ))
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "suppaftp::async_ftp", "CMD PASS s3cret");
            tracing::trace!(target: "suppaftp::async_ftp::tokio_ftp::control", "CC OUT: PASS s3cret");
            let span = tracing::info_span!("run");
            span.in_scope(|| tracing::trace!(target: "suppaftp::async_ftp", "PASS s3cret"));
            tracing::debug!(target: "russh::client", "password s3cret");
            tracing::trace!(target: "canvas_engine", "a trace line of our own");
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!log.contains("s3cret"), "{log}");
        assert!(log.contains("a trace line of our own"), "{log}");
    }
}
