//! A small RFC 3339 timestamp parser for API key expiries (`2027-01-31T23:59:59Z`,
//! `2027-01-31T23:59:59.5+01:00`), so the config needs no date crate.

/// Parse an RFC 3339 `date-time` into nanoseconds since the Unix epoch (may be negative).
/// Returns the reason on error.
pub fn parse_unix_nanos(s: &str) -> Result<i128, &'static str> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err("expected an RFC 3339 timestamp such as 2027-01-31T23:59:59Z");
    }
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    match b.get(10) {
        Some(b'T' | b't' | b' ') => {}
        _ => return Err("expected 'T' between date and time"),
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    // A leap second (60) is accepted and counted as the next second.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time out of range");
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + i128::from(d - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err("expected digits after '.'");
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            expect(b, i + 3, b':')?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err("UTC offset out of range");
            }
            let off = oh * 3600 + om * 60;
            i += 6;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return Err("expected a UTC offset ('Z' or +HH:MM)"),
    };
    if i != b.len() {
        return Err("unexpected characters after the timestamp");
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Ok(i128::from(secs) * 1_000_000_000 + nanos)
}

fn expect(b: &[u8], i: usize, c: u8) -> Result<(), &'static str> {
    if b.get(i) == Some(&c) {
        Ok(())
    } else {
        Err("malformed RFC 3339 timestamp")
    }
}

fn digits(b: &[u8], start: usize, len: usize) -> Result<i64, &'static str> {
    let part = b
        .get(start..start + len)
        .ok_or("malformed RFC 3339 timestamp")?;
    let mut v: i64 = 0;
    for d in part {
        if !d.is_ascii_digit() {
            return Err("malformed RFC 3339 timestamp");
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Ok(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` of year `y` (proleptic Gregorian).
pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn known_instants() {
        // Values checked against `date -u -d ... +%s`.
        assert_eq!(parse_unix_nanos("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_unix_nanos("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000 * S)
        );
        assert_eq!(
            parse_unix_nanos("2024-02-29T12:00:00Z"),
            Ok(1_709_208_000 * S)
        );
        assert_eq!(
            parse_unix_nanos("2000-03-01T00:00:00Z"),
            Ok(951_868_800 * S)
        );
        assert_eq!(parse_unix_nanos("1969-12-31T23:59:59Z"), Ok(-S));
    }

    #[test]
    fn offsets_and_fractions() {
        assert_eq!(
            parse_unix_nanos("2023-11-14T23:13:20+01:00"),
            Ok(1_700_000_000 * S)
        );
        assert_eq!(
            parse_unix_nanos("2023-11-14T17:43:20-04:30"),
            Ok(1_700_000_000 * S)
        );
        assert_eq!(
            parse_unix_nanos("2023-11-14T22:13:20.25Z"),
            Ok(1_700_000_000 * S + 250_000_000)
        );
        assert_eq!(
            parse_unix_nanos("2023-11-14t22:13:20.123456789123z"),
            Ok(1_700_000_000 * S + 123_456_789)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-14T22:13:20Z",
            "2023-02-29T22:13:20Z",
            "2023-11-31T22:13:20Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20Zjunk",
            "2023-11-14T22:13:20+0100",
            "2023/11/14T22:13:20Z",
            "２023-11-14T22:13:20Z",
        ] {
            assert!(parse_unix_nanos(bad).is_err(), "{bad}");
        }
    }
}
