//! The export macros ([`export_image_transform!`](crate::export_image_transform),
//! [`export_strategy!`](crate::export_strategy), [`export_blender!`](crate::export_blender))
//! and the glue they expand to: the output checks, the strategy cell, and the one conversion
//! of the contract's [`PluginInfo`](crate::PluginInfo) to its WIT twin.

/// Glue used by the export macros; not part of the API (re-exported as `__private`).
#[doc(hidden)]
pub mod glue {
    use crate::bindings::types as wit;
    use crate::{
        Bar, BarColumns, Blender, Decision, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind,
        Strategy,
    };
    use std::cell::RefCell;

    pub use std::string::String;
    pub use std::vec::Vec;

    /// The contract's [`PluginInfo`] as the WIT record `info()` returns: the one place the two
    /// meet on the guest side.
    pub fn wit_info(info: PluginInfo) -> wit::PluginInfo {
        wit::PluginInfo {
            name: info.name,
            version: info.version,
            kind: match info.kind {
                PluginKind::ImageTransform => wit::PluginKind::ImageTransform,
                PluginKind::Strategy => wit::PluginKind::Strategy,
                PluginKind::Blender => wit::PluginKind::Blender,
            },
            description: info.description,
            params: info
                .params
                .into_iter()
                .map(|p| wit::ParamSpec { name: p.name, kind: p.kind, default: p.default, doc: p.doc })
                .collect(),
        }
    }

    /// The contract types of `gaf:plugin@0.2.0`'s strategy world.
    pub use crate::bindings::next::strategy::gaf::plugin::types as next;

    /// [`wit_info`] as the 0.2.0 record.
    pub fn next_info(info: PluginInfo) -> next::PluginInfo {
        let w = wit_info(info);
        next::PluginInfo {
            name: w.name,
            version: w.version,
            kind: next::PluginKind::Strategy,
            description: w.description,
            params: w
                .params
                .into_iter()
                .map(|p| next::ParamSpec { name: p.name, kind: p.kind, default: p.default, doc: p.doc })
                .collect(),
        }
    }

    /// 0.2.0 parameters as the 0.1.0 ones the trait takes.
    pub fn from_next_params(params: Vec<next::Param>) -> Vec<Param> {
        params.into_iter().map(|p| Param { name: p.name, value: p.value }).collect()
    }

    /// 0.2.0 bars as the 0.1.0 ones the trait takes.
    pub fn from_next_bars(bars: Vec<next::Bar>) -> Vec<Bar> {
        bars.into_iter().map(from_next_bar).collect()
    }

    /// 0.2.0 bar columns as the SDK's [`BarColumns`] (the columns move, nothing is copied).
    pub fn from_next_columns(c: next::BarColumns) -> BarColumns {
        BarColumns {
            time_ms: c.time_ms,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            buy_volume: c.buy_volume,
            sell_volume: c.sell_volume,
        }
    }

    /// A 0.2.0 bar as the 0.1.0 record the [`Strategy`] trait takes.
    pub fn from_next_bar(b: next::Bar) -> Bar {
        cgaf_plugin_contract::bar_record!(Bar, b)
    }

    /// A decision as the 0.2.0 record.
    pub fn to_next_decision(d: Decision) -> next::Decision {
        next::Decision { target: d.target, reason: d.reason }
    }

    /// Decisions as the 0.2.0 records.
    pub fn to_next_decisions(ds: Vec<Decision>) -> Vec<next::Decision> {
        ds.into_iter().map(to_next_decision).collect()
    }

    /// An error as the 0.2.0 variant.
    pub fn to_next_error(e: PluginError) -> next::PluginError {
        match e {
            PluginError::InvalidParams(m) => next::PluginError::InvalidParams(m),
            PluginError::InvalidInput(m) => next::PluginError::InvalidInput(m),
            PluginError::Failed(m) => next::PluginError::Failed(m),
        }
    }

    /// A strategy instance behind the resource handle.
    pub struct StrategyCell<T>(RefCell<T>);

    fn busy() -> PluginError {
        PluginError::Failed("the strategy instance was re-entered".into())
    }

    /// `transform` with the output checked.
    pub fn transform<T: ImageTransform>(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let m = T::transform(series, params)?;
        m.check().map_err(|e| PluginError::Failed(format!("the plugin returned a malformed matrix: {e}")))?;
        Ok(m)
    }

