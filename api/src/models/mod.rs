//! Request and response types of the API, one module per area: the wire format in Rust. The
//! handlers answer with them, the CLI reads them, and the OpenAPI document is generated from them.
//!
//! Responses that were built as JSON maps list their fields in alphabetical order, the order
//! in which they have always been answered; the original crypto-gaf's image body keeps the
//! original's key order.

pub mod content;
pub mod error;
pub mod history;
pub mod images;
pub mod kill_switch;
pub mod matrices;
pub mod matrix_sweeps;
pub mod ops;
pub mod plugins;
pub mod products;
pub mod runs;
pub mod sweeps;

pub use content::Binary;
pub use error::{ErrorBody, ErrorDetail};
pub use history::{
    BarsPage, BarsQuery, HistoryBarModel, HistoryCoverage, HistoryRange, ImportQuery, ImportReportModel,
};
pub use images::{EventsQuery, GafImage, ImageQuery, ImageVersion, ImagesChanged, PngQuery};
pub use kill_switch::{KillSwitch, KillSwitchChange};
pub use matrices::{
    BlendEventModel, BlendModel, BlendsPage, ForecastModel, ForecastsPage, MatrixHeatmapQuery, MatrixRowsQuery,
    MatrixStreamQuery, RollingScoreModel, RollingScores, RollingScoresQuery, ScoreModel, ScoresPage, TransitionModel,
    TransitionsPage,
};
pub use matrix_sweeps::{MatrixSweepList, MatrixSweepModel, MatrixSweepRequest, MatrixSweepResultModel};
pub use ops::Status;
pub use plugins::{
    ActivateRequest, ActivationList, ActiveVersion, CallStats, CanaryReport, CanaryRequest, FailureList,
    FailureListQuery, PluginActivation, PluginDetail, PluginFailure, PluginSummary, PluginVersion, TransformRequest,
    UploadQuery, UploadedPlugin, VersionLimits,
};
pub use products::{NewProduct, Product, ResizeProduct};
pub use runs::{
    Decision, DecisionFormat, DecisionPage, DecisionsQuery, EquityPoint, Leaderboard, LeaderboardEntry,
    LeaderboardQuery, RiskArgsSchema, Run, RunDetail, RunList, RunListQuery, RunRequestSchema, TimeArgSchema,
};
pub use sweeps::{Sweep, SweepList, SweepRequestSchema};

#[cfg(test)]
mod tests {
    //! The models answer what the rows they mirror would, and the request schemas document
    //! exactly the fields the trade crate's request types accept.

    use super::*;
    use chrono::{TimeZone, Utc};
    use serde::de::{DeserializeOwned, Visitor};
    use serde_json::json;

    /// `model` and `row` serialise to the same JSON value.
    fn same_json(model: &impl serde::Serialize, row: &impl serde::Serialize) {
        assert_eq!(serde_json::to_value(model).unwrap(), serde_json::to_value(row).unwrap());
    }

    fn at(s: i64) -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn run_models_answer_what_the_rows_do() {
        let row = cgaf_store::RunRow {
            run_id: 7,
            spec: cgaf_store::RunSpec {
                strategy: "sma-cross".into(),
                strategy_version: "1.0.0".into(),
                params: json!({"fast": "3"}),
                product: "BTC-USD".into(),
                mode: cgaf_trade::domain::RunMode::Backtest,
                from_ms: Some(1),
                to_ms: Some(2),
                bar_interval_ms: 1000,
                settings: json!({"fee_bps": 1.5}),
            },
            status: cgaf_trade::domain::RunStatus::Finished,
            status_reason: Some("done".into()),
            stop_requested: false,
            created_at: at(0),
            started_at: Some(at(1)),
            finished_at: None,
            holder: Some("w1".into()),
            bars_done: 3,
            bars_total: Some(4),
            last_bar_ms: Some(5),
            bars_expected: Some(6),
            bars_found: Some(4),
            gaps: Some(json!({"count": 1, "listed": [{"from_ms": 1, "to_ms": 2, "bars": 2}]})),
            portfolio: Some(json!({"cash": 1.0})),
            strategy_state: None,
            metrics: Some(json!({"sharpe": 0.5})),
            decision_log_sha256: Some("ab".into()),
        };
        same_json(&Run::from(row.clone()), &row);
        let decision = cgaf_trade::domain::DecisionRow {
            seq: 1,
            time_ms: 2,
            market: cgaf_trade::domain::Bar { close: 3.5, ..Default::default() },
            strategy_state: Some(json!([1])),
            target: 0.5,
            reason: Some("cross".into()),
            gate: None,
            order_target: Some(0.5),
            fill_price: Some(3.25),
            fill_quantity: None,
            fee: Some(0.01),
            position: 1.5,
            held_target: 0.25,
            cash: 100.0,
            equity: 101.5,
            strategy_version: Some("1.0.0".into()),
        };
        same_json(&Decision::from(decision.clone()), &decision);
        let entry = cgaf_store::LeaderboardEntry {
            rank: 1,
            run_id: 7,
            strategy: "sma-cross".into(),
            strategy_version: "1.0.0".into(),
            params: json!({}),
            product: "BTC-USD".into(),
            mode: cgaf_trade::domain::RunMode::Paper,
            status: cgaf_trade::domain::RunStatus::Running,
            value: 1.25,
            trades: 4,
            metrics: json!({"sharpe": 1.25}),
        };
        same_json(&LeaderboardEntry::from(entry.clone()), &entry);
        let sweep = cgaf_store::SweepRow {
            sweep_id: 3,
            request: json!({"strategy": "sma-cross"}),
            status: cgaf_trade::domain::SweepStatus::Failed,
            status_reason: Some("no bars".into()),
            created_at: at(0),
            finished_at: Some(at(9)),
            jobs_done: 1,
            jobs_total: Some(2),
            result: None,
        };
        same_json(&Sweep::from(sweep.clone()), &sweep);
        let k = cgaf_store::KillSwitch { engaged: true, reason: Some("why".into()), changed_at: at(3) };
        same_json(&KillSwitch::from(k.clone()), &k);
    }

