//! A port of Quartz 2.3.2's `CronExpression.buildExpression`. Positions and
//! quirks follow the original; any input Java would fail on with an
//! exception is an error here too.

use super::{ALL_SPEC, Fields, NO_SPEC};
use crate::time::Timestamp;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CronError {
    message: String,
}

impl CronError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
    fn malformed() -> Self {
        Self::new("Illegal cron expression format")
    }
}

type Res<T> = Result<T, CronError>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

const KINDS: [Kind; 7] = [
    Kind::Second,
    Kind::Minute,
    Kind::Hour,
    Kind::DayOfMonth,
    Kind::Month,
    Kind::DayOfWeek,
    Kind::Year,
];

const FIELD_NAMES: [&str; 7] = [
    "seconds",
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

/// Quartz's `MAX_YEAR`: the current year + 100.
fn max_year(today: Timestamp) -> i32 {
    use chrono::Datelike;
    today.year() + 100
}

pub(super) fn parse(expr: &str, today: Timestamp) -> Res<Fields> {
    let upper = expr.to_uppercase();
    let mut p = Parser {
        f: Fields {
            max_year: max_year(today),
            ..Fields::default()
        },
    };
    let tokens: Vec<&str> = upper.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
    for (n, token) in tokens.iter().take(7).enumerate() {
        let kind = KINDS[n];
        check_token(kind, token)?;
        for item in token.split(',').filter(|s| !s.is_empty()) {
            p.store(item.as_bytes(), kind).map_err(|e| {
                CronError::new(format!(
                    "{} field '{}': {}",
                    FIELD_NAMES[n], token, e.message
                ))
            })?;
        }
    }
    if tokens.len() < 6 {
        return Err(CronError::new(format!(
            "Unexpected end of expression: {} fields given, 6 or 7 expected \
             (seconds minutes hours day-of-month month day-of-week [year])",
            tokens.len()
        )));
    }
    if tokens.len() == 6 {
        p.store(b"*", Kind::Year)?;
    }
    let dom_spec = !p.f.days_of_month.contains(&NO_SPEC);
    let dow_spec = !p.f.days_of_week.contains(&NO_SPEC);
    if dom_spec == dow_spec {
        return Err(CronError::new(
            "Support for specifying both a day-of-week AND a day-of-month parameter is not \
             implemented: exactly one of day-of-month and day-of-week must be '?'",
        ));
    }
    Ok(p.f)
}

fn check_token(kind: Kind, t: &str) -> Res<()> {
    let has_l_list = t.contains('L') && t.len() > 1 && t.contains(',');
    if kind == Kind::DayOfMonth && has_l_list {
        return Err(CronError::new(
            "Support for specifying 'L' and 'LW' with other days of the month is not implemented",
        ));
    }
    if kind == Kind::DayOfWeek && has_l_list {
        return Err(CronError::new(
            "Support for specifying 'L' with other days of the week is not implemented",
        ));
    }
    if kind == Kind::DayOfWeek && t.matches('#').count() > 1 {
        return Err(CronError::new(
            "Support for specifying multiple \"nth\" days is not implemented.",
        ));
    }
    Ok(())
}

struct Parser {
    f: Fields,
}

/// Java's `charAt`: out of range is an exception, i.e. a malformed expression.
fn at(s: &[u8], i: usize) -> Res<u8> {
    s.get(i).copied().ok_or_else(CronError::malformed)
}

fn digit(c: u8) -> Res<i32> {
    if c.is_ascii_digit() {
        Ok((c - b'0') as i32)
    } else {
        Err(CronError::malformed())
    }
}

/// Java's `Integer.parseInt` over a byte slice.
fn parse_int(s: &[u8]) -> Res<i32> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<i32>().ok())
        .ok_or_else(CronError::malformed)
}

/// `getValue`: the digits from `i` appended to `v`; returns (value, position).
fn get_value(v: i32, s: &[u8], mut i: usize) -> Res<(i32, usize)> {
    let mut text = v.to_string();
    let mut c = at(s, i)?;
    while c.is_ascii_digit() {
        text.push(c as char);
        i += 1;
        if i >= s.len() {
            break;
        }
        c = s[i];
    }
    let pos = if i < s.len() { i } else { i + 1 };
    Ok((parse_int(text.as_bytes())?, pos))
}

