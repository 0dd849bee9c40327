//! The matrix pipeline (GRIFT on PostgreSQL): a feature vector per sample ([`features`]),
//! wall-clock rollups per granularity ([`rollup`]), transition matrices between consecutive
//! rollups ([`solver`]), blends of the last k matrices by a blender plugin, forecasts and their
//! scores ([`score`]); [`pipeline`] is the step logic without I/O, [`worker`] stores each step
//! with its cursor and replays stored ranges, [`sweep`] ranks replays over a grid of k, solver
//! and blender.

pub mod features;
pub mod pipeline;
pub mod rollup;
pub mod score;
pub mod solver;
pub mod sweep;
pub mod worker;
