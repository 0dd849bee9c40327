//! Hostile test plugin `hostile-wrong-world`: the component exports the **blender** world, but
//! its `info()` claims kind `image-transform`. Uploaded as an image transform it lacks the
//! `transform` export; uploaded as a blender its `info().kind` disagrees. Either way the host
//! must refuse it. `blend` itself returns the newest matrix.

use cgaf_plugin_sdk::{export_blender, Blender, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The plugin.
pub struct WrongWorld;

impl Blender for WrongWorld {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "hostile-wrong-world",
            "0.1.0",
            PluginKind::ImageTransform,
            "Hostile: exports the blender world but claims to be an image transform.",
            vec![],
        )
    }

    fn blend(matrices: Vec<Matrix>, _params: Vec<Param>) -> Result<Matrix, PluginError> {
        matrices.into_iter().last().ok_or_else(|| PluginError::InvalidInput("no matrices".into()))
    }
}

export_blender!(WrongWorld);
