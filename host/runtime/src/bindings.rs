//! Host bindings generated from `wit/` for each world.

#![allow(missing_docs)]

/// The `image-transform` world.
pub mod transform {
    wasmtime::component::bindgen!({ path: "../../wit", world: "image-transform" });
}

/// The `strategy` world.
pub mod strategy {
    wasmtime::component::bindgen!({ path: "../../wit", world: "strategy" });
}

/// The `blender` world.
pub mod blender {
    wasmtime::component::bindgen!({ path: "../../wit", world: "blender" });
}

/// The `image-transform` world of the next contract (`gaf:plugin@0.2.0`, `wit/next/`): 0.1.0's
/// plus `transform-pixels`.
pub mod transform_next {
    wasmtime::component::bindgen!({ path: "../../wit/next", world: "image-transform" });
}

/// The `strategy` world of the next contract (`gaf:plugin@0.2.0`, `wit/next/`): 0.1.0's strategy
/// resource plus `targets` (bars as columns in, one `list<f64>` of targets out).
pub mod strategy_next {
    wasmtime::component::bindgen!({ path: "../../wit/next", world: "strategy" });
}
