//! Which database to use: a configured one (URL or parts) or the private embedded PostgreSQL.

use crate::cli::GlobalArgs;
use crate::settings::{DatabaseSettings, DatabaseTarget};
use anyhow::{Context, Result};
use cgaf_embedded_postgres::{EmbeddedOptions, EmbeddedPostgres};
use cgaf_store::{DbSettings, Store};
use std::time::Duration;

/// The configured database URL, if any: --database-url / CGAF_DATABASE_URL, then DATABASE_URL,
/// then --db-host and friends.
pub fn configured_url(g: &GlobalArgs) -> Option<String> {
    match DatabaseSettings::from_args(g).target {
        DatabaseTarget::Configured(url) => Some(url),
        DatabaseTarget::Embedded { .. } => None,
    }
}

/// An open store, and the embedded server behind it when there is one (stop it last).
pub struct Database {
    /// The store.
    pub store: Store,
    /// The private server, when no database was configured.
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Closes the store (its LISTEN and pooled connections, [`Store::close`]), then stops the
    /// embedded server when there is one: nothing is connected when it goes away.
    pub async fn close(&mut self) -> Result<()> {
        self.store.close();
        if let Some(mut pg) = self.embedded.take() {
            tokio::task::spawn_blocking(move || pg.stop()).await??;
        }
        Ok(())
    }
}

/// Connects to the configured database, or starts the private one.
pub async fn open(settings: &DatabaseSettings, allow_embedded: bool) -> Result<Database> {
    let (url, embedded) = match &settings.target {
        DatabaseTarget::Configured(url) => (url.clone(), None),
        DatabaseTarget::Embedded { data_dir, pg_user } if allow_embedded => {
            let opts = EmbeddedOptions { run_as_user: pg_user.clone(), ..EmbeddedOptions::new(data_dir.clone()) };
            let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&opts))
                .await
                .context("starting the private PostgreSQL")??;
            (pg.url(), Some(pg))
        }
        DatabaseTarget::Embedded { .. } => {
            anyhow::bail!("no database configured: pass --database-url (or CGAF_DATABASE_URL / DATABASE_URL)")
        }
    };
    let mut db = DbSettings::new(url);
    db.pool_size = settings.pool_size;
    let store = Store::new(&db).context("database settings")?;
    Ok(Database { store, embedded })
}

/// How long to wait for a database at start-up.
pub const STARTUP_WAIT: Duration = Duration::from_secs(60);
