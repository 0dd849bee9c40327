//! Test plugin for hot swaps: registers as `gadf` version 1.1.0 and returns the transpose of the
//! Gramian Angular Difference Field (its negative), so every replica's switch to it is visible
//! in its output. Not hostile; it lives with the test plugins because only tests use it.

use cgaf_kernels::params::gaf_from_pairs;
use cgaf_kernels::GafMethod;
use cgaf_plugin_sdk::{
    export_image_transform, ImageTransform, Matrix, Param, ParamSpec, PluginError, PluginInfo, PluginKind,
};

/// The next `gadf`.
pub struct GadfNext;

impl ImageTransform for GadfNext {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "gadf",
            env!("CARGO_PKG_VERSION"),
            PluginKind::ImageTransform,
            "Test version of gadf: the transposed Gramian Angular Difference Field.",
            vec![
                ParamSpec::new("image_size", "int|float", "1.0", "Output edge: int in [1, n] or fraction of n"),
                ParamSpec::new("sample_range", "tuple|none", "(-1, 1)", "Scaling range"),
                ParamSpec::new("overlapping", "bool", "False", "Overlapping PAA windows"),
            ],
        )
    }

    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let pairs: Vec<(String, String)> = params.into_iter().map(|p| (p.name, p.value)).collect();
        let m = gaf_from_pairs(&series, GafMethod::Difference, &pairs)
            .map_err(|e| PluginError::InvalidParams(format!("{}: {e}", e.python_type())))?;
        let n = m.size;
        let data = (0..n * n).map(|k| m.data[(k % n) * n + k / n]).collect();
        Matrix::new(n, data)
    }
}

export_image_transform!(GadfNext);
