//! A port of Quartz 2.3.2's `CronExpression.getTimeAfter`.

use super::calendar::{Calendar, Field::*, last_day_of_month};
use super::{CronExpr, Fields, NO_SPEC};
use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// What one pass of the search loop decided.
enum Step {
    Again,
    Done,
    Never,
}

fn first(set: &BTreeSet<i32>) -> i32 {
    set.first().copied().unwrap_or(0)
}

fn tail(set: &BTreeSet<i32>, from: i32) -> Option<i32> {
    set.range(from..).next().copied()
}

impl CronExpr {
    /// The first fire time strictly after `after`, or `None` when the
    /// expression never fires again.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let after = after + Duration::seconds(1);
        let start = after.duration_trunc(Duration::seconds(1)).ok()?;
        let mut search = Search {
            f: &self.fields,
            cl: Calendar::at(tz, start)?,
            after,
            tz,
        };
        // Java's `set(MILLISECOND, 0)` re-reads the wall time on the next get.
        let s = search.cl.get(Second)?;
        search.cl.set(Second, s);
        loop {
            if search.cl.get(Year)? > 2999 {
                return None;
            }
            match search.step()? {
                Step::Again => continue,
                Step::Done => return search.cl.instant(),
                Step::Never => return None,
            }
        }
    }

    /// The next `count` fire times after `after`.
    pub fn next_n(&self, after: DateTime<Utc>, tz: Tz, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut t = after;
        while out.len() < count {
            match self.next_after(t, tz) {
                Some(n) => {
                    out.push(n);
                    t = n;
                }
                None => break,
            }
        }
        out
    }
}

struct Search<'a> {
    f: &'a Fields,
    cl: Calendar,
    after: DateTime<Utc>,
    tz: Tz,
}

