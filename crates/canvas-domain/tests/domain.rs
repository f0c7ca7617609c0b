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

/// The day the ground truth was computed on: Quartz bounds year steps by it.
fn ground_truth_day() -> chrono::DateTime<chrono::Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

#[test]
fn every_quartz_ground_truth_case_matches() {
    let raw = include_str!("data/quartz-public.json");
    let truth: GroundTruth = serde_json::from_str(raw).unwrap();
    let mut failures = Vec::new();
    for case in &truth.cases {
        let tz: chrono_tz::Tz = case.tz.parse().unwrap();
        let got = CronExpr::parse(&case.expr, ground_truth_day())
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
        let s = Schedule::parse_frequency(
            &format!(r#"{{"cronSchedule":"0 30 2 * * ?","timeZone":"{tz}"}}"#),
            ground_truth_day(),
        )
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

/// ARCHITECTURE.md: the domain does no I/O and reads no clock — instants
/// are passed in. Its sources name none of the ways to do either, except
/// `time.rs`'s `SystemClock`, the one clock the others are handed.
#[test]
fn the_domain_does_no_io_and_reads_the_clock_only_in_its_system_clock() {
    let forbidden = [
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "std::fs",
        "TcpStream",
        "UdpSocket",
        "ToSocketAddrs",
        "std::process",
        "std::env",
        "tokio",
    ];
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let allowed = path.ends_with("time.rs").then_some("Utc::now");
        for word in forbidden.iter().filter(|w| Some(**w) != allowed) {
            if text.contains(word) {
                found.push(format!("{}: {word}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
