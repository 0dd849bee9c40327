//! Hostile test plugin `bad-info` (world `image-transform`): `info()` returns the invalid name
//! `BAD NAME!` and the version `not-semver`; the host must refuse it at upload. `transform`
//! is well behaved (returns the 1 × 1 matrix `[0.0]`).

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The plugin.
pub struct BadInfo;

impl ImageTransform for BadInfo {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "BAD NAME!",
            "not-semver",
            PluginKind::ImageTransform,
            "Hostile: invalid name and version.",
            vec![],
        )
    }

    fn transform(_series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        Ok(Matrix { size: 1, data: vec![0.0] })
    }
}

export_image_transform!(BadInfo);
