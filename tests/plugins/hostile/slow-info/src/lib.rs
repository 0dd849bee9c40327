//! Hostile test plugin `hostile-slow-info` (world `image-transform`): `info()` never returns
//! (it spins like `hostile-loop`), so inspecting the component at upload must be bounded by the
//! same deadline as any call. `transform` is well behaved (returns the 1 × 1 matrix `[0.0]`).

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo};
use std::hint::black_box;

/// The plugin.
pub struct SlowInfo;

impl ImageTransform for SlowInfo {
    fn info() -> PluginInfo {
        let mut x = black_box(1u64);
        loop {
            x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
        }
    }

    fn transform(_series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        Ok(Matrix { size: 1, data: vec![0.0] })
    }
}

export_image_transform!(SlowInfo);
