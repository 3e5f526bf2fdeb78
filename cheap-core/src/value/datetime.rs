//! Date-time values that keep their instant, offset and optional region id, and print in
//! Java's `ZonedDateTime.toString()` form.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use crate::error::{CheapError, Result};

/// A date-time as CHEAP stores it: a local date-time, its UTC offset and, when one was given, a
/// region id such as `America/New_York`.
///
/// The text form is Java's (`2025-01-15T10:30Z`, `2025-01-15T10:30:15.120+02:00`,
/// `2025-01-15T10:30-05:00[America/New_York]`), so reference data prints back unchanged.
/// The region id is kept as text: no time-zone database is consulted, and the offset given
/// in the text is the one used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheapDateTime {
    dt: DateTime<FixedOffset>,
    zone: Option<String>,
}

impl CheapDateTime {
    /// From a chrono date-time with a fixed offset.
    pub fn new(dt: DateTime<FixedOffset>) -> Self {
        CheapDateTime { dt, zone: None }
    }

    /// From a chrono UTC date-time; prints with `Z`.
    pub fn from_utc(dt: DateTime<Utc>) -> Self {
        CheapDateTime {
            dt: dt.fixed_offset(),
            zone: None,
        }
    }

    /// Attaches a region id, printed in brackets after the offset.
    pub fn with_zone(mut self, zone: impl Into<String>) -> Result<Self> {
        let zone = zone.into();
        check_zone_id(&zone)?;
        self.zone = Some(zone);
        Ok(self)
    }

    /// The date-time with its offset.
    pub fn date_time(&self) -> DateTime<FixedOffset> {
        self.dt
    }

    /// The region id, if any.
    pub fn zone(&self) -> Option<&str> {
        self.zone.as_deref()
    }

    /// The instant in UTC.
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.dt.with_timezone(&Utc)
    }

    /// Parses Java's text forms and RFC 3339. Seconds and fractions are optional; an offset
    /// (`Z` or `±HH:MM[:SS]`) is required; a `[Region/Id]` suffix is kept.
    pub fn parse(text: &str) -> Result<Self> {
        let err = || {
            CheapError::invalid(format!(
                "'{text}' is not a date-time with an offset (such as 2025-01-15T10:30:00Z)"
            ))
        };
        let (main, zone) = match text.find('[') {
            Some(i) if text.ends_with(']') => (&text[..i], Some(&text[i + 1..text.len() - 1])),
            Some(_) => return Err(err()),
            None => (text, None),
        };
        let (local, offset) = split_offset(main).ok_or_else(err)?;
        let local = parse_local(local).ok_or_else(err)?;
        let dt = local.and_local_timezone(offset).single().ok_or_else(err)?;
        let mut value = CheapDateTime { dt, zone: None };
        if let Some(z) = zone {
            value = value.with_zone(z)?;
        }
        Ok(value)
    }

    /// Reads the reference's SQL text (`yyyy-mm-dd hh:mm:ss.f`, no offset) as a time in UTC,
    /// which is the zone the reference's tests pin.
    pub fn parse_sql_timestamp(text: &str) -> Result<Self> {
        let local = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S"))
            .map_err(|_| CheapError::invalid(format!("'{text}' is not a SQL timestamp")))?;
        Ok(CheapDateTime::from_utc(local.and_utc()))
    }

    /// Reads a SQL date (`yyyy-mm-dd`) as midnight UTC, as the reference reads DATE columns.
    pub fn parse_sql_date(text: &str) -> Result<Self> {
        let d = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| CheapError::invalid(format!("'{text}' is not a SQL date")))?;
        Ok(CheapDateTime::from_utc(
            d.and_time(NaiveTime::MIN).and_utc(),
        ))
    }
}

fn check_zone_id(zone: &str) -> Result<()> {
    let ok = !zone.is_empty()
        && zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CheapError::invalid(format!("'{zone}' is not a zone id")))
    }
}

