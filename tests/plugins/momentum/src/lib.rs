//! Test plugin: a user-written strategy, `momentum` 0.1.0. Long while the close is above the close
//! `lookback` bars ago, short while below, flat until `lookback` bars were seen or when equal.
//! Not hostile; it lives with the test plugins because only tests upload it.

use cgaf_plugin_sdk::params::invalid;
use cgaf_plugin_sdk::{
    export_strategy, Bar, Decision, Param, ParamSpec, Params, PluginError, PluginInfo, PluginKind, Strategy,
};
use serde::{Deserialize, Serialize};

/// The state, as `state()` writes it: the last `lookback + 1` closes, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Momentum {
    lookback: usize,
    closes: Vec<f64>,
    seen: u64,
}

impl Strategy for Momentum {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "momentum",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Strategy,
            "Long while the close is above the close `lookback` bars ago, short while below.",
            vec![ParamSpec::new("lookback", "int", "5", "Bars to look back (1..=10000).")],
        )
    }

    fn create(params: Vec<Param>) -> Result<Self, PluginError> {
        let info = Self::info();
        let p = Params::parse(&info.params, &params)?;
        let lookback = p.get_int("lookback")?;
        if !(1..=10_000).contains(&lookback) {
            return Err(invalid("lookback", &format!("must be in 1..=10000, got {lookback}")));
        }
        Ok(Momentum { lookback: lookback as usize, closes: Vec::new(), seen: 0 })
    }

    fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
        Ok(bars
            .iter()
            .map(|b| {
                self.seen += 1;
                self.closes.push(b.close);
                if self.closes.len() > self.lookback + 1 {
                    self.closes.remove(0);
                }
                if self.closes.len() <= self.lookback {
                    return Decision::with_reason(0.0, "warm-up");
                }
                let past = self.closes[0];
                if b.close > past {
                    Decision::with_reason(1.0, "close above the close lookback bars ago")
                } else if b.close < past {
                    Decision::with_reason(-1.0, "close below the close lookback bars ago")
                } else {
                    Decision::with_reason(0.0, "unchanged")
                }
            })
            .collect())
    }

    fn state(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    fn restore(&mut self, state: String) -> Result<(), PluginError> {
        let s: Momentum = serde_json::from_str(&state)
            .map_err(|e| PluginError::InvalidInput(format!("cannot restore momentum state: {e}")))?;
        if s.lookback != self.lookback {
            return Err(PluginError::InvalidInput("state written with another lookback".into()));
        }
        *self = s;
        Ok(())
    }
}

export_strategy!(Momentum);
