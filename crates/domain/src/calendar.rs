//! Deadlines: the Kazakhstan working-day calendar (docs/national-rules.md 4) and the arithmetic of "within N working
//! days" and "within N hours", in the `Asia/Almaty` time zone with instants in UTC.
//!
//! The calendar is data (`data/kz-calendar.json`, compiled in; [`WorkingCalendar::from_json`] loads
//! another at start): recurring holidays with the years they apply to and whether they move off a
//! weekend, plus per-date overrides for what no rule derives - the government's transfers (which can
//! make a Sunday a working day) and the lunar Kurban Ait. A new year's act is a data change, not a
//! code change.
//!
//! Rules (docs/national-rules.md 4.1): Saturday and Sunday are days off; a holiday is a day off; a holiday that falls
//! on a Saturday or Sunday gives the next working day off, unless it is one that does not move
//! (Orthodox Christmas, Kurban Ait); explicit overrides win over all rules.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Asia::Almaty;
use serde::Deserialize;

/// The compiled-in calendar.
const DEFAULT_CALENDAR: &str = include_str!("../data/kz-calendar.json");

/// The process's calendar, set once (see [`WorkingCalendar::shared`]).
static SHARED_CALENDAR: std::sync::OnceLock<WorkingCalendar> = std::sync::OnceLock::new();

/// One recurring holiday.
#[derive(Debug, Clone, Deserialize)]
struct Holiday {
    name: String,
    month: u32,
    day: u32,
    /// Whether falling on a weekend gives the next working day off.
    moves_off_weekend: bool,
    /// First year it applies to (inclusive), if it was introduced.
    #[serde(default)]
    from_year: Option<i32>,
    /// Last year it applies to (inclusive), if it was abolished.
    #[serde(default)]
    until_year: Option<i32>,
}

#[derive(Debug, Clone, Deserialize)]
struct DatedOverride {
    date: NaiveDate,
    #[allow(dead_code)] // Kept in the data for people; the rules need only the date.
    reason: String,
}

#[derive(Debug, Clone, Deserialize)]
struct CalendarData {
    holidays: Vec<Holiday>,
    #[serde(default)]
    days_off: Vec<DatedOverride>,
    #[serde(default)]
    working_days: Vec<DatedOverride>,
}

/// A calendar file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// Not the expected JSON shape.
    #[error("the calendar is not valid: {0}")]
    Invalid(String),
    /// A holiday names a day no year has (e.g. 30 February).
    #[error("holiday {name} on {month}/{day} is not a calendar day")]
    BadHoliday { name: String, month: u32, day: u32 },
}

/// The working-day calendar.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    holidays: Vec<Holiday>,
    days_off: BTreeSet<NaiveDate>,
    working_days: BTreeSet<NaiveDate>,
}

/// A time limit as the regulations state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// "Within N working days from receipt".
    WorkingDays {
        days: u32,
        /// Whether the day of receipt is the first day counted (a per-service reading, docs/national-rules.md 4.5).
        receipt_day_counts: bool,
    },
    /// "Within N minutes/hours": an absolute duration, whatever the calendar.
    Elapsed(chrono::Duration),
}

/// The local date in `Asia/Almaty` of an instant: the date of receipt of a request.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Almaty).date_naive()
}

/// The instant the local day (`Asia/Almaty`) after `day` begins: when a daily limit resets.
pub fn start_of_next_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day
        .succ_opt()
        .unwrap_or(day)
        .and_time(chrono::NaiveTime::MIN);
    next.and_local_timezone(Almaty)
        .earliest()
        .map_or_else(|| next.and_utc(), |at| at.with_timezone(&Utc))
}

impl WorkingCalendar {
    /// The calendar compiled into the binary.
    ///
    /// # Panics
    /// Never in a released build: the compiled-in file is checked by a test.
    pub fn kazakhstan() -> Self {
        Self::from_json(DEFAULT_CALENDAR).expect("the compiled-in calendar is valid (tested)")
    }