    /// `blend` with the output checked.
    pub fn blend<T: Blender>(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let m = T::blend(matrices, params)?;
        m.check().map_err(|e| PluginError::Failed(format!("the plugin returned a malformed matrix: {e}")))?;
        Ok(m)
    }

    impl<T: Strategy> StrategyCell<T> {
        /// `create`.
        pub fn create(params: Vec<Param>) -> Result<StrategyCell<T>, PluginError> {
            T::create(params).map(|s| StrategyCell(RefCell::new(s)))
        }

        /// `on_bars` with the answer checked: one decision per bar, finite targets in [-1, 1].
        pub fn on_bars(&self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
            let n = bars.len();
            let out = self.0.try_borrow_mut().map_err(|_| busy())?.on_bars(bars)?;
            if out.len() != n {
                return Err(PluginError::Failed(format!("the strategy returned {} decisions for {n} bars", out.len())));
            }
            if let Some((i, d)) = out.iter().enumerate().find(|(_, d)| !(-1.0..=1.0).contains(&d.target)) {
                return Err(PluginError::Failed(format!("decision {i} has target {}, outside [-1, 1]", d.target)));
            }
            Ok(out)
        }

        /// `on_bar` with the answer checked: a finite target in [-1, 1].
        pub fn on_bar(&self, bar: Bar) -> Result<Decision, PluginError> {
            let d = self.0.try_borrow_mut().map_err(|_| busy())?.on_bar(bar)?;
            if !(-1.0..=1.0).contains(&d.target) {
                return Err(PluginError::Failed(format!("decision 0 has target {}, outside [-1, 1]", d.target)));
            }
            Ok(d)
        }

        /// `targets` with the input and answer checked: columns of one length, one finite
        /// target in [-1, 1] per bar.
        pub fn targets(&self, bars: BarColumns) -> Result<Vec<f64>, PluginError> {
            bars.check()?;
            let n = bars.len();
            let out = self.0.try_borrow_mut().map_err(|_| busy())?.targets(bars)?;
            if out.len() != n {
                return Err(PluginError::Failed(format!("the strategy returned {} targets for {n} bars", out.len())));
            }
            if let Some((i, t)) = out.iter().enumerate().find(|(_, t)| !(-1.0..=1.0).contains(*t)) {
                return Err(PluginError::Failed(format!("target {i} is {t}, outside [-1, 1]")));
            }
            Ok(out)
        }

        /// `state`.
        pub fn state(&self) -> String {
            match self.0.try_borrow() {
                Ok(s) => s.state(),
                Err(_) => "{}".into(),
            }
        }

        /// `restore`.
        pub fn restore(&self, state: String) -> Result<(), PluginError> {
            self.0.try_borrow_mut().map_err(|_| busy())?.restore(state)
        }
    }
}

/// Exports a type implementing [`ImageTransform`](crate::ImageTransform) as the component's `image-transform`
/// world. Call it once, at the crate root of a `cdylib`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_image_transform {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(dead_code)]
            struct __CgafGuest;
            impl $crate::bindings::image_transform::Guest for __CgafGuest {
                fn info() -> $crate::bindings::types::PluginInfo {
                    $crate::__private::wit_info(<$t as $crate::ImageTransform>::info())
                }
                fn transform(
                    series: $crate::__private::Vec<f64>,
                    params: $crate::__private::Vec<$crate::Param>,
                ) -> ::core::result::Result<$crate::Matrix, $crate::PluginError> {
                    $crate::__private::transform::<$t>(series, params)
                }
            }
    $crate::bindings::image_transform::export!(__CgafGuest with_types_in $crate::bindings::image_transform);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::ImageTransform>() {}
            __cgaf_assert::<$t>();
        };
    };
}

