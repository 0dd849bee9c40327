//! Hostile test plugin `hostile-wasi-filesystem` (world `image-transform`): the component
//! imports `wasi:filesystem/*` and `transform` reads `/etc/passwd` with `std::fs::read`. The
//! host must refuse the component at upload (import outside the allow-list) or, if it is
//! instantiated anyway, the read must fail (no preopened directories): then `transform`
//! returns `failed("read /etc/passwd: <error>")`. A successful read returns the 1 × 1 matrix
//! `[<byte count>]`, which a test can treat as a sandbox escape.

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The plugin.
pub struct WasiFilesystem;

impl ImageTransform for WasiFilesystem {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-wasi-filesystem",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: transform reads /etc/passwd.",
            vec![],
        )
    }

    fn transform(_series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        match std::fs::read("/etc/passwd") {
            Ok(bytes) => Ok(Matrix { size: 1, data: vec![bytes.len() as f64] }),
            Err(e) => Err(PluginError::Failed(format!("read /etc/passwd: {e}"))),
        }
    }
}

export_image_transform!(WasiFilesystem);