fn split_offset(s: &str) -> Option<(&str, FixedOffset)> {
    if let Some(local) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((local, FixedOffset::east_opt(0)?));
    }
    // The offset starts at the last '+' or '-' after the 'T'.
    let t = s.find(['T', 't'])?;
    let pos = s[t..].rfind(['+', '-'])? + t;
    let (local, off) = s.split_at(pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let parts: Vec<&str> = off[1..].split(':').collect();
    let num = |p: Option<&&str>| -> Option<i32> {
        match p {
            Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
            _ => None,
        }
    };
    let (h, m, sec) = match parts.len() {
        1 if parts[0].len() == 4 => (num(Some(&&parts[0][..2]))?, num(Some(&&parts[0][2..]))?, 0),
        1 => (num(parts.first())?, 0, 0),
        2 => (num(parts.first())?, num(parts.get(1))?, 0),
        3 => (num(parts.first())?, num(parts.get(1))?, num(parts.get(2))?),
        _ => return None,
    };
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    Some((
        local,
        FixedOffset::east_opt(sign * (h * 3600 + m * 60 + sec))?,
    ))
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let (date, time) = s.split_once(['T', 't'])?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()?;
    Some(date.and_time(time))
}

impl fmt::Display for CheapDateTime {
    /// Java's `ZonedDateTime.toString()`: seconds only when the time has seconds or a fraction,
    /// the fraction in groups of three digits, `Z` for a zero offset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.dt.naive_local();
        write!(
            f,
            "{}T{:02}:{:02}",
            local.date().format("%Y-%m-%d"),
            local.hour(),
            local.minute()
        )?;
        let (sec, nano) = (local.second(), local.nanosecond().min(999_999_999));
        if sec > 0 || nano > 0 {
            write!(f, ":{sec:02}")?;
            if nano > 0 {
                if nano % 1_000_000 == 0 {
                    write!(f, ".{:03}", nano / 1_000_000)?;
                } else if nano % 1_000 == 0 {
                    write!(f, ".{:06}", nano / 1_000)?;
                } else {
                    write!(f, ".{nano:09}")?;
                }
            }
        }
        let off = self.dt.offset().local_minus_utc();
        if off == 0 {
            f.write_str("Z")?;
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.abs();
            write!(f, "{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)?;
            if a % 60 != 0 {
                write!(f, ":{:02}", a % 60)?;
            }
        }
        if let Some(z) = &self.zone {
            write!(f, "[{z}]")?;
        }
        Ok(())
    }
}

impl FromStr for CheapDateTime {
    type Err = CheapError;
    fn from_str(s: &str) -> Result<Self> {
        CheapDateTime::parse(s)
    }
}

impl From<DateTime<Utc>> for CheapDateTime {
    fn from(dt: DateTime<Utc>) -> Self {
        CheapDateTime::from_utc(dt)
    }
}

impl From<DateTime<FixedOffset>> for CheapDateTime {
    fn from(dt: DateTime<FixedOffset>) -> Self {
        CheapDateTime::new(dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_forms_print_back_unchanged() {
        for s in [
            "2025-01-15T10:30Z",
            "2025-01-15T10:30:15.120+02:00",
            "2025-01-15T10:30-05:00[America/New_York]",
            "2025-01-01T00:00Z[UTC]",
            "2025-01-15T10:30:15Z",
            "2025-01-15T10:30:15.123456Z",
            "2025-01-15T10:30:15.123456789-03:30",
            "1969-12-31T23:59:59.001+05:45:30",
        ] {
            assert_eq!(CheapDateTime::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rfc3339_is_read_and_normalized() {
        let d = CheapDateTime::parse("2025-01-15T10:30:00.000+00:00").unwrap();
        assert_eq!(d.to_string(), "2025-01-15T10:30Z");
        let d = CheapDateTime::parse("2025-01-15T10:30:00.5-0200").unwrap();
        assert_eq!(d.to_string(), "2025-01-15T10:30:00.500-02:00");
    }

    #[test]
    fn bad_text_is_rejected() {
        for s in [
            "",
            "2025-01-15",
            "2025-01-15T10:30",
            "2025-13-15T10:30Z",
            "2025-01-15T10:30+25:00",
            "2025-01-15T10:30Z[",
            "2025-01-15T10:30Z[a b]",
            "yesterday",
        ] {
            assert!(CheapDateTime::parse(s).is_err(), "{s} should fail");
        }
    }

    #[test]
    fn sql_timestamp_is_utc() {
        let d = CheapDateTime::parse_sql_timestamp("2025-01-15 10:30:00.0").unwrap();
        assert_eq!(d.to_string(), "2025-01-15T10:30Z");
    }
}
