//! Which database to use: a configured one (URL or parts) or the private embedded PostgreSQL.

use crate::cli::{GlobalArgs, MigrateArgs};
use anyhow::{Context, Result};
use cgaf_embedded_postgres::{EmbeddedOptions, EmbeddedPostgres};
use cgaf_store::{DbSettings, Store};
use std::time::Duration;

/// The configured database URL, if any: --database-url / CGAF_DATABASE_URL, then DATABASE_URL,
/// then --db-host and friends.
pub fn configured_url(g: &GlobalArgs) -> Option<String> {
    if let Some(u) = g.database_url.clone().filter(|u| !u.is_empty()) {
        return Some(u);
    }
    if let Ok(u) = std::env::var("DATABASE_URL") {
        if !u.is_empty() {
            return Some(u);
        }
    }
    let host = g.db_host.clone().filter(|h| !h.is_empty())?;
    // key=value form: no URL escaping problems with passwords containing ':' or '/'.
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut s =
        format!("host={} port={} user={} dbname={}", quote(&host), g.db_port, quote(&g.db_user), quote(&g.db_name));
    if let Some(pw) = &g.db_password {
        s.push_str(&format!(" password={}", quote(pw)));
    }
    Some(s)
}

/// An open store, and the embedded server behind it when there is one (stop it last).
pub struct Database {
    /// The store.
    pub store: Store,
    /// The private server, when no database was configured.
    pub embedded: Option<EmbeddedPostgres>,
}

/// Connects to the configured database, or starts the private one; waits until it answers.
pub async fn open(g: &GlobalArgs, allow_embedded: bool) -> Result<Database> {
    let (url, embedded) = match configured_url(g) {
        Some(url) => (url, None),
        None if allow_embedded => {
            let opts = EmbeddedOptions::new(g.data_dir.clone());
            let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&opts))
                .await
                .context("starting the private PostgreSQL")??;
            (pg.url(), Some(pg))
        }
        None => anyhow::bail!("no database configured: pass --database-url (or CGAF_DATABASE_URL / DATABASE_URL)"),
    };
    let mut settings = DbSettings::new(url);
    settings.pool_size = g.db_pool_size;
    let store = Store::new(&settings).context("database settings")?;
    Ok(Database { store, embedded })
}

/// `cgaf migrate`: wait for the database, apply the schema, report.
pub async fn migrate_command(g: &GlobalArgs, args: &MigrateArgs) -> Result<()> {
    let wait = crate::schedule::parse_duration(&args.wait).map_err(anyhow::Error::msg).context("--wait")?;
    let mut db = open(g, true).await?;
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
    if let Some(mut pg) = db.embedded.take() {
        tokio::task::spawn_blocking(move || pg.stop()).await??;
    }
    r
}

/// How long to wait for a database at start-up.
pub const STARTUP_WAIT: Duration = Duration::from_secs(60);