fn name_value(kind: Kind, sub: &[u8]) -> i32 {
    const MONTHS: [&[u8]; 12] = [
        b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV",
        b"DEC",
    ];
    const DAYS: [&[u8]; 7] = [b"SUN", b"MON", b"TUE", b"WED", b"THU", b"FRI", b"SAT"];
    let table: &[&[u8]] = if kind == Kind::Month { &MONTHS } else { &DAYS };
    table
        .iter()
        .position(|n| *n == sub)
        .map_or(-1, |p| p as i32 + 1)
}

fn sub3(s: &[u8], i: usize) -> Res<&[u8]> {
    s.get(i..i + 3).ok_or_else(CronError::malformed)
}

fn parse_nth(s: &[u8], i: usize) -> Res<i32> {
    let n = s
        .get(i..)
        .map(parse_int)
        .unwrap_or(Err(CronError::malformed()));
    match n {
        Ok(n) if (1..=5).contains(&n) => Ok(n),
        _ => Err(CronError::new(
            "A numeric value between 1 and 5 must follow the '#' option",
        )),
    }
}

fn check_increment(incr: i32, kind: Kind) -> Res<()> {
    let max = match kind {
        Kind::Second | Kind::Minute => 59,
        Kind::Hour => 23,
        Kind::DayOfMonth => 31,
        Kind::DayOfWeek => 7,
        Kind::Month => 12,
        Kind::Year => i32::MAX,
    };
    if incr > max {
        return Err(CronError::new(format!("Increment > {} : {incr}", max + 1)));
    }
    Ok(())
}

impl Parser {
    fn set(&mut self, kind: Kind) -> &mut BTreeSet<i32> {
        match kind {
            Kind::Second => &mut self.f.seconds,
            Kind::Minute => &mut self.f.minutes,
            Kind::Hour => &mut self.f.hours,
            Kind::DayOfMonth => &mut self.f.days_of_month,
            Kind::Month => &mut self.f.months,
            Kind::DayOfWeek => &mut self.f.days_of_week,
            Kind::Year => &mut self.f.years,
        }
    }

    fn store(&mut self, s: &[u8], kind: Kind) -> Res<usize> {
        let Some(&c) = s.first() else { return Ok(0) };
        let text = std::str::from_utf8(s).unwrap_or("");
        let l_form = text == "L" || text == "LW" || is_l_offset(text);
        if c.is_ascii_uppercase() && !l_form {
            return self.store_name(s, kind);
        }
        match c {
            b'?' => self.store_no_spec(s, kind),
            b'*' | b'/' => self.store_all(s, kind),
            b'L' => self.store_last(s, kind),
            b'0'..=b'9' => self.store_number(s, kind),
            _ => Err(CronError::new(format!(
                "Unexpected character: {}",
                c as char
            ))),
        }
    }

    fn store_name(&mut self, s: &[u8], kind: Kind) -> Res<usize> {
        let mut i = 0;
        let sval = name_value(kind, sub3(s, i)?);
        let mut eval = -1;
        let label = if kind == Kind::Month {
            "Month"
        } else {
            "Day-of-Week"
        };
        let bad = |sub: &[u8]| {
            CronError::new(format!(
                "Invalid {label} value: '{}'",
                String::from_utf8_lossy(sub)
            ))
        };
        if kind != Kind::Month && kind != Kind::DayOfWeek {
            let sub = String::from_utf8_lossy(sub3(s, i)?).into_owned();
            return Err(CronError::new(format!(
                "Illegal characters for this position: '{sub}'"
            )));
        }
        if sval <= 0 {
            return Err(bad(sub3(s, i)?));
        }
        if s.len() > i + 3 {
            match s[i + 3] {
                b'-' => {
                    i += 4;
                    eval = name_value(kind, sub3(s, i)?);
                    if eval <= 0 {
                        return Err(bad(sub3(s, i)?));
                    }
                }
                b'#' if kind == Kind::DayOfWeek => {
                    i += 4;
                    self.f.nthday_of_week = parse_nth(s, i)?;
                }
                b'L' if kind == Kind::DayOfWeek => {
                    self.f.lastday_of_week = true;
                    i += 1;
                }
                _ => {}
            }
        }
        let incr = if eval != -1 { 1 } else { 0 };
        self.add(sval, eval, incr, kind)?;
        Ok(i + 3)
    }