    /// The process's calendar: the one [`WorkingCalendar::install`]ed at start
    /// (`EGOV_CALENDAR`), else the compiled-in one.
    pub fn shared() -> &'static Self {
        SHARED_CALENDAR.get_or_init(Self::kazakhstan)
    }

    /// Makes `self` the process's calendar, before anything has used one: a new year's decree is
    /// a data file given at start, not a rebuild (docs/national-rules.md 4).
    ///
    /// # Errors
    /// Gives the calendar back when the process already uses one (it is never swapped while
    /// deadlines are being computed).
    pub fn install(self) -> Result<(), Self> {
        SHARED_CALENDAR.set(self)
    }

    /// A calendar from JSON of the shape of `data/kz-calendar.json`.
    ///
    /// # Errors
    /// [`CalendarError`] when the text is not such a calendar.
    pub fn from_json(text: &str) -> Result<Self, CalendarError> {
        let data: CalendarData =
            serde_json::from_str(text).map_err(|e| CalendarError::Invalid(e.to_string()))?;
        for h in &data.holidays {
            // 29 February exists in leap years only; any other day must exist in 2001.
            let year = if h.month == 2 && h.day == 29 {
                2000
            } else {
                2001
            };
            if NaiveDate::from_ymd_opt(year, h.month, h.day).is_none() {
                return Err(CalendarError::BadHoliday {
                    name: h.name.clone(),
                    month: h.month,
                    day: h.day,
                });
            }
        }
        Ok(Self {
            holidays: data.holidays,
            days_off: data.days_off.into_iter().map(|o| o.date).collect(),
            working_days: data.working_days.into_iter().map(|o| o.date).collect(),
        })
    }

    /// Whether `date` is a working day of the five-day week.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.working_days.contains(&date) {
            return true;
        }
        if self.days_off.contains(&date) {
            return false;
        }
        !is_weekend(date) && !self.rule_days_off(date.year()).contains(&date)
    }

    /// The days off a year's rules give on weekdays: holidays, and the days a holiday on a weekend
    /// moves to.
    fn rule_days_off(&self, year: i32) -> BTreeSet<NaiveDate> {
        let mut holidays: Vec<(NaiveDate, bool)> = self
            .holidays
            .iter()
            .filter(|h| h.from_year.is_none_or(|from| year >= from))
            .filter(|h| h.until_year.is_none_or(|until| year <= until))
            .filter_map(|h| {
                Some((
                    NaiveDate::from_ymd_opt(year, h.month, h.day)?,
                    h.moves_off_weekend,
                ))
            })
            .collect();
        holidays.sort();
        let mut off: BTreeSet<NaiveDate> = holidays.iter().map(|(d, _)| *d).collect();
        for (date, moves) in holidays {
            if !(moves && is_weekend(date)) {
                continue;
            }
            // The next day after the holiday that is neither a weekend, a holiday, nor already
            // given off (two weekend holidays in a row give two days).
            let mut next = date;
            while let Some(day) = next.checked_add_days(Days::new(1)) {
                next = day;
                let taken = is_weekend(day) || off.contains(&day) || self.days_off.contains(&day);
                if !taken {
                    off.insert(day);
                    break;
                }
            }
        }
        off
    }

    /// The first working day after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        let mut day = date;
        loop {
            day = day.checked_add_days(Days::new(1))?;
            if self.is_working_day(day) {
                return Some(day);
            }
        }
    }

    /// The instant by which something received at `received` must be done under `limit`: for
    /// working days the end (exclusive: local midnight after it) of the last day counted in
    /// `Asia/Almaty`; for elapsed time `received + duration`.
    ///
    /// Working days (docs/national-rules.md 4.5): the receipt date is the local date in `Asia/Almaty`; a request
    /// received on a day off counts as received on the next working day; unless the receipt day
    /// counts, counting starts on the working day after it.
    pub fn deadline(&self, received: DateTime<Utc>, limit: TimeLimit) -> Option<DateTime<Utc>> {
        match limit {
            TimeLimit::Elapsed(duration) => received.checked_add_signed(duration),
            TimeLimit::WorkingDays {
                days,
                receipt_day_counts,
            } => {
                let mut receipt = received.with_timezone(&Almaty).date_naive();
                if !self.is_working_day(receipt) {
                    receipt = self.next_working_day(receipt)?;
                }
                let mut last = receipt;
                let mut remaining = days;
                if receipt_day_counts && remaining > 0 {
                    remaining -= 1;
                }
                for _ in 0..remaining {
                    last = self.next_working_day(last)?;
                }
                let end = last.checked_add_days(Days::new(1))?.and_hms_opt(0, 0, 0)?;
                Almaty
                    .from_local_datetime(&end)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    /// Weekdays that are days off in a year.
    fn weekday_days_off(calendar: &WorkingCalendar, year: i32) -> Vec<NaiveDate> {
        let mut day = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January");
        let mut off = Vec::new();
        while day.year() == year {
            if !is_weekend(day) && !calendar.is_working_day(day) {
                off.push(day);
            }
            day = day.succ_opt().expect("next day");
        }
        off
    }

    fn working_days_in(calendar: &WorkingCalendar, year: i32) -> usize {
        let mut day = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January");
        let mut count = 0;
        while day.year() == year {
            count += usize::from(calendar.is_working_day(day));
            day = day.succ_opt().expect("next day");
        }
        count
    }

    #[test]
    fn the_2025_days_off_are_those_of_kz_md_4_2() {
        let calendar = WorkingCalendar::kazakhstan();
        let expected: Vec<NaiveDate> = [
            "2025-01-01",
            "2025-01-02",
            "2025-01-03",
            "2025-01-07",
            "2025-03-10",
            "2025-03-21",
            "2025-03-24",
            "2025-03-25",
            "2025-05-01",
            "2025-05-07",
            "2025-05-09",
            "2025-06-06",
            "2025-07-07",
            "2025-09-01",
            "2025-10-27",
            "2025-12-16",
        ]
        .into_iter()
        .map(date)
        .collect();
        assert_eq!(weekday_days_off(&calendar, 2025), expected);
        assert!(
            calendar.is_working_day(date("2025-01-05")),
            "Sunday 5 January 2025 was worked"
        );
        assert!(
            calendar.is_working_day(date("2025-05-08")),
            "8 May 2025 stayed a working day"
        );
        assert_eq!(working_days_in(&calendar, 2025), 246);
    }

    #[test]
    fn the_2026_days_off_are_those_of_kz_md_4_3() {
        let calendar = WorkingCalendar::kazakhstan();
        let expected: Vec<NaiveDate> = [
            "2026-01-01",
            "2026-01-02",
            "2026-01-07",
            "2026-03-09",
            "2026-03-23",
            "2026-03-24",
            "2026-03-25",
            "2026-05-01",
            "2026-05-07",
            "2026-05-11",
            "2026-05-27",
            "2026-07-06",
            "2026-10-26",
            "2026-12-16",
        ]
        .into_iter()
        .map(date)
        .collect();
        assert_eq!(weekday_days_off(&calendar, 2026), expected);
        assert!(
            calendar.is_working_day(date("2026-08-31")),
            "30 August is no longer a holiday"
        );
        assert_eq!(working_days_in(&calendar, 2026), 247);
    }

    #[test]
    fn deadlines_match_the_worked_examples_of_kz_md_4_5() {
        let calendar = WorkingCalendar::kazakhstan();
        let five = TimeLimit::WorkingDays {
            days: 5,
            receipt_day_counts: false,
        };
        let local = |s: &str| {
            let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
            Almaty
                .from_local_datetime(&naive)
                .single()
                .expect("unambiguous")
                .with_timezone(&Utc)
        };
        let end_of = |d: &str| local(&format!("{d} 00:00")) + chrono::Duration::days(1);
        for (received, due) in [
            ("2026-03-20 09:00", "2026-04-01"),
            ("2025-12-31 15:00", "2026-01-12"),
            ("2026-05-06 10:00", "2026-05-15"),
        ] {
            assert_eq!(
                calendar.deadline(local(received), five),
                Some(end_of(due)),
                "received {received}"
            );
        }
        // One hour is clock time across the 2024 switch of Almaty from +06 to +05.
        let at: DateTime<Utc> = "2024-02-29T17:30:00Z".parse().expect("instant");
        let hour = TimeLimit::Elapsed(chrono::Duration::hours(1));
        assert_eq!(
            calendar.deadline(at, hour),
            Some(at + chrono::Duration::hours(1))
        );
    }

    #[test]
    fn a_request_received_on_a_day_off_counts_from_the_next_working_day() {
        let calendar = WorkingCalendar::kazakhstan();
        let saturday: DateTime<Utc> = "2026-11-21T06:00:00Z".parse().expect("instant");
        let one = TimeLimit::WorkingDays {
            days: 1,
            receipt_day_counts: true,
        };
        // Received Saturday: treated as received Monday 23rd, which counts as the one day.
        let due = Almaty
            .with_ymd_and_hms(2026, 11, 24, 0, 0, 0)
            .single()
            .expect("time");
        assert_eq!(
            calendar.deadline(saturday, one),
            Some(due.with_timezone(&Utc))
        );
    }

    #[test]
    fn a_calendar_with_an_impossible_holiday_is_refused() {
        let text =
            r#"{"holidays": [{"name": "x", "month": 2, "day": 30, "moves_off_weekend": true}]}"#;
        assert!(matches!(
            WorkingCalendar::from_json(text),
            Err(CalendarError::BadHoliday { .. })
        ));
        assert!(matches!(
            WorkingCalendar::from_json("{"),
            Err(CalendarError::Invalid(_))
        ));
    }

    proptest! {
        #[test]
        fn a_working_day_deadline_never_ends_on_a_day_off(
            seconds in 1_600_000_000i64..1_900_000_000, days in 1u32..30, counts in any::<bool>()
        ) {
            let calendar = WorkingCalendar::kazakhstan();
            let received = DateTime::from_timestamp(seconds, 0).expect("instant");
            let limit = TimeLimit::WorkingDays { days, receipt_day_counts: counts };
            let due = calendar.deadline(received, limit).expect("a deadline");
            // The last day counted is the local day before the exclusive end.
            let last = (due.with_timezone(&Almaty) - chrono::Duration::seconds(1)).date_naive();
            prop_assert!(calendar.is_working_day(last));
            prop_assert!(due > received);
        }
    }

    /// A new year's decree is a data change (docs/national-rules.md 4): a calendar file with one
    /// more day off moves a working-day deadline past it; and the process's calendar, once in
    /// use, is never swapped while deadlines are being computed.
    #[test]
    fn a_decree_in_the_calendar_file_moves_deadlines_and_the_calendar_in_use_stays() {
        let mut data: serde_json::Value =
            serde_json::from_str(DEFAULT_CALENDAR).expect("shipped calendar");
        // Wednesday 2 December 2026, made a day off by a decree.
        data["days_off"]
            .as_array_mut()
            .expect("days off")
            .push(serde_json::json!({"date": "2026-12-02", "reason": "a decree"}));
        let decreed = WorkingCalendar::from_json(&data.to_string()).expect("valid");
        let shipped = WorkingCalendar::kazakhstan();
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).expect("date");
        assert!(shipped.is_working_day(day));
        assert!(!decreed.is_working_day(day));
        // Received on Tuesday: one working day is Wednesday, or Thursday after the decree.
        let received = Almaty
            .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc);
        let limit = TimeLimit::WorkingDays {
            days: 1,
            receipt_day_counts: false,
        };
        let (before, after) = (
            shipped.deadline(received, limit).expect("a deadline"),
            decreed.deadline(received, limit).expect("a deadline"),
        );
        assert_eq!(
            after - before,
            chrono::Duration::days(1),
            "{before} -> {after}"
        );
        let _in_use = WorkingCalendar::shared();
        assert!(decreed.install().is_err(), "the calendar in use stays");
    }
}