/// Exports a type implementing [`Strategy`](crate::Strategy) as the component's `strategy` world (the
/// `strategy` resource of interface `strategies`). Call it once, at the crate root of a
/// `cdylib`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_strategy {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::strategy::exports::gaf::plugin::strategies as __cgaf_s;
            #[allow(dead_code)]
            struct __CgafGuest;
            struct __CgafInstance($crate::__private::StrategyCell<$t>);
            impl $crate::bindings::strategy::Guest for __CgafGuest {
                fn info() -> $crate::bindings::types::PluginInfo {
                    $crate::__private::wit_info(<$t as $crate::Strategy>::info())
                }
            }
            impl __cgaf_s::Guest for __CgafGuest {
                type Strategy = __CgafInstance;
            }
            impl __cgaf_s::GuestStrategy for __CgafInstance {
                fn create(
                    params: $crate::__private::Vec<$crate::Param>,
                ) -> ::core::result::Result<__cgaf_s::Strategy, $crate::PluginError> {
                    $crate::__private::StrategyCell::<$t>::create(params)
                        .map(|cell| __cgaf_s::Strategy::new(__CgafInstance(cell)))
                }
                fn on_bars(
                    &self,
                    bars: $crate::__private::Vec<$crate::Bar>,
                ) -> ::core::result::Result<$crate::__private::Vec<$crate::Decision>, $crate::PluginError> {
                    self.0.on_bars(bars)
                }
                fn state(&self) -> $crate::__private::String {
                    self.0.state()
                }
                fn restore(&self, state: $crate::__private::String) -> ::core::result::Result<(), $crate::PluginError> {
                    self.0.restore(state)
                }
            }
    $crate::bindings::strategy::export!(__CgafGuest with_types_in $crate::bindings::strategy);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::Strategy>() {}
            __cgaf_assert::<$t>();
        };
    };
}

/// Exports a type implementing [`Strategy`](crate::Strategy) as the `strategy` world of the draft contract
/// `gaf:plugin@0.2.0`: [`export_strategy!`]'s resource plus `targets`
/// ([`Strategy::targets`](crate::Strategy::targets)), which the host's sweeps call. Call it once, at the crate root of a
/// `cdylib`, instead of `export_strategy!`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_strategy_next {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::next as __cgaf_t;
            use $crate::bindings::next::strategy::exports::gaf::plugin::strategies as __cgaf_s;
            #[allow(dead_code)]
            struct __CgafGuest;
            struct __CgafInstance($crate::__private::StrategyCell<$t>);
            impl $crate::bindings::next::strategy::Guest for __CgafGuest {
                fn info() -> __cgaf_t::PluginInfo {
                    $crate::__private::next_info(<$t as $crate::Strategy>::info())
                }
            }
            impl __cgaf_s::Guest for __CgafGuest {
                type Strategy = __CgafInstance;
            }
            impl __cgaf_s::GuestStrategy for __CgafInstance {
                fn create(
                    params: $crate::__private::Vec<__cgaf_t::Param>,
                ) -> ::core::result::Result<__cgaf_s::Strategy, __cgaf_t::PluginError> {
                    $crate::__private::StrategyCell::<$t>::create($crate::__private::from_next_params(params))
                        .map(|cell| __cgaf_s::Strategy::new(__CgafInstance(cell)))
                        .map_err($crate::__private::to_next_error)
                }
                fn on_bars(
                    &self,
                    bars: $crate::__private::Vec<__cgaf_t::Bar>,
                ) -> ::core::result::Result<$crate::__private::Vec<__cgaf_t::Decision>, __cgaf_t::PluginError> {
                    self.0
                        .on_bars($crate::__private::from_next_bars(bars))
                        .map($crate::__private::to_next_decisions)
                        .map_err($crate::__private::to_next_error)
                }
                fn targets(
                    &self,
                    bars: __cgaf_t::BarColumns,
                ) -> ::core::result::Result<$crate::__private::Vec<f64>, __cgaf_t::PluginError> {
                    self.0.targets($crate::__private::from_next_columns(bars)).map_err($crate::__private::to_next_error)
                }
                fn on_bar(
                    &self,
                    bar: __cgaf_t::Bar,
                ) -> ::core::result::Result<__cgaf_t::Decision, __cgaf_t::PluginError> {
                    self.0
                        .on_bar($crate::__private::from_next_bar(bar))
                        .map($crate::__private::to_next_decision)
                        .map_err($crate::__private::to_next_error)
                }
                fn state(&self) -> $crate::__private::String {
                    self.0.state()
                }
                fn restore(
                    &self,
                    state: $crate::__private::String,
                ) -> ::core::result::Result<(), __cgaf_t::PluginError> {
                    self.0.restore(state).map_err($crate::__private::to_next_error)
                }
            }
    $crate::bindings::next::strategy::export!(__CgafGuest with_types_in $crate::bindings::next::strategy);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::Strategy>() {}
            __cgaf_assert::<$t>();
        };
    };
}

