//! Hostile test plugin `hostile-lying-targets` (world `strategy` of `gaf:plugin@0.2.0`, built with
//! wit-bindgen directly so that no SDK check stands between it and the host): `on-bars` answers
//! target 0 per bar, as the contract asks; `targets` breaks the contract the way parameter `lie`
//! says — `count` (one target too many), `range` (target 2), `nan` (a NaN target) or `none`
//! (honest: one 0 per bar) — and so does `on-bar` for `range` and `nan` (it answers one decision,
//! so it cannot lie about the count). The host must refuse each lie with an error, never pass it
//! on. With `differ`, every answer is valid but `on-bar` targets 1 where `on-bars` targets 0: a
//! strategy whose one-bar calls decide otherwise than its lists, which `cgaf plugin test` reports.

// wit-bindgen's export glue declares the component's entry points (`export_name`, `unsafe`); it
// is only emitted for wasm (the resource's export names are not valid native symbols), so off
// wasm the guest types are unused.
#![allow(unsafe_code)]
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "../../../../wit/next", world: "gaf:plugin/strategy" });
}

use bindings::exports::gaf::plugin::strategies::{Guest, GuestStrategy, Strategy};
use bindings::gaf::plugin::types::{Bar, BarColumns, Decision, Param, ParamSpec, PluginError, PluginInfo, PluginKind};

/// The component.
struct LyingTargets;

/// One instance: the lie it tells.
struct Instance {
    lie: String,
}

impl bindings::Guest for LyingTargets {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "hostile-lying-targets".into(),
            version: "0.2.0".into(),
            kind: PluginKind::Strategy,
            description: "Hostile: targets answers too many targets, out of range or NaN.".into(),
            params: vec![ParamSpec {
                name: "lie".into(),
                kind: "str".into(),
                default: "count".into(),
                doc: "count, range, nan, none or differ.".into(),
            }],
        }
    }
}

impl Guest for LyingTargets {
    type Strategy = Instance;
}

impl GuestStrategy for Instance {
    fn create(params: Vec<Param>) -> Result<Strategy, PluginError> {
        let mut lie = "count".to_string();
        for p in params {
            match (p.name.as_str(), p.value.as_str()) {
                ("lie", "count" | "range" | "nan" | "none" | "differ") => lie = p.value,
                (name, value) => return Err(PluginError::InvalidParams(format!("bad parameter {name}={value}"))),
            }
        }
        Ok(Strategy::new(Instance { lie }))
    }

    fn on_bars(&self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
        Ok(bars.iter().map(|_| Decision { target: 0.0, reason: None }).collect())
    }

    fn targets(&self, bars: BarColumns) -> Result<Vec<f64>, PluginError> {
        let mut out = vec![0.0; bars.close.len()];
        match self.lie.as_str() {
            "count" => out.push(0.0),
            "range" => out[0] = 2.0,
            "nan" => out[0] = f64::NAN,
            _ => {}
        }
        Ok(out)
    }

    fn on_bar(&self, _bar: Bar) -> Result<Decision, PluginError> {
        let target = match self.lie.as_str() {
            "range" => 2.0,
            "nan" => f64::NAN,
            "differ" => 1.0,
            _ => 0.0,
        };
        Ok(Decision { target, reason: None })
    }

    fn state(&self) -> String {
        "{}".into()
    }

    fn restore(&self, _state: String) -> Result<(), PluginError> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(LyingTargets with_types_in bindings);
