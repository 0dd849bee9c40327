//! The three worlds a plugin can implement, one trait each: [`ImageTransform`], [`Strategy`]
//! and [`Blender`]. Export the implementing type with the matching macro.

use crate::{Bar, BarColumns, Decision, Matrix, Param, PluginError, PluginInfo};

/// An image transform (world `image-transform`): a series (oldest → newest) and parameters in,
/// a square matrix out.
///
/// ```
/// use cgaf_plugin_sdk::{
///     export_image_transform, ImageTransform, Matrix, Param, ParamSpec, Params, PluginError,
///     PluginInfo, PluginKind,
/// };
///
/// /// `m[i][j] = scale * x[i] * x[j]`.
/// pub struct OuterProduct;
///
/// impl ImageTransform for OuterProduct {
///     fn info() -> PluginInfo {
///         PluginInfo::new(
///             "outer-product",
///             "1.0.0",
///             PluginKind::ImageTransform,
///             "The scaled outer product of the series with itself.",
///             vec![ParamSpec::new("scale", "float", "1.0", "Factor applied to every cell.")],
///         )
///     }
///
///     fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
///         let info = Self::info();
///         let scale = Params::parse(&info.params, &params)?.get_f64("scale")?;
///         if series.is_empty() || series.iter().any(|v| !v.is_finite()) {
///             return Err(PluginError::InvalidInput("the series must be non-empty and finite".into()));
///         }
///         let data = series.iter().flat_map(|a| series.iter().map(move |b| scale * a * b)).collect();
///         Matrix::new(series.len(), data)
///     }
/// }
///
/// export_image_transform!(OuterProduct);
///
/// # fn main() {
/// let m = OuterProduct::transform(vec![1.0, 2.0], vec![Param::new("scale", "2")]).unwrap();
/// assert_eq!(m.data, [2.0, 4.0, 4.0, 8.0]);
/// # }
/// ```
pub trait ImageTransform {
    /// Who this plugin is (name, version, kind, description, parameter schema).
    fn info() -> PluginInfo;
    /// Transforms `series` with `params`.
    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError>;
}