    fn store_no_spec(&mut self, s: &[u8], kind: Kind) -> Res<usize> {
        let i = 1;
        if i + 1 < s.len() && s[i] != b' ' && s[i + 1] != b'\t' {
            return Err(CronError::new(format!(
                "Illegal character after '?': {}",
                s[i] as char
            )));
        }
        if kind != Kind::DayOfWeek && kind != Kind::DayOfMonth {
            return Err(CronError::new(
                "'?' can only be specified for Day-of-Month or Day-of-Week.",
            ));
        }
        if kind == Kind::DayOfWeek
            && !self.f.lastday_of_month
            && self.f.days_of_month.last() == Some(&NO_SPEC)
        {
            return Err(CronError::new(
                "'?' can only be specified for Day-of-Month -OR- Day-of-Week.",
            ));
        }
        self.add(NO_SPEC, -1, 0, kind)?;
        Ok(i)
    }

    fn store_all(&mut self, s: &[u8], kind: Kind) -> Res<usize> {
        let mut i = 0;
        let c = s[0];
        if c == b'*' && s.len() == 1 {
            self.add(ALL_SPEC, -1, 0, kind)?;
            return Ok(1);
        }
        if c == b'/' && (s.len() < 2 || s[1] == b' ' || s[1] == b'\t') {
            return Err(CronError::new("'/' must be followed by an integer."));
        }
        if c == b'*' {
            i += 1;
        }
        let incr = if at(s, i)? == b'/' {
            i += 1;
            if i >= s.len() {
                return Err(CronError::new("Unexpected end of string."));
            }
            let incr = parse_int(&s[i..])?;
            i += if incr > 10 { 2 } else { 1 };
            check_increment(incr, kind)?;
            incr
        } else {
            1
        };
        self.add(ALL_SPEC, -1, incr, kind)?;
        Ok(i)
    }

    fn store_last(&mut self, s: &[u8], kind: Kind) -> Res<usize> {
        let mut i = 1;
        if kind == Kind::DayOfMonth {
            self.f.lastday_of_month = true;
        }
        if kind == Kind::DayOfWeek {
            self.add(7, 7, 0, kind)?;
        }
        if kind == Kind::DayOfMonth && s.len() > i {
            if s[i] == b'-' {
                let (offset, pos) = get_value(0, s, i + 1)?;
                if offset > 30 {
                    return Err(CronError::new("Offset from last day must be <= 30"));
                }
                self.f.lastday_offset = offset;
                i = pos;
            }
            if s.len() > i && s[i] == b'W' {
                self.f.nearest_weekday = true;
                i += 1;
            }
        }
        Ok(i)
    }

    fn store_number(&mut self, s: &[u8], kind: Kind) -> Res<usize> {
        let mut val = digit(s[0])?;
        let mut i = 1;
        if i >= s.len() {
            self.add(val, -1, -1, kind)?;
            return Ok(i);
        }
        if s[i].is_ascii_digit() {
            (val, i) = get_value(val, s, i)?;
        }
        self.check_next(i, s, val, kind)
    }

    fn check_next(&mut self, pos: usize, s: &[u8], val: i32, kind: Kind) -> Res<usize> {
        let mut i = pos;
        if i >= s.len() {
            self.add(val, -1, -1, kind)?;
            return Ok(i);
        }
        match s[pos] {
            b'L' => {
                if kind != Kind::DayOfWeek {
                    return Err(CronError::new("'L' option is not valid here."));
                }
                if !(1..=7).contains(&val) {
                    return Err(CronError::new("Day-of-Week values must be between 1 and 7"));
                }
                self.f.lastday_of_week = true;
                self.set(kind).insert(val);
                Ok(i + 1)
            }
            b'W' => {
                if kind != Kind::DayOfMonth {
                    return Err(CronError::new("'W' option is not valid here."));
                }
                self.f.nearest_weekday = true;
                if val > 31 {
                    return Err(CronError::new(
                        "The 'W' option does not make sense with values larger than 31 \
                         (max number of days in a month)",
                    ));
                }
                self.set(kind).insert(val);
                Ok(i + 1)
            }
            b'#' => {
                if kind != Kind::DayOfWeek {
                    return Err(CronError::new("'#' option is not valid here."));
                }
                i += 1;
                self.f.nthday_of_week = parse_nth(s, i)?;
                self.set(kind).insert(val);
                Ok(i + 1)
            }
            b'-' => self.range_after(i + 1, s, val, kind),
            b'/' => {
                if i + 1 >= s.len() || s[i + 1] == b' ' || s[i + 1] == b'\t' {
                    return Err(CronError::new("'/' must be followed by an integer."));
                }
                self.step_after(i + 1, s, val, -1, kind, true)
            }
            _ => {
                self.add(val, -1, 0, kind)?;
                Ok(i + 1)
            }
        }
    }

