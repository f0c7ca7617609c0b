//! Just enough of Java's lenient `GregorianCalendar` for `getTimeAfter`:
//! fields may be set out of range and are normalized on the next read;
//! a wall time in a daylight-saving gap is read with the offset in force
//! before the gap, and a repeated wall time resolves to its later instant.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

pub(super) struct Calendar {
    tz: Tz,
    /// year, month (0-based, as in Java), day, hour, minute, second
    f: [i64; 6],
    dirty: bool,
}

impl Calendar {
    pub fn at(tz: Tz, t: DateTime<Utc>) -> Option<Self> {
        let mut c = Self {
            tz,
            f: [0; 6],
            dirty: false,
        };
        c.load(t.naive_utc())?;
        Some(c)
    }

    fn load(&mut self, utc: NaiveDateTime) -> Option<()> {
        let local = self.tz.from_utc_datetime(&utc).naive_local();
        self.f = [
            local.year() as i64,
            local.month0() as i64,
            local.day() as i64,
            local.hour() as i64,
            local.minute() as i64,
            local.second() as i64,
        ];
        self.dirty = false;
        Some(())
    }

    pub fn set(&mut self, field: Field, value: i32) {
        self.f[field as usize] = value as i64;
        self.dirty = true;
    }

    pub fn get(&mut self, field: Field) -> Option<i32> {
        self.normalize()?;
        Some(self.f[field as usize] as i32)
    }

    /// 1 = Sunday ... 7 = Saturday, as `Calendar.DAY_OF_WEEK`.
    pub fn day_of_week(&mut self) -> Option<i32> {
        self.normalize()?;
        let d = NaiveDate::from_ymd_opt(self.f[0] as i32, self.f[1] as u32 + 1, self.f[2] as u32)?;
        Some(d.weekday().num_days_from_sunday() as i32 + 1)
    }

    /// `add(YEAR, n)`: immediate, keeping the day within the new month.
    pub fn add_years(&mut self, n: i32) -> Option<()> {
        self.normalize()?;
        self.f[0] += n as i64;
        let last = last_day_of_month(self.f[1] as i32 + 1, self.f[0] as i32);
        self.f[2] = self.f[2].min(last as i64);
        self.dirty = true;
        self.normalize()
    }

    pub fn instant(&mut self) -> Option<DateTime<Utc>> {
        let wall = self.wall()?;
        Some(resolve(self.tz, wall))
    }

    fn wall(&self) -> Option<NaiveDateTime> {
        let [y, mo, d, h, mi, s] = self.f;
        let year = y + mo.div_euclid(12);
        let month = mo.rem_euclid(12) as u32 + 1;
        let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, 1)?;
        let secs = (d - 1) * 86_400 + h * 3600 + mi * 60 + s;
        first
            .and_hms_opt(0, 0, 0)?
            .checked_add_signed(Duration::try_seconds(secs)?)
    }

    fn normalize(&mut self) -> Option<()> {
        if self.dirty {
            let t = self.instant()?;
            self.load(t.naive_utc())?;
        }
        Some(())
    }
}

/// The instant of a wall time, the way Java's calendar resolves it.
pub(super) fn resolve(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
        LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(wall - Duration::days(1)))
                .fix();
            Utc.from_utc_datetime(&(wall - Duration::seconds(before.local_minus_utc() as i64)))
        }
    }
}

pub(super) fn last_day_of_month(month: i32, year: i32) -> i32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        _ => 28,
    }
}
