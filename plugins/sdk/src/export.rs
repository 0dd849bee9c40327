//! The export macros ([`export_image_transform!`](crate::export_image_transform),
//! [`export_strategy!`](crate::export_strategy), [`export_blender!`](crate::export_blender))
//! and the glue they expand to: the output checks, the strategy cell, and the one conversion
//! of the contract's [`PluginInfo`](crate::PluginInfo) to its WIT twin.

/// Glue used by the export macros; not part of the API (re-exported as `__private`).
#[doc(hidden)]
pub mod glue {
    use crate::bindings::types as wit;
    use crate::{Bar, Blender, Decision, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind, Strategy};
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

/// Exports a type implementing [`ImageTransform`] as the component's `image-transform`
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

/// Exports a type implementing [`Strategy`] as the component's `strategy` world (the
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

/// Exports a type implementing [`Blender`] as the component's `blender` world. Call it once,
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
        assert_eq!(cell.state(), "{}");
        assert!(cell.restore("{}".into()).is_ok());
    }
}