    #[test]
    fn plugin_models_answer_what_the_rows_do() {
        let v = cgaf_store::plugins::PluginVersion {
            name: "gasf".into(),
            version: "1.0.0".into(),
            kind: "image-transform".into(),
            sha256: "ab".into(),
            size: 10,
            description: "GASF".into(),
            params: json!([{"name": "image_size"}]),
            builtin: true,
            uploader: None,
            uploaded_at: at(0),
            active: true,
            activated_at: Some(at(1)),
            quarantined_at: None,
            quarantine_reason: None,
        };
        same_json(&PluginVersion::from(v.clone()), &v);
        let stats = cgaf_runtime::PluginStats {
            calls: 4,
            errors: 1,
            consecutive_faults: 0,
            total_seconds: 2.0,
            max_seconds: 1.0,
            last_error: Some("trap".into()),
            ..Default::default()
        };
        let mut expected = serde_json::to_value(&stats).unwrap();
        expected["mean_seconds"] = json!(0.5);
        // The API names the unit: `peak_memory` of the runtime is `peak_memory_bytes`.
        if let Some(o) = expected.as_object_mut() {
            let peak = o.remove("peak_memory").unwrap_or(json!(0));
            o.insert("peak_memory_bytes".into(), peak);
        }
        assert_eq!(serde_json::to_value(CallStats::from(&stats)).unwrap(), expected);
    }

    #[test]
    fn json_built_answers_keep_their_byte_order() {
        let e = ErrorBody { error: ErrorDetail { code: "bad".into(), message: "m".into(), status: 400 } };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"error":{"code":"bad","message":"m","status":400}}"#);
        let a = ActiveVersion { active_version: "1.0.0".into(), name: "gasf".into() };
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"active_version":"1.0.0","name":"gasf"}"#);
        let p = DecisionPage { decisions: Vec::new(), next_cursor: None, run_id: 3 };
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"decisions":[],"next_cursor":null,"run_id":3}"#);
    }

    #[test]
    fn gaf_image_prefix_is_the_original_body_up_to_the_date() {
        let image = GafImage {
            midpoint: Some("100.5".into()),
            png1: Some("a+/=".into()),
            png2: None,
            png3: Some("c".into()),
            png4: Some("d\"".into()),
            size: 21,
            date: "ignored".into(),
        };
        let prefix = image.json_prefix();
        assert_eq!(
            prefix,
            r#"{"midpoint":"100.5","png1":"a+/=","png2":null,"png3":"c","png4":"d\"","size":21,"date":""#
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 20, 30, 1).unwrap() + chrono::Duration::milliseconds(7);
        let body = prefix + &GafImage::json_suffix(now);
        let parsed: GafImage = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed, GafImage { date: "2026-11-28T20:30:01.007Z".into(), ..image });
    }

    /// The field names serde's derive hands to `deserialize_struct` for `T`.
    fn accepted_fields<T: DeserializeOwned>() -> Vec<&'static str> {
        struct Capture(Vec<&'static str>);
        impl<'de> serde::Deserializer<'de> for &mut Capture {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.extend_from_slice(fields);
                Err(serde::de::Error::custom("captured"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
                unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
            }
        }
        let mut c = Capture(Vec::new());
        let _ = T::deserialize(&mut c);
        let mut fields = c.0;
        fields.sort_unstable();
        fields
    }

    /// The property names of schema `name` in the generated document.
    fn documented_fields(name: &str) -> Vec<String> {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let props = doc["components"]["schemas"][name]["properties"].as_object().cloned().unwrap_or_default();
        let mut names: Vec<String> = props.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn request_schemas_document_exactly_the_accepted_fields() {
        for (name, accepted) in [
            ("RunRequest", accepted_fields::<cgaf_trade::RunRequest>()),
            ("SweepRequest", accepted_fields::<cgaf_trade::SweepRequest>()),
            ("RiskArgs", accepted_fields::<cgaf_trade::domain::RiskArgs>()),
            ("NewProduct", accepted_fields::<NewProduct>()),
        ] {
            assert!(!accepted.is_empty(), "{name}: no fields captured");
            assert_eq!(documented_fields(name), accepted, "{name}");
        }
    }

    #[test]
    fn every_answer_model_is_a_documented_schema() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
        for name in [
            "Error",
            "GafImage",
            "Product",
            "UploadedPlugin",
            "PluginSummary",
            "PluginDetail",
            "ActiveVersion",
            "Run",
            "RunDetail",
            "RunList",
            "DecisionPage",
            "Leaderboard",
            "KillSwitch",
            "Sweep",
            "SweepList",
            "Status",
        ] {
            assert!(schemas.contains_key(name), "{name} missing from {:?}", schemas.keys().collect::<Vec<_>>());
        }
    }
}
