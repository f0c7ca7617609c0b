//! What to do with one due fire: pure, so the misfire rules are tested
//! without a store or a clock.

use canvas_domain::schedule::Schedule;
use canvas_domain::time::Timestamp;
use canvas_store::model::{NewRun, RunTrigger};
use canvas_store::{DueSchedule, FirePlan};
use std::time::Duration;

/// The run for `due`'s fire and the fire after it. A fire at most
/// `misfire_threshold` late runs, and the schedule goes on from it (a
/// slightly late scheduler catches up fire by fire); a later one is a
/// misfire: one run now stands for it and every fire missed since, and the
/// schedule goes on from `now`. A schedule that no longer parses is stopped.
pub fn plan(due: &DueSchedule, now: Timestamp, misfire_threshold: Duration) -> FirePlan {
    let schedule = due
        .frequency
        .as_deref()
        .map(|raw| Schedule::parse_frequency(raw, now));
    let Some(Ok(schedule)) = schedule else {
        tracing::warn!(workflow = %due.workflow_id, "a stored schedule no longer parses; it is stopped");
        return FirePlan {
            workflow_id: due.workflow_id,
            fire: due.fire,
            next: None,
            run: None,
        };
    };
    let late = (now - due.fire).to_std().unwrap_or(Duration::ZERO);
    let from = if late > misfire_threshold {
        now
    } else {
        due.fire
    };
    FirePlan {
        workflow_id: due.workflow_id,
        fire: due.fire,
        next: schedule.next_after(from),
        run: Some(NewRun {
            id: uuid::Uuid::new_v4(),
            workflow_id: due.workflow_id,
            trigger: RunTrigger::Schedule,
            run_from: 1,
            run_till: due.blocks.max(1),
            date_queued: now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn due(cron: &str, fire: Timestamp) -> DueSchedule {
        DueSchedule {
            workflow_id: uuid::Uuid::new_v4(),
            fire,
            frequency: Some(format!(r#"{{"cronSchedule":"{cron}"}}"#)),
            blocks: 2,
        }
    }

    fn at(h: u32, m: u32, s: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 3, 29, h, m, s).unwrap()
    }

    #[test]
    fn an_on_time_fire_runs_and_the_schedule_goes_on_from_it() {
        let p = plan(
            &due("0 * * ? * *", at(1, 0, 0)),
            at(1, 0, 0) + chrono::Duration::milliseconds(3),
            Duration::from_secs(1),
        );
        assert_eq!(p.next, Some(at(1, 1, 0)));
        let run = p.run.unwrap();
        assert_eq!(
            (run.trigger, run.run_from, run.run_till),
            (RunTrigger::Schedule, 1, 2)
        );
    }

    #[test]
    fn a_slightly_late_fire_catches_up_fire_by_fire() {
        let p = plan(
            &due("* * * ? * *", at(1, 0, 0)),
            at(1, 0, 0) + chrono::Duration::milliseconds(900),
            Duration::from_secs(1),
        );
        assert_eq!(p.next, Some(at(1, 0, 1)), "the next second still fires");
    }

    #[test]
    fn fires_missed_beyond_the_threshold_coalesce_into_one_run() {
        let p = plan(
            &due("* * * ? * *", at(1, 0, 0)),
            at(1, 5, 30),
            Duration::from_secs(1),
        );
        assert!(p.run.is_some(), "one run for all of them");
        assert_eq!(p.next, Some(at(1, 5, 31)), "the schedule goes on from now");
    }

    #[test]
    fn a_schedule_that_no_longer_parses_stops_without_a_run() {
        let mut d = due("0 * * ? * *", at(1, 0, 0));
        d.frequency = Some("not json".into());
        let p = plan(&d, at(1, 0, 0), Duration::from_secs(1));
        assert!(p.run.is_none() && p.next.is_none());
    }
}
