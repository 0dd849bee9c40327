//! The raw bindings wit-bindgen generates for the three worlds of `gaf:plugin@0.1.0`, and for the
//! strategy world of the draft `gaf:plugin@0.2.0` ([`next`]).
//!
//! Plugins normally never touch this module: implement [`ImageTransform`](crate::ImageTransform),
//! [`Strategy`](crate::Strategy) or [`Blender`](crate::Blender) and call the matching export
//! macro. It is public for the export macros and for plugins that need the raw world (for
//! example a test plugin exporting a world its `info()` does not claim).
//!
//! The shared `gaf:plugin/types` interface is generated once, in [`image_transform`]; the
//! other worlds reuse those Rust types, so a [`Matrix`](crate::Matrix) is the same type in
//! every world.
//!
//! Each `generate!` here only embeds the *imports* of its world in this library; the full
//! world (with its exports) is embedded by the export macro in the plugin crate, so a plugin
//! that exports one world does not also claim the exports of the others.

/// Bindings of world `gaf:plugin/image-transform` (also the home of the shared types).
#[allow(missing_docs, clippy::all)]
pub mod image_transform {
    wit_bindgen::generate!({
        path: "wit",
        world: "gaf:plugin/image-transform",
        pub_export_macro: true,
        additional_derives: [PartialEq],
    });
}

/// Bindings of world `gaf:plugin/strategy`.
#[allow(missing_docs, clippy::all)]
pub mod strategy {
    wit_bindgen::generate!({
        path: "wit",
        world: "gaf:plugin/strategy",
        pub_export_macro: true,
        with: { "gaf:plugin/types@0.1.0": crate::bindings::image_transform::gaf::plugin::types },
    });
}

/// Bindings of world `gaf:plugin/blender`.
#[allow(missing_docs, clippy::all)]
pub mod blender {
    wit_bindgen::generate!({
        path: "wit",
        world: "gaf:plugin/blender",
        pub_export_macro: true,
        with: { "gaf:plugin/types@0.1.0": crate::bindings::image_transform::gaf::plugin::types },
    });
}

/// Bindings of the draft contract `gaf:plugin@0.2.0` (`wit-next/`, a copy of the repository's
/// `wit/next/plugin.wit`): its `strategy` world, which adds `targets` and `on-bar` to the strategy
/// resource. Its types are its own (generated from the 0.2.0 `types` interface); the export macro
/// [`export_strategy_next!`](crate::export_strategy_next) converts them to and from the 0.1.0
/// types the [`Strategy`](crate::Strategy) trait speaks.
pub mod next {
    /// Bindings of world `gaf:plugin/strategy@0.2.0` (as `sdk-strategy-next`, `wit-next/sdk.wit`).
    #[allow(missing_docs, clippy::all)]
    pub mod strategy {
        wit_bindgen::generate!({
            path: "wit-next",
            world: "gaf:plugin/sdk-strategy-next",
            pub_export_macro: true,
        });
    }
}

pub use image_transform::gaf::plugin::types;