/// Exports a type implementing [`Blender`](crate::Blender) as the component's `blender` world. Call it once,
/// at the crate root of a `cdylib`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_blender {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(dead_code)]
            struct __CgafGuest;
            impl $crate::bindings::blender::Guest for __CgafGuest {
                fn info() -> $crate::bindings::types::PluginInfo {
                    $crate::__private::wit_info(<$t as $crate::Blender>::info())
                }
                fn blend(
                    matrices: $crate::__private::Vec<$crate::Matrix>,
                    params: $crate::__private::Vec<$crate::Param>,
                ) -> ::core::result::Result<$crate::Matrix, $crate::PluginError> {
                    $crate::__private::blend::<$t>(matrices, params)
                }
            }
    $crate::bindings::blender::export!(__CgafGuest with_types_in $crate::bindings::blender);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::Blender>() {}
            __cgaf_assert::<$t>();
        };
    };
}

#[cfg(test)]
mod tests {
    use crate::{Bar, Decision, Param, PluginError, PluginInfo, PluginKind, Strategy};

    struct Liar;

    impl Strategy for Liar {
        fn info() -> PluginInfo {
            PluginInfo::new("liar", "1.0.0", PluginKind::Strategy, "Answers badly.", vec![])
        }
        fn create(_: Vec<Param>) -> Result<Self, PluginError> {
            Ok(Liar)
        }
        fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
            Ok(bars.iter().map(|b| Decision::new(b.close, None)).chain([Decision::new(0.0, None)]).collect())
        }
        fn state(&self) -> String {
            "{}".into()
        }
        fn restore(&mut self, _: String) -> Result<(), PluginError> {
            Ok(())
        }
    }

    /// One decision per bar, its target the bar's close.
    struct Echo;

    impl Strategy for Echo {
        fn info() -> PluginInfo {
            PluginInfo::new("echo", "1.0.0", PluginKind::Strategy, "Targets the close.", vec![])
        }
        fn create(_: Vec<Param>) -> Result<Self, PluginError> {
            Ok(Echo)
        }
        fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
            Ok(bars.iter().map(|b| Decision::new(b.close, Some("echo".into()))).collect())
        }
        fn state(&self) -> String {
            "{}".into()
        }
        fn restore(&mut self, _: String) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[test]
    fn strategy_answers_are_checked() {
        let bar = |close| Bar {
            time_ms: 0,
            open: close,
            high: close,
            low: close,
            close,
            volume: 0.0,
            buy_volume: 0.0,
            sell_volume: 0.0,
        };
        let cell = super::glue::StrategyCell::<Liar>::create(vec![]).unwrap();
        assert_eq!(cell.on_bars(vec![bar(0.5)]).unwrap_err().message(), "the strategy returned 2 decisions for 1 bars");
        // `on_bar` by default is a one-bar `on_bars`, checked the same way.
        assert_eq!(cell.on_bar(bar(0.5)).unwrap_err().message(), "the strategy returned 2 decisions for 1 bars");
        let echo = super::glue::StrategyCell::<Echo>::create(vec![]).unwrap();
        let d = echo.on_bar(bar(0.5)).unwrap();
        assert_eq!((d.target, d.reason.as_deref()), (0.5, Some("echo")));
        assert_eq!(echo.on_bar(bar(2.0)).unwrap_err().message(), "decision 0 has target 2, outside [-1, 1]");
        assert_eq!(echo.on_bar(bar(f64::NAN)).unwrap_err().message(), "decision 0 has target NaN, outside [-1, 1]");
        let columns = crate::BarColumns::of(&[bar(0.5)]);
        assert_eq!(cell.targets(columns.clone()).unwrap_err().message(), "the strategy returned 2 targets for 1 bars");
        let mut short = columns;
        short.close.clear();
        assert_eq!(cell.targets(short).unwrap_err().message(), "bar column close holds 0 values, time-ms 1");
        assert_eq!(cell.state(), "{}");
        assert!(cell.restore("{}".into()).is_ok());
    }
}