/// A strategy (world `strategy`): one instance per run, fed bars in time order, answering one
/// [`Decision`] per bar. The export macro wraps the instance in a `RefCell`, so the methods
/// take `&mut self`.
///
/// `state` must describe the instance completely: the host may call `restore` with it on a
/// fresh instance (created with the same parameters) and expects the same decisions as the
/// original would have made.
///
/// ```
/// use cgaf_plugin_sdk::{
///     export_strategy, Bar, Decision, Param, ParamSpec, Params, PluginError, PluginInfo,
///     PluginKind, Strategy,
/// };
///
/// /// Long when the close is above the previous close, short when below.
/// pub struct Momentum {
///     last: Option<f64>,
///     size: f64,
/// }
///
/// impl Strategy for Momentum {
///     fn info() -> PluginInfo {
///         PluginInfo::new(
///             "momentum",
///             "1.0.0",
///             PluginKind::Strategy,
///             "Follows the sign of the last close-to-close move.",
///             vec![ParamSpec::new("size", "float", "1.0", "Target size in (0, 1].")],
///         )
///     }
///
///     fn create(params: Vec<Param>) -> Result<Self, PluginError> {
///         let info = Self::info();
///         let size = Params::parse(&info.params, &params)?.get_f64("size")?;
///         if !(size > 0.0 && size <= 1.0) {
///             return Err(cgaf_plugin_sdk::params::invalid("size", "must be in (0, 1]"));
///         }
///         Ok(Momentum { last: None, size })
///     }
///
///     fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
///         let mut out = Vec::with_capacity(bars.len());
///         for bar in bars {
///             let target = match self.last {
///                 Some(prev) if bar.close > prev => self.size,
///                 Some(prev) if bar.close < prev => -self.size,
///                 _ => 0.0,
///             };
///             self.last = Some(bar.close);
///             out.push(Decision::new(target, None));
///         }
///         Ok(out)
///     }
///
///     fn state(&self) -> String {
///         match self.last {
///             Some(v) => format!("{{\"last\":{v:?}}}"),
///             None => "{\"last\":null}".into(),
///         }
///     }
///
///     fn restore(&mut self, state: String) -> Result<(), PluginError> {
///         let v = state.trim().trim_start_matches("{\"last\":").trim_end_matches('}');
///         self.last = if v == "null" {
///             None
///         } else {
///             Some(v.parse().map_err(|_| PluginError::InvalidInput("bad state".into()))?)
///         };
///         Ok(())
///     }
/// }
///
/// export_strategy!(Momentum);
///
/// # fn main() {
/// let bar = |close| Bar { time_ms: 0, open: close, high: close, low: close, close, volume: 0.0,
///     buy_volume: 0.0, sell_volume: 0.0 };
/// let mut s = Momentum::create(vec![]).unwrap();
/// let d = s.on_bars(vec![bar(1.0), bar(2.0), bar(1.5)]).unwrap();
/// assert_eq!(d.iter().map(|d| d.target).collect::<Vec<_>>(), [0.0, 1.0, -1.0]);
/// assert_eq!(s.state(), "{\"last\":1.5}");
/// # }
/// ```
pub trait Strategy: Sized + 'static {
    /// Who this plugin is (name, version, kind, description, parameter schema).
    fn info() -> PluginInfo;
    /// Creates an instance; refuses unknown or invalid parameters.
    fn create(params: Vec<Param>) -> Result<Self, PluginError>;
    /// Feeds bars in time order; returns exactly one decision per bar, in the same order.
    fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError>;
    /// Feeds bars as columns exactly as [`Strategy::on_bars`] does (the same state afterwards)
    /// and returns only each bar's target: contract 0.2.0's `targets`, exported by
    /// [`export_strategy_next!`](crate::export_strategy_next), which sweeps call (they keep no
    /// decision log). The default builds the bars and calls `on_bars`; override it when the
    /// strategy can skip building decisions and reasons.
    fn targets(&mut self, bars: BarColumns) -> Result<Vec<f64>, PluginError> {
        Ok(self.on_bars(bars.to_bars())?.into_iter().map(|d| d.target).collect())
    }
    /// Feeds one bar exactly as [`Strategy::on_bars`] does a one-bar list (the same state and
    /// decision afterwards): contract 0.2.0's `on-bar`, exported by
    /// [`export_strategy_next!`](crate::export_strategy_next), which runs call once per bar. The
    /// default calls `on_bars` with a one-bar list; override it to skip the list.
    fn on_bar(&mut self, bar: Bar) -> Result<Decision, PluginError> {
        let mut out = self.on_bars(vec![bar])?;
        match (out.pop(), out.is_empty()) {
            (Some(d), true) => Ok(d),
            (d, _) => Err(PluginError::Failed(format!(
                "the strategy returned {} decisions for 1 bars",
                out.len() + usize::from(d.is_some())
            ))),
        }
    }
    /// The instance's complete state as a JSON object.
    fn state(&self) -> String;
    /// Restores a state written by [`Strategy::state`].
    fn restore(&mut self, state: String) -> Result<(), PluginError>;
}

/// A blender (world `blender`): the last k matrices (oldest first, all the same size) in, one
/// matrix out. [`check_blend_inputs`](crate::check_blend_inputs) does the usual input checks.
///
/// ```
/// use cgaf_plugin_sdk::{
///     check_blend_inputs, export_blender, Blender, Matrix, Param, Params, PluginError,
///     PluginInfo, PluginKind,
/// };
///
/// /// The element-wise maximum.
/// pub struct BlendMax;
///
/// impl Blender for BlendMax {
///     fn info() -> PluginInfo {
///         PluginInfo::new("blend-max", "1.0.0", PluginKind::Blender, "Element-wise maximum.", vec![])
///     }
///
///     fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
///         Params::parse(&Self::info().params, &params)?;
///         let size = check_blend_inputs(&matrices)?;
///         let mut out = matrices[0].data.clone();
///         for m in &matrices[1..] {
///             for (o, v) in out.iter_mut().zip(&m.data) {
///                 *o = o.max(*v);
///             }
///         }
///         Matrix::new(size, out)
///     }
/// }
///
/// export_blender!(BlendMax);
///
/// # fn main() {
/// let a = Matrix::new(1, vec![1.0]).unwrap();
/// let b = Matrix::new(1, vec![3.0]).unwrap();
/// assert_eq!(BlendMax::blend(vec![a, b], vec![]).unwrap().data, [3.0]);
/// assert!(BlendMax::blend(vec![], vec![]).is_err());
/// # }
/// ```
pub trait Blender {
    /// Who this plugin is (name, version, kind, description, parameter schema).
    fn info() -> PluginInfo;
    /// Blends `matrices` (oldest first) with `params`.
    fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError>;
}
