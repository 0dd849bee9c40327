//! Hostile test plugin `hostile-wasi-sockets` (world `image-transform`): the component imports
//! `wasi:sockets/*` and `transform` tries to open a TCP connection to 127.0.0.1:9 (through
//! `std::net::TcpStream`, which wasip2 implements with wasi:sockets). The host must refuse the
//! component at upload (import outside the allow-list) or, if it is instantiated anyway, the
//! connection must fail: then `transform` returns `failed("connect: <error>")`. A successful
//! connection returns the 1 × 1 matrix `[1.0]`, which a test can treat as a sandbox escape.

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};
use std::net::TcpStream;

/// The plugin.
pub struct WasiSockets;

impl ImageTransform for WasiSockets {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-wasi-sockets",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: transform opens a TCP connection.",
            vec![],
        )
    }

    fn transform(_series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        match TcpStream::connect(("127.0.0.1", 9)) {
            Ok(_) => Ok(Matrix { size: 1, data: vec![1.0] }),
            Err(e) => Err(PluginError::Failed(format!("connect: {e}"))),
        }
    }
}

export_image_transform!(WasiSockets);
