//! Schedules: plain intervals (`250ms`) or cron expressions, without catch-up bursts; and the
//! duration grammar (humantime) every interval flag uses.

use std::str::FromStr;
use std::time::Duration;

/// When a worker runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so often; a late tick is skipped, never burst.
    Interval(Duration),
    /// At the times of a cron expression (with seconds field).
    Cron(Box<cron::Schedule>),
}

/// Parses a positive duration in humantime's grammar — `250ms`, `5s`, `2m`, `1h 30m`, `7d` — the
/// one grammar of every interval and duration flag.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?} is not a duration like 250ms, 5s, 2m: {e}"))?;
    if d.is_zero() {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(d)
}

impl FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.split_whitespace().count() >= 5 {
            let expr = if s.split_whitespace().count() == 5 { format!("0 {s}") } else { s.to_string() };
            return cron::Schedule::from_str(&expr)
                .map(|c| Schedule::Cron(Box::new(c)))
                .map_err(|e| format!("cron expression {s:?}: {e}"));
        }
        parse_duration(s).map(Schedule::Interval)
    }
}

impl Schedule {
    /// The time between ticks: the interval, or for a cron expression the gap between its next
    /// two times.
    pub fn period(&self) -> Option<Duration> {
        match self {
            Schedule::Interval(d) => Some(*d),
            Schedule::Cron(c) => {
                let mut next = c.upcoming(chrono::Utc);
                let (a, b) = (next.next()?, next.next()?);
                (b - a).to_std().ok()
            }
        }
    }
}

/// Ticks of a schedule.
#[derive(Debug)]
pub struct Ticker {
    schedule: Schedule,
    interval: Option<tokio::time::Interval>,
}

impl Ticker {
    /// A ticker whose first tick is immediate for intervals.
    pub fn new(schedule: Schedule) -> Self {
        let interval = match &schedule {
            Schedule::Interval(d) => {
                let mut i = tokio::time::interval(*d);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                Some(i)
            }
            Schedule::Cron(_) => None,
        };
        Self { schedule, interval }
    }

    /// Waits for the next tick.
    pub async fn tick(&mut self) {
        match (&self.schedule, &mut self.interval) {
            (_, Some(i)) => {
                i.tick().await;
            }
            (Schedule::Cron(c), None) => {
                let now = chrono::Utc::now();
                let wait =
                    c.after(&now).next().and_then(|t| (t - now).to_std().ok()).unwrap_or(Duration::from_secs(60));
                tokio::time::sleep(wait).await;
            }
            (Schedule::Interval(_), None) => unreachable!("intervals always have a timer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1s 500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn schedules_parse() {
        assert!(matches!("250ms".parse::<Schedule>().unwrap(), Schedule::Interval(_)));
        assert!(matches!("*/2 * * * * *".parse::<Schedule>().unwrap(), Schedule::Cron(_)));
        assert!(matches!("*/5 * * * *".parse::<Schedule>().unwrap(), Schedule::Cron(_)));
        assert!("* * * * * * * *".parse::<Schedule>().is_err());
    }

    #[test]
    fn periods() {
        assert_eq!("250ms".parse::<Schedule>().unwrap().period(), Some(Duration::from_millis(250)));
        assert_eq!("*/2 * * * * *".parse::<Schedule>().unwrap().period(), Some(Duration::from_secs(2)));
    }
}
