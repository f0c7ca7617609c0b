//! View fragments the console's pages share: a status told by mark and
//! word, instants relative with the exact one in a tooltip, cut text.

use canvas_domain::time::{Timestamp, format_rfc3339};
use canvas_store::WorkflowHealth;
use canvas_store::model::{Run, RunStatus};
use maud::{Markup, html};

pub fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "(deleted workflow)"
    } else {
        name
    }
}

/// Status as a word and a mark, never colour alone; with how long it took.
pub fn status(r: &Run) -> Markup {
    let (mark, class) = mark(r.status);
    let took = r
        .date_started
        .zip(r.date_finished)
        .map(|(a, b)| seconds(b - a));
    html! {
        span class=(format!("status {class}")) { (mark) " " (r.status.name())
            @if let Some(took) = took { " after " (took) } }
    }
}

/// A duration as people read it: "85 ms", "3.2 s", "4 min 10 s", "2 h 5 min".
pub fn seconds(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// "3 min ago" (or "in 3 min"), the exact instant in the tooltip.
pub fn when(t: &Timestamp, now: Timestamp) -> Markup {
    let seconds = (now - *t).num_seconds();
    let span = match seconds.unsigned_abs() {
        s @ 0..60 => format!("{s} s"),
        s @ 60..3600 => format!("{} min", s / 60),
        s @ 3600..86400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86400),
    };
    let text = match seconds < 0 {
        true => format!("in {span}"),
        false => format!("{span} ago"),
    };
    html! { time datetime=(format_rfc3339(t)) title=(format_rfc3339(t)) { (text) } }
}

pub fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// A status's mark and its CSS class: the mark tells statuses apart
/// without colour.
pub fn mark(s: RunStatus) -> (&'static str, &'static str) {
    match s {
        RunStatus::Queued => ("◌", "queued"),
        RunStatus::Running => ("▶", "running"),
        RunStatus::Succeeded => ("✓", "succeeded"),
        RunStatus::Failed => ("✗", "failed"),
        RunStatus::Cancelled => ("■", "cancelled"),
    }
}

/// A workflow's last runs as a strip of marks (newest first), and its
/// failures in the last 24 hours.
pub fn health(h: &WorkflowHealth) -> Markup {
    html! {
        span.health title="The last runs, newest first" {
            @for s in &h.recent { span class=(format!("status {}", mark(*s).1)) title=(s.name()) { (mark(*s).0) } }
            @if h.recent.is_empty() { span.note { "never run" } }
        }
        " "
        @match h.failed_since {
            0 => span.note { "no failure in 24 h" },
            n => span.failures { (n) " failed in 24 h" },
        }
    }
}
