//! Quartz `CronTrigger` expressions, with Quartz 2.3.2's exact semantics:
//! the parser mirrors `org.quartz.CronExpression` (quirks included) and the
//! next-fire computation follows its `getTimeAfter` over a lenient calendar
//! in the schedule's time zone.

mod calendar;
mod next;
mod parse;

use crate::time::Timestamp;
use std::collections::BTreeSet;
use std::fmt;

pub use parse::CronError;

/// A parsed Quartz cron expression. Valid by construction.
#[derive(Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    fields: Fields,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Fields {
    seconds: BTreeSet<i32>,
    minutes: BTreeSet<i32>,
    hours: BTreeSet<i32>,
    days_of_month: BTreeSet<i32>,
    months: BTreeSet<i32>,
    days_of_week: BTreeSet<i32>,
    years: BTreeSet<i32>,
    lastday_of_week: bool,
    nthday_of_week: i32,
    lastday_of_month: bool,
    lastday_offset: i32,
    nearest_weekday: bool,
    /// Quartz's `MAX_YEAR`: the parsing day's year + 100 (year steps end there).
    max_year: i32,
}

/// Quartz's marker values inside the field sets.
const NO_SPEC: i32 = 98;
const ALL_SPEC: i32 = 99;

impl CronExpr {
    /// Parses `expr` as Quartz would on `today` (its year bounds year steps).
    pub fn parse(expr: &str, today: Timestamp) -> Result<Self, CronError> {
        let fields = parse::parse(expr, today)?;
        Ok(Self {
            source: expr.to_string(),
            fields,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.source)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
