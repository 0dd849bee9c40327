//! Hostile test plugin `hostile-panic` (world `image-transform`): `transform` panics (a trap
//! after the panic message goes to stderr). `info()` is well behaved.

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The plugin.
pub struct Panic;

impl ImageTransform for Panic {
    fn info() -> PluginInfo {
        PluginInfo::new("hostile-panic", "0.1.0", PluginKind::ImageTransform, "Hostile: transform panics.", vec![])
    }

    fn transform(series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        panic!("hostile-panic: panicking on purpose with {} values", series.len())
    }
}

export_image_transform!(Panic);
