//! Hostile test plugin `hostile-memory-bomb` (world `image-transform`): `transform` allocates
//! 16 MiB chunks, writes to each and keeps them all alive, without bound, until an allocation
//! fails (then Rust aborts: a trap). The host's linear-memory cap must stop it well before the
//! machine runs out. `info()` is well behaved.

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};
use std::hint::black_box;

/// Bytes per chunk.
const CHUNK: usize = 16 << 20;

/// The plugin.
pub struct MemoryBomb;

impl ImageTransform for MemoryBomb {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-memory-bomb",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: transform allocates 16 MiB chunks without bound.",
            vec![],
        )
    }

    fn transform(_series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = vec![1u8; CHUNK];
            for i in (0..CHUNK).step_by(4096) {
                chunk[i] = black_box(i as u8);
            }
            hoard.push(chunk);
            black_box(&mut hoard);
        }
    }
}

export_image_transform!(MemoryBomb);
