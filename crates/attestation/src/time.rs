//! RFC 3339 times as seconds since the Unix epoch: collateral windows and `--at` arguments.
//! Verification never reads the clock; callers pass the time in (the block timestamp on chain).

/// A time that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 time such as 2025-06-20T00:00:00Z")]
pub struct TimeError(pub String);

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into whole seconds since the Unix epoch
/// (fractions are dropped). Times before 1970 are refused.
pub fn parse_rfc3339(text: &str) -> Result<u64, TimeError> {
    let error = || TimeError(text.to_owned());
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return Err(error());
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return Err(error());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, TimeError> {
        let part = text.get(range).ok_or_else(error)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        part.parse().map_err(|_| error())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(error()),
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(error());
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error());
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let hours: i64 = rest[1..3].parse().map_err(|_| error())?;
            let minutes: i64 = rest[4..6].parse().map_err(|_| error())?;
            if hours > 23 || minutes > 59 {
                return Err(error());
            }
            let offset = hours * 3_600 + minutes * 60;
            if rest.starts_with('-') { -offset } else { offset }
        }
        _ => return Err(error()),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    u64::try_from(seconds).map_err(|_| error())
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(seconds: u64) -> String {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX / 2);
    let (days, within) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", within / 3_600, within % 3_600 / 60, within % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2025-06-19T10:56:11Z"), Ok(1_750_330_571));
        assert_eq!(parse_rfc3339("2025-06-19T10:56:11.999Z"), Ok(1_750_330_571));
        assert_eq!(parse_rfc3339("2025-06-19T12:56:11+02:00"), Ok(1_750_330_571));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(1_709_164_800));
        assert_eq!(format_rfc3339(1_750_330_571), "2025-06-19T10:56:11Z");
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "2025-06-19",
            "2025-06-19T10:56:11",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-06-19T24:00:00Z",
            "2025-06-19T10:56:11.Z",
            "2025-06-19T10:56:11+2:00",
            "1969-12-31T23:59:59Z",
            "２025-06-19T10:56:11Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parses_what_it_formats(seconds in 0u64..253_402_300_799) {
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(seconds)), Ok(seconds));
        }
    }
}