impl Search<'_> {
    fn step(&mut self) -> Option<Step> {
        let (sec, min, hr) = match self.time_of_day()? {
            Ok(t) => t,
            Err(()) => return Some(Step::Again),
        };
        if !self.day(sec, min, hr)? {
            return Some(Step::Again);
        }
        self.month_and_year()
    }

    /// Seconds, minutes and hours; `Err` when the calendar moved on.
    fn time_of_day(&mut self) -> Option<Result<(i32, i32, i32), ()>> {
        let f = self.f;
        let mut sec = self.cl.get(Second)?;
        let mut min = self.cl.get(Minute)?;
        match tail(&f.seconds, sec) {
            Some(s) => sec = s,
            None => {
                sec = first(&f.seconds);
                min += 1;
                self.cl.set(Minute, min);
            }
        }
        self.cl.set(Second, sec);

        let min0 = self.cl.get(Minute)?;
        let mut hr = self.cl.get(Hour)?;
        let min = match tail(&f.minutes, min0) {
            Some(m) => m,
            None => {
                hr += 1;
                first(&f.minutes)
            }
        };
        if min != min0 || tail(&f.minutes, min0).is_none() {
            self.cl.set(Second, 0);
            self.cl.set(Minute, min);
            self.set_hour(hr)?;
            return Some(Err(()));
        }
        self.cl.set(Minute, min);

        let hr0 = self.cl.get(Hour)?;
        let mut day = self.cl.get(Day)?;
        let hr = match tail(&f.hours, hr0) {
            Some(h) => h,
            None => {
                day += 1;
                first(&f.hours)
            }
        };
        if hr != hr0 || tail(&f.hours, hr0).is_none() {
            self.cl.set(Second, 0);
            self.cl.set(Minute, 0);
            self.cl.set(Day, day);
            self.set_hour(hr)?;
            return Some(Err(()));
        }
        self.cl.set(Hour, hr);
        Some(Ok((sec, min, hr)))
    }

    /// `setCalendarHour`: an hour that daylight saving skipped moves one on.
    fn set_hour(&mut self, hour: i32) -> Option<()> {
        self.cl.set(Hour, hour);
        if self.cl.get(Hour)? != hour && hour != 24 {
            self.cl.set(Hour, hour + 1);
        }
        Some(())
    }

    /// Moves to midnight of (`day`, `month0`); the caller loops again.
    fn jump_to_day(&mut self, day: i32, month0: i32) {
        self.cl.set(Second, 0);
        self.cl.set(Minute, 0);
        self.cl.set(Hour, 0);
        self.cl.set(Day, day);
        self.cl.set(Month, month0);
    }

    /// Day of month or day of week; `false` when the calendar moved on.
    fn day(&mut self, sec: i32, min: i32, hr: i32) -> Option<bool> {
        let dom_spec = !self.f.days_of_month.contains(&NO_SPEC);
        if dom_spec {
            self.day_of_month(sec, min, hr)
        } else {
            let day = self.cl.get(Day)?;
            let found = self.day_of_week()?;
            if found {
                self.cl.set(Day, day);
            }
            Some(found)
        }
    }

    fn day_of_month(&mut self, sec: i32, min: i32, hr: i32) -> Option<bool> {
        let f = self.f;
        let mut day = self.cl.get(Day)?;
        let mut mon = self.cl.get(Month)? + 1;
        let year = self.cl.get(Year)?;
        let mut t = -1;
        let mut tmon = mon;
        if f.lastday_of_month || f.nearest_weekday {
            t = day;
            day = if f.lastday_of_month {
                last_day_of_month(mon, year) - f.lastday_offset
            } else {
                first(&f.days_of_month)
            };
            if f.lastday_of_month && !f.nearest_weekday {
                if t > day {
                    mon += 1;
                    if mon > 12 {
                        mon = 1;
                        tmon = 3333;
                        self.cl.add_years(1)?;
                    }
                    day = 1;
                }
            } else {
                let time = [sec, min, hr];
                day = self.nearest_weekday(day, mon, year)?;
                if self.wall_instant(day, mon, year, time)? < self.after {
                    day = if f.lastday_of_month {
                        1
                    } else {
                        first(&f.days_of_month)
                    };
                    mon += 1;
                }
            }
        } else if let Some(d) = tail(&f.days_of_month, day) {
            t = day;
            day = d;
            if day > last_day_of_month(mon, self.cl.get(Year)?) {
                day = first(&f.days_of_month);
                mon += 1;
            }
        } else {
            day = first(&f.days_of_month);
            mon += 1;
        }
        if day != t || mon != tmon {
            self.jump_to_day(day, mon - 1);
            return Some(false);
        }
        self.cl.set(Day, day);
        Some(true)
    }

    /// The weekday nearest to `day`, never leaving the month.
    fn nearest_weekday(&self, day: i32, mon: i32, year: i32) -> Option<i32> {
        let mut probe = Calendar::at(self.tz, self.after)?;
        for (field, v) in [
            (Second, 0),
            (Minute, 0),
            (Hour, 0),
            (Day, day),
            (Month, mon - 1),
            (Year, year),
        ] {
            probe.set(field, v);
        }
        let ldom = last_day_of_month(mon, year);
        Some(match probe.day_of_week()? {
            7 if day == 1 => day + 2,
            7 => day - 1,
            1 if day == ldom => day - 2,
            1 => day + 1,
            _ => day,
        })
    }

    fn wall_instant(
        &self,
        day: i32,
        mon: i32,
        year: i32,
        [sec, min, hr]: [i32; 3],
    ) -> Option<DateTime<Utc>> {
        let mut probe = Calendar::at(self.tz, self.after)?;
        for (field, v) in [
            (Second, sec),
            (Minute, min),
            (Hour, hr),
            (Day, day),
            (Month, mon - 1),
            (Year, year),
        ] {
            probe.set(field, v);
        }
        probe.instant()
    }

    fn day_of_week(&mut self) -> Option<bool> {
        let f = self.f;
        let day = self.cl.get(Day)?;
        let mon = self.cl.get(Month)? + 1;
        let ldom = last_day_of_month(mon, self.cl.get(Year)?);
        let cdow = self.cl.day_of_week()?;
        let wanted = if f.lastday_of_week || f.nthday_of_week != 0 {
            first(&f.days_of_week)
        } else {
            tail(&f.days_of_week, cdow).unwrap_or_else(|| first(&f.days_of_week))
        };
        let mut add = match cdow.cmp(&wanted) {
            std::cmp::Ordering::Less => wanted - cdow,
            std::cmp::Ordering::Greater => wanted + 7 - cdow,
            std::cmp::Ordering::Equal => 0,
        };
        if f.lastday_of_week {
            if day + add > ldom {
                self.jump_to_day(1, mon);
                return Some(false);
            }
            while day + add + 7 <= ldom {
                add += 7;
            }
            if add > 0 {
                self.jump_to_day(day + add, mon - 1);
                return Some(false);
            }
        } else if f.nthday_of_week != 0 {
            let shifted = add > 0;
            let d = day + add;
            let week = d / 7 + i32::from(d % 7 > 0);
            let more = (f.nthday_of_week - week) * 7;
            let d = d + more;
            if more < 0 || d > ldom {
                self.jump_to_day(1, mon);
                return Some(false);
            } else if more > 0 || shifted {
                self.jump_to_day(d, mon - 1);
                return Some(false);
            }
        } else if day + add > ldom {
            self.jump_to_day(1, mon);
            return Some(false);
        } else if add > 0 {
            self.jump_to_day(day + add, mon - 1);
            return Some(false);
        }
        Some(true)
    }

    fn month_and_year(&mut self) -> Option<Step> {
        let f = self.f;
        let mon0 = self.cl.get(Month)? + 1;
        let mut year = self.cl.get(Year)?;
        // chrono-tz's rules end with 2099: later wall times would be read
        // without daylight saving, so a zoned search ends there.
        let horizon = if self.tz == Tz::UTC { f.max_year } else { 2099 };
        if year > horizon {
            return Some(Step::Never);
        }
        let mon = match tail(&f.months, mon0) {
            Some(m) => m,
            None => {
                year += 1;
                first(&f.months)
            }
        };
        if mon != mon0 || tail(&f.months, mon0).is_none() {
            self.jump_to_day(1, mon - 1);
            self.cl.set(Year, year);
            return Some(Step::Again);
        }
        self.cl.set(Month, mon - 1);
        let year0 = self.cl.get(Year)?;
        let Some(year) = tail(&f.years, year0) else {
            return Some(Step::Never);
        };
        if year != year0 {
            self.jump_to_day(1, 0);
            self.cl.set(Year, year);
            return Some(Step::Again);
        }
        self.cl.set(Year, year);
        Some(Step::Done)
    }
}
