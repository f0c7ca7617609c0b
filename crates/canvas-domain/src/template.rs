//! Variable templates, evaluated once per run: `{date:<.NET custom format>}`,
//! `{runId}`, `{workflowName}`. Anything else is kept as written.

use crate::time::Timestamp;
use chrono::{Datelike, Timelike};
use serde_json::Value;
use std::fmt::Write;

pub struct TemplateContext<'a> {
    pub now: Timestamp,
    pub run_id: &'a str,
    pub workflow_name: &'a str,
}

/// Renders every string inside `value` (arrays and objects included).
pub fn render_value(value: &Value, ctx: &TemplateContext<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(render(s, ctx)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, ctx)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, ctx)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn render(text: &str, ctx: &TemplateContext<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let token = &after[..end];
        match token {
            "runId" => out.push_str(ctx.run_id),
            "workflowName" => out.push_str(ctx.workflow_name),
            t if t.starts_with("date:") => out.push_str(&format_net_date(&ctx.now, &t[5..])),
            _ => {
                out.push('{');
                out.push_str(token);
                out.push('}');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A .NET custom date format: yyyy, yy, MM, M, dd, d, HH, H, mm, ss, fff;
/// text in single quotes and every other character are kept.
pub fn format_net_date(t: &Timestamp, format: &str) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let close = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .map_or(chars.len(), |p| i + 1 + p);
            out.extend(&chars[i + 1..close.min(chars.len())]);
            i = close + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let _ = match (c, run) {
            ('y', 4..) => write!(out, "{:04}", t.year()),
            ('y', _) => write!(out, "{:02}", t.year() % 100),
            ('M', 1) => write!(out, "{}", t.month()),
            ('M', _) => write!(out, "{:02}", t.month()),
            ('d', 1) => write!(out, "{}", t.day()),
            ('d', _) => write!(out, "{:02}", t.day()),
            ('H', 1) => write!(out, "{}", t.hour()),
            ('H', _) => write!(out, "{:02}", t.hour()),
            ('m', _) => write!(out, "{:02}", t.minute()),
            ('s', _) => write!(out, "{:02}", t.second()),
            ('f', _) => write!(out, "{:03}", t.timestamp_subsec_millis()),
            _ => write!(out, "{}", chars[i..i + run].iter().collect::<String>()),
        };
        i += run;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn templates_render_dates_run_ids_and_names() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 7, 9, 5, 4).unwrap()
            + chrono::Duration::milliseconds(42);
        let ctx = TemplateContext {
            now,
            run_id: "r-1",
            workflow_name: "Export",
        };
        assert_eq!(
            render("NY_Employees_{date:yyyy-MM-dd-HH-mm}", &ctx),
            "NY_Employees_2026-03-07-09-05"
        );
        assert_eq!(
            render("{date:yy M d H:mm:ss.fff}", &ctx),
            "26 3 7 9:05:04.042"
        );
        assert_eq!(
            render("{workflowName}-{runId}-{unknown}", &ctx),
            "Export-r-1-{unknown}"
        );
        assert_eq!(render("{date:'Week' yyyy}", &ctx), "Week 2026");
        assert_eq!(render("open {brace", &ctx), "open {brace");
    }
}
