//! Run modes and statuses, with the strings they have on the wire (JSON) and in SQL.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An unknown mode or status string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} must be one of {allowed}, not {given:?}")]
pub struct UnknownName {
    /// What was parsed (`mode`, `status`).
    pub what: &'static str,
    /// The accepted names, comma-separated.
    pub allowed: String,
    /// The text given.
    pub given: String,
}

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase", try_from = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name on the wire and in SQL.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownName;
            fn try_from(s: String) -> Result<Self, UnknownName> {
                s.parse()
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: $what,
                        allowed: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                        given: s.to_string(),
                    }),
                }
            }
        }
    };
}

named_enum!(
    /// How a run gets its bars.
    RunMode, "mode", {
        /// Over a stored range, as fast as possible.
        Backtest => "backtest",
        /// Following live data, bar by bar as they close.
        Paper => "paper",
    }
);

named_enum!(
    /// Where a run is in its life.
    RunStatus, "status", {
        /// Created, not yet claimed by a worker.
        Pending => "pending",
        /// Claimed and executing.
        Running => "running",
        /// Went through all its bars.
        Finished => "finished",
        /// Stopped on request, by the risk gate or the kill switch.
        Stopped => "stopped",
        /// Failed (the reason is stored with it).
        Failed => "failed",
    }
);

named_enum!(
    /// Where a sweep is in its life.
    SweepStatus, "status", {
        /// Created, not yet claimed.
        Pending => "pending",
        /// Claimed and executing.
        Running => "running",
        /// Its result is stored.
        Finished => "finished",
        /// Failed (the reason is stored with it).
        Failed => "failed",
    }
);

named_enum!(
    /// Where a stored bar of the market history came from. A stored bar is only ever replaced by
    /// a bar of the same origin: collected bars (the service's own observation) are never
    /// overwritten by an import, and imported bars never by collection.
    BarOrigin, "bar origin", {
        /// Aggregated by `cgaf serve` from the samples it collected (or rolled up from such bars).
        Collected => "collected",
        /// Imported from a CSV file or downloaded from an exchange.
        Imported => "imported",
    }
);

impl RunStatus {
    /// True while the run may still change (pending or running).
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

impl SweepStatus {
    /// True while the sweep may still change (pending or running).
    pub fn is_active(self) -> bool {
        matches!(self, SweepStatus::Pending | SweepStatus::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_on_the_wire_and_as_text() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for m in RunMode::ALL {
            assert_eq!(m.as_str().parse::<RunMode>().unwrap(), *m);
        }
        assert_eq!(serde_json::from_str::<SweepStatus>("\"finished\"").unwrap(), SweepStatus::Finished);
        // A bad name in a request says which field it is.
        let e = serde_json::from_str::<RunMode>("\"later\"").unwrap_err();
        assert!(e.to_string().starts_with("mode must be one of backtest, paper"), "{e}");
        let e = "live".parse::<RunMode>().unwrap_err();
        assert!(e.to_string().contains("backtest, paper"), "{e}");
    }
}