    /// `val-END[/STEP]`, with `i` just after the `-`.
    fn range_after(&mut self, mut i: usize, s: &[u8], val: i32, kind: Kind) -> Res<usize> {
        let v = digit(at(s, i)?)?;
        let mut end = v;
        i += 1;
        if i >= s.len() {
            self.add(val, end, 1, kind)?;
            return Ok(i);
        }
        if s[i].is_ascii_digit() {
            (end, i) = get_value(v, s, i)?;
        }
        if i < s.len() && s[i] == b'/' {
            return self.step_after(i + 1, s, val, end, kind, false);
        }
        self.add(val, end, 1, kind)?;
        Ok(i)
    }

    /// The step after a `/`, with `i` on its first digit. Quartz checks the
    /// increment's range only for `a/b`, not for `a-b/c`.
    fn step_after(
        &mut self,
        mut i: usize,
        s: &[u8],
        val: i32,
        end: i32,
        kind: Kind,
        check: bool,
    ) -> Res<usize> {
        let v2 = digit(at(s, i)?)?;
        i += 1;
        let (step, pos) = if i >= s.len() {
            (v2, i)
        } else if s[i].is_ascii_digit() {
            get_value(v2, s, i)?
        } else if check {
            return Err(CronError::new(format!(
                "Unexpected character '{}' after '/'",
                s[i] as char
            )));
        } else {
            (v2, i)
        };
        if check {
            check_increment(step, kind)?;
        }
        self.add(val, end, step, kind)?;
        Ok(pos)
    }

    fn check_bounds(&self, val: i32, end: i32, kind: Kind) -> Res<()> {
        let (lo, hi, msg) = match kind {
            Kind::Second | Kind::Minute => {
                (0, 59, "Minute and Second values must be between 0 and 59")
            }
            Kind::Hour => (0, 23, "Hour values must be between 0 and 23"),
            Kind::DayOfMonth => (1, 31, "Day of month values must be between 1 and 31"),
            Kind::Month => (1, 12, "Month values must be between 1 and 12"),
            Kind::DayOfWeek => (1, 7, "Day-of-Week values must be between 1 and 7"),
            // Quartz does not bound years: an expression for 1969 is valid and never fires.
            Kind::Year => return Ok(()),
        };
        let marker = val == ALL_SPEC
            || (val == NO_SPEC && matches!(kind, Kind::DayOfMonth | Kind::DayOfWeek));
        let low_bad = if kind == Kind::DayOfWeek {
            val == 0
        } else {
            val < lo
        };
        if !marker && (low_bad || val > hi || end > hi) {
            return Err(CronError::new(msg));
        }
        Ok(())
    }

    /// `addToSet`: a value, a range or a stepped range into the field's set.
    fn add(&mut self, val: i32, end: i32, incr: i32, kind: Kind) -> Res<()> {
        self.check_bounds(val, end, kind)?;
        if (incr == 0 || incr == -1) && val != ALL_SPEC {
            self.set(kind).insert(if val != -1 { val } else { NO_SPEC });
            return Ok(());
        }
        let mut incr = incr;
        if val == ALL_SPEC && incr <= 0 {
            incr = 1;
            self.set(kind).insert(ALL_SPEC);
        }
        let (lo, hi, wrap) = match kind {
            Kind::Second | Kind::Minute => (0, 59, 60),
            Kind::Hour => (0, 23, 24),
            Kind::DayOfMonth => (1, 31, 31),
            Kind::Month => (1, 12, 12),
            Kind::DayOfWeek => (1, 7, 7),
            Kind::Year => (1970, self.f.max_year, 0),
        };
        let start = if val == -1 || val == ALL_SPEC {
            lo
        } else {
            val
        };
        let mut stop = if end == -1 { hi } else { end };
        let mut max = -1;
        if stop < start {
            if kind == Kind::Year {
                return Err(CronError::new("Start year must be less than stop year"));
            }
            max = wrap;
            stop += max;
        }
        let wraps_to_max = matches!(kind, Kind::Month | Kind::DayOfWeek | Kind::DayOfMonth);
        let mut v = start;
        while v <= stop {
            let item = if max == -1 {
                v
            } else {
                let r = v % max;
                if r == 0 && wraps_to_max { max } else { r }
            };
            self.set(kind).insert(item);
            v += incr;
        }
        Ok(())
    }
}

fn is_l_offset(t: &str) -> bool {
    // `^L-[0-9]*[W]?` (Java's `matches` needs the whole string to match)
    let Some(rest) = t.strip_prefix("L-") else {
        return false;
    };
    let rest = rest.strip_suffix('W').unwrap_or(rest);
    rest.bytes().all(|b| b.is_ascii_digit())
}
