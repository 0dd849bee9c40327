//! `cgaf migrate`: wait for the database, apply the schema, report (for deploy hooks).

use crate::cli::{GlobalArgs, MigrateArgs};
use crate::database::open;
use crate::settings::DatabaseSettings;
use anyhow::{Context, Result};

/// `cgaf migrate`: wait for the database, apply the schema, report.
pub async fn run(g: &GlobalArgs, args: &MigrateArgs) -> Result<()> {
    let wait = args.wait;
    let mut db = open(&DatabaseSettings::from_args(g), true).await?;
    let r = async {
        db.store.wait_ready(wait).await.context("waiting for the database")?;
        let report = db.store.migrate().await.context("applying migrations")?;
        if report.applied.is_empty() {
            println!("schema is up to date (version {})", report.current);
        } else {
            println!("applied migrations {:?}; schema version {}", report.applied, report.current);
        }
        Ok(())
    }
    .await;
    db.close().await?;
    r
}
