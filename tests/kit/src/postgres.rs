//! One PostgreSQL cluster per test binary, a fresh database per test.
//!
//! The cluster (`cgaf-embedded-postgres`, fsync off) starts on the first [`database`] call, in a
//! temporary folder, and is shared by every test of the binary. Statics are never dropped, so a
//! small watchdog process (`sh`) holds the read end of a pipe whose write end only this process
//! holds: when the test process exits, however it exits, the pipe closes and the watchdog stops
//! the server (SIGQUIT, PostgreSQL's immediate shutdown) and removes the folder.

use cgaf_embedded_postgres::{EmbeddedOptions, EmbeddedPostgres};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// A database of its own for one test, on the binary's shared cluster.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// Its name (`test_<pid>_<n>`).
    pub name: String,
    /// A connection URL (superuser) for it.
    pub url: String,
}

struct Cluster {
    server: EmbeddedPostgres,
    /// Closed by the OS at process exit, which tells the watchdog to clean up.
    _watchdog: Mutex<ChildStdin>,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("cgaf-test-postgres-")
            .tempdir()
            .expect("creating a temporary folder for the test cluster")
            .keep();
        let opts = EmbeddedOptions { ephemeral: true, ..EmbeddedOptions::new(&dir) };
        let server = EmbeddedPostgres::start(&opts).unwrap_or_else(|e| panic!("starting the test PostgreSQL: {e}"));
        let script = r#"cat >/dev/null
pid=$(head -n 1 "$0/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then
  kill -QUIT "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
fi
rm -rf "$1""#;
        let mut watchdog = Command::new("sh");
        watchdog
            .args(["-c", script])
            .arg(server.cluster_dir())
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: an interrupt of the test run must still let it clean up.
        std::os::unix::process::CommandExt::process_group(&mut watchdog, 0);
        let stdin = watchdog
            .spawn()
            .expect("starting the test cluster's watchdog")
            .stdin
            .take()
            .expect("the watchdog's stdin is piped");
        Cluster { server, _watchdog: Mutex::new(stdin) }
    })
}

/// A new, empty database on the binary's shared cluster (started on first use). Blocking; call
/// it from sync or async tests alike (it runs its SQL on a thread of its own).
pub fn database() -> TestDatabase {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = &cluster().server;
    let name = format!("test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let admin = server.url();
    let sql = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            let created = client.batch_execute(&sql).await;
            drop(client);
            let _ = connection.await;
            created
        })
    })
    .join()
    .expect("the CREATE DATABASE thread")
    .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    TestDatabase { url: server.database_url(&name), name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_gets_its_own_database_on_one_cluster() {
        let a = database();
        let b = database();
        assert_ne!(a.name, b.name);
        assert_ne!(a.url, b.url);
        let port = |url: &str| url.rsplit(':').next().unwrap().split('/').next().unwrap().to_string();
        assert_eq!(port(&a.url), port(&b.url), "one cluster");
    }
}
