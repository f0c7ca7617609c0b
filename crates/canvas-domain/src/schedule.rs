//! `scheduleFrequency`: a JSON string `{"cronSchedule": "...", "timeZone": "..."}`.

use crate::cron::CronExpr;
use crate::time::Timestamp;
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub cron: CronExpr,
    pub tz: Tz,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error(
        "scheduleFrequency: is not a JSON object string ({0}); expected e.g. {{\"cronSchedule\":\"0 0/5 * ? * * *\"}}"
    )]
    NotJson(String),
    #[error("scheduleFrequency.cronSchedule: is required")]
    MissingCron,
    #[error("scheduleFrequency.cronSchedule: must be a string")]
    CronNotString,
    #[error("scheduleFrequency.cronSchedule: invalid Quartz cron expression '{expr}': {reason}")]
    BadCron { expr: String, reason: String },
    #[error(
        "scheduleFrequency.timeZone: unknown time zone '{0}'; expected an IANA name such as Europe/Oslo"
    )]
    BadZone(String),
}

impl Schedule {
    /// Parses a stored or requested `scheduleFrequency` as of `today`.
    pub fn parse_frequency(raw: &str, today: Timestamp) -> Result<Self, ScheduleError> {
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| ScheduleError::NotJson(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ScheduleError::NotJson("not an object".into()))?;
        let field = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let expr = match field("cronSchedule") {
            None | Some(serde_json::Value::Null) => return Err(ScheduleError::MissingCron),
            Some(v) => v.as_str().ok_or(ScheduleError::CronNotString)?,
        };
        let cron = CronExpr::parse(expr, today).map_err(|e| ScheduleError::BadCron {
            expr: expr.to_string(),
            reason: e.to_string(),
        })?;
        let tz = match field("timeZone").and_then(|v| v.as_str()) {
            None | Some("") => Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| ScheduleError::BadZone(name.to_string()))?,
        };
        Ok(Self { cron, tz })
    }

    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.cron.next_after(t, self.tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parse(raw: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse_frequency(
            raw,
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )
    }

    #[test]
    fn frequencies_parse_with_and_without_zone_and_name_the_bad_part() {
        let s = parse(r#"{ "cronSchedule": "0 0 * ? * *"}"#).unwrap();
        assert_eq!(s.tz, Tz::UTC);
        let s = parse(r#"{"cronSchedule":"0 0 2 ? * TUE","timeZone":"Europe/Oslo"}"#).unwrap();
        assert_eq!(s.tz, chrono_tz::Europe::Oslo);
        assert!(matches!(parse("nope"), Err(ScheduleError::NotJson(_))));
        assert!(matches!(parse("{}"), Err(ScheduleError::MissingCron)));
        assert!(matches!(
            parse(r#"{"cronSchedule":"0 0 * * * *"}"#),
            Err(ScheduleError::BadCron { .. })
        ));
        assert!(matches!(
            parse(r#"{"cronSchedule":"0 0 * ? * *","timeZone":"Mars/Base"}"#),
            Err(ScheduleError::BadZone(_))
        ));
    }

    #[test]
    fn year_steps_end_a_hundred_years_after_the_day_of_parsing_as_in_quartz() {
        let raw = r#"{"cronSchedule":"0 0 0 1 1 ? 2030/50"}"#;
        let on = |year| {
            Schedule::parse_frequency(
                raw,
                chrono::Utc.with_ymd_and_hms(year, 6, 1, 0, 0, 0).unwrap(),
            )
            .unwrap()
        };
        let after_2081 = chrono::Utc.with_ymd_and_hms(2081, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(on(2026).next_after(after_2081), None, "2130 is past 2126");
        assert_eq!(
            on(2056).next_after(after_2081),
            Some(chrono::Utc.with_ymd_and_hms(2130, 1, 1, 0, 0, 0).unwrap())
        );
    }
}
