//! Hostile test plugin `hostile-huge-result` (world `image-transform`): `transform` returns a
//! `size` × `size` matrix of 0.5 whatever the series. Parameter `size` (int, default 2048):
//! the default is 4 Mi values = 32 MiB of f64, allocatable under a 64 MiB memory cap, so it
//! tests the host's *result-size* cap; `size=4096` (128 MiB) tests the memory cap instead.
//! `info()` is well behaved.

use cgaf_plugin_sdk::params::invalid;
use cgaf_plugin_sdk::{
    export_image_transform, ImageTransform, Matrix, Param, ParamSpec, Params, PluginError, PluginInfo, PluginKind,
};

/// The plugin.
pub struct HugeResult;

impl ImageTransform for HugeResult {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-huge-result",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: transform returns a size x size matrix (default 2048: 32 MiB).",
            vec![ParamSpec::new("size", "int", "2048", "Edge of the returned matrix.")],
        )
    }

    fn transform(_series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let info = Self::info();
        let size = Params::parse(&info.params, &params)?.get_int("size")?;
        let size = u32::try_from(size).map_err(|_| invalid("size", "must fit a u32"))?;
        Ok(Matrix { size, data: vec![0.5; size as usize * size as usize] })
    }
}

export_image_transform!(HugeResult);
