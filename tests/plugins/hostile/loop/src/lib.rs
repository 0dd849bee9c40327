//! Hostile test plugin `hostile-loop` (world `image-transform`): `transform` never returns; it
//! spins on arithmetic the optimiser cannot remove. The host's fuel / epoch deadline must stop
//! it. `info()` is well behaved.

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};
use std::hint::black_box;

/// The plugin.
pub struct Loop;

impl ImageTransform for Loop {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-loop",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: transform loops forever.",
            vec![],
        )
    }

    fn transform(series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        let mut x = black_box(series.len() as u64);
        loop {
            x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
        }
    }
}

export_image_transform!(Loop);
