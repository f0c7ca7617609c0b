//! Domain behaviour checked against outside ground truth.

use canvas_domain::cron::CronExpr;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    expr: String,
    tz: String,
    after: Option<DateTime<Utc>>,
    valid: bool,
    #[serde(default)]
    next: Vec<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct GroundTruth {
    cases: Vec<Case>,
}

#[test]
fn every_quartz_ground_truth_case_matches() {
    let raw = include_str!("data/quartz-public.json");
    let truth: GroundTruth = serde_json::from_str(raw).unwrap();
    let mut failures = Vec::new();
    for case in &truth.cases {
        let tz: chrono_tz::Tz = case.tz.parse().unwrap();
        let got = CronExpr::parse(&case.expr)
            .map(|e| e.next_n(case.after.unwrap_or_default(), tz, case.next.len().max(5)));
        let ok = match (&got, case.valid) {
            (Ok(times), true) => *times == case.next,
            (Err(_), false) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{:?} {} after {:?}: want {:?} got {:?}",
                case.expr,
                case.tz,
                case.after,
                if case.valid {
                    Ok(&case.next)
                } else {
                    Err("invalid")
                },
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        truth.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_daily_0230_schedule_follows_quartz_through_daylight_saving_days() {
    use canvas_domain::schedule::Schedule;
    let next = |tz: &str, after: &str| {
        let s = Schedule::parse_frequency(&format!(
            r#"{{"cronSchedule":"0 30 2 * * ?","timeZone":"{tz}"}}"#
        ))
        .unwrap();
        let after: chrono::DateTime<chrono::Utc> = after.parse().unwrap();
        s.next_after(after).unwrap().to_rfc3339()
    };
    // Spring forward: no 02:30 that night, no fire that day (as Quartz).
    assert_eq!(
        next("Europe/Oslo", "2026-03-28T12:00:00Z"),
        "2026-03-30T00:30:00+00:00"
    );
    assert_eq!(
        next("America/New_York", "2026-03-07T12:00:00Z"),
        "2026-03-09T06:30:00+00:00"
    );
    // Fall back: one fire, at the second 02:30 in Oslo; New York's 02:30 is plain EST.
    assert_eq!(
        next("Europe/Oslo", "2026-10-24T12:00:00Z"),
        "2026-10-25T01:30:00+00:00"
    );
    assert_eq!(
        next("Europe/Oslo", "2026-10-25T01:30:00Z"),
        "2026-10-26T01:30:00+00:00"
    );
    assert_eq!(
        next("America/New_York", "2026-10-31T12:00:00Z"),
        "2026-11-01T07:30:00+00:00"
    );
}
