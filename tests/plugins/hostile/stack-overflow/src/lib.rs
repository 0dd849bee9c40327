//! Hostile test plugin `hostile-stack-overflow` (world `image-transform`): `transform`
//! recurses without bound, each frame holding a 256-byte array and adding to the callee's
//! result (no tail call), so neither the shadow stack in linear memory nor the wasm call stack
//! can be optimised away. It ends in a trap (stack exhaustion or an out-of-bounds write below
//! address 0). `info()` is well behaved.

use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};
use std::hint::black_box;

/// One more frame, forever (the exit condition never holds but the optimiser cannot know).
#[inline(never)]
fn dive(depth: u64, parent: &mut [u64; 32]) -> u64 {
    let mut local = [depth; 32];
    local[(depth % 32) as usize] = parent[0];
    black_box(&mut local);
    if black_box(depth) == u64::MAX {
        return local[0];
    }
    dive(depth + 1, &mut local).wrapping_add(local[1])
}

/// The plugin.
pub struct StackOverflow;

impl ImageTransform for StackOverflow {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-stack-overflow",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: transform recurses without bound.",
            vec![],
        )
    }

    fn transform(_series: Vec<f64>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        let v = dive(0, &mut [0; 32]);
        Ok(Matrix { size: 1, data: vec![v as f64] })
    }
}

export_image_transform!(StackOverflow);
