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
