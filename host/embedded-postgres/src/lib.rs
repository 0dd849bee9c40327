//! A private PostgreSQL server run from the machine's `initdb`/`pg_ctl`/`postgres`, for running
//! crypto-gaf (and its tests) without a configured database.
//!
//! The cluster lives in `<data_dir>/postgres`, listens on 127.0.0.1 only (on a free port chosen
//! at each start) with a generated password (kept in `<data_dir>/postgres-password`, mode 0600).
//! PostgreSQL refuses to run as root; when the caller is root the server runs as the `postgres`
//! system user (or the one named in [`EmbeddedOptions::run_as_user`]), which is given ownership
//! of the cluster folder. Reads no environment variable but `PATH`: the server binaries are looked
//! up on it, then in `/usr/lib/postgresql/*/bin`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Errors of setting up or running the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `initdb`/`pg_ctl` found.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; \
         install them (e.g. `apt-get install postgresql`) or pass --database-url"
    )]
    NoServerBinaries,
    /// We are root and the account to run the server as is missing or cannot be looked up.
    #[error("running as root, and PostgreSQL refuses root; system user {user:?}: {reason}")]
    RunAsUser {
        /// The account name.
        user: String,
        /// What went wrong.
        reason: String,
    },
    /// The operating system's random source failed; no password is made up instead.
    #[error("generating the server password: the OS random source failed: {0}")]
    Random(getrandom::Error),
    /// `initdb` or `pg_ctl` failed.
    #[error("{command} failed: {output}")]
    Command {
        /// Which command (`initdb`, `pg_ctl start`, ...).
        command: &'static str,
        /// Its output (and the tail of the server log, for `pg_ctl start`).
        output: String,
    },
    /// An I/O error on the cluster's files or running a command.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The account the server runs as when the caller is root, unless the options name another.
pub const DEFAULT_RUN_AS_USER: &str = "postgres";

/// Options of the embedded server.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Folder holding the cluster, its log and password.
    pub data_dir: PathBuf,
    /// Trade durability for speed (fsync off); for tests only.
    pub ephemeral: bool,
    /// Port to listen on; `None` picks a free one.
    pub port: Option<u16>,
    /// The system account the server runs as when the caller is root (PostgreSQL refuses root).
    pub run_as_user: String,
}

impl EmbeddedOptions {
    /// Durable, on a free port, run as [`DEFAULT_RUN_AS_USER`] when we are root.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self { data_dir: data_dir.into(), ephemeral: false, port: None, run_as_user: DEFAULT_RUN_AS_USER.into() }
    }
}

/// A running embedded PostgreSQL; stopped by [`EmbeddedPostgres::stop`] or on drop.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    cluster: PathBuf,
    run_as: Option<(u32, u32)>,
    port: u16,
    password: String,
    ephemeral: bool,
    running: bool,
}

const SUPERUSER: &str = "cgaf";

/// Server settings above PostgreSQL's defaults (shared_buffers 128 MB, wal_buffers 4 MB,
/// max_wal_size 1 GB), for bulk writes: a history import COPYs a year of bars (~110 MB of WAL)
/// in one transaction, 12 % faster with these (`cgaf bench --only run-path`). Shared buffers
/// are only taken as they are used.
const SERVER_SETTINGS: &str = "-c shared_buffers=512MB -c wal_buffers=64MB -c max_wal_size=4GB";

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Finds the folder holding `pg_ctl`: `PATH` first, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("pg_ctl").is_file() && dir.join("initdb").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v: u32 = e.file_name().to_str()?.parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("pg_ctl").is_file().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().map(|(_, p)| p).ok_or(Error::NoServerBinaries)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(l.local_addr().map_err(io("finding a free port"))?.port())
}

/// The unprivileged account the server runs as when we are root.
fn unprivileged_user(name: &str) -> Result<Option<(u32, u32)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| Error::RunAsUser { user: name.into(), reason: format!("looking it up: {e}") })?
        .ok_or_else(|| Error::RunAsUser {
            user: name.into(),
            reason: "no such user to run it as (create one, name another, or pass --database-url)".into(),
        })?;
    Ok(Some((user.uid.as_raw(), user.gid.as_raw())))
}

/// A new server password: 24 bytes of the OS random source, in hex.
pub fn random_password() -> Result<String> {
    password_from(getrandom::fill)
}

/// A password from the bytes `fill` writes; its failure is an error, never a weaker password.
fn password_from(fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>) -> Result<String> {
    let mut buf = [0u8; 24];
    fill(&mut buf).map_err(Error::Random)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The port of the server running on `cluster`, if one is (`pg_ctl status` says so and
/// `postmaster.pid` names its port).
fn running_port(bin_dir: &Path, cluster: &Path, run_as: Option<(u32, u32)>) -> Option<u16> {
    let pid_file = std::fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    let port: u16 = pid_file.lines().nth(3)?.trim().parse().ok()?;
    let status = command(&bin_dir.join("pg_ctl"), run_as)
        .arg("-D")
        .arg(cluster)
        .arg("status")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(port)
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use and starts the server (or, when a server already
    /// runs on the cluster, connects to it and leaves it running); waits until it accepts
    /// connections.
    pub fn start(opts: &EmbeddedOptions) -> Result<Self> {
        let bin_dir = find_bin_dir()?;
        let run_as = unprivileged_user(&opts.run_as_user)?;
        std::fs::create_dir_all(&opts.data_dir).map_err(io(format!("creating {}", opts.data_dir.display())))?;
        let data_dir = opts.data_dir.canonicalize().map_err(io("resolving the data folder"))?;
        let cluster = data_dir.join("postgres");
        let pw_file = data_dir.join("postgres-password");
        if run_as.is_some() {
            // The server user must be able to reach its folder.
            let mut p = Some(data_dir.as_path());
            while let Some(dir) = p {
                if let Ok(meta) = std::fs::metadata(dir) {
                    let mode = meta.permissions().mode();
                    if mode & 0o001 == 0 {
                        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o001));
                    }
                }
                p = dir.parent();
            }
        }
        if !cluster.join("PG_VERSION").is_file() {
            let password = random_password()?;
            write_private(&pw_file, &password)?;
            let _ = std::fs::remove_dir_all(&cluster);
            std::fs::create_dir_all(&cluster).map_err(io("creating the cluster folder"))?;
            std::fs::set_permissions(&cluster, std::fs::Permissions::from_mode(0o700))
                .map_err(io("securing the cluster folder"))?;
            let pw_for_server = data_dir.join(".initdb-pw");
            write_private(&pw_for_server, &password)?;
            if let Some((uid, gid)) = run_as {
                chown(&cluster, uid, gid)?;
                chown(&pw_for_server, uid, gid)?;
            }
            tracing::info!(cluster = %cluster.display(), "initialising a private PostgreSQL cluster");
            let out = command(&bin_dir.join("initdb"), run_as)
                .arg("-D")
                .arg(&cluster)
                .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--auth=scram-sha-256"])
                .arg(format!("--pwfile={}", pw_for_server.display()))
                .output()
                .map_err(io("running initdb"));
            let _ = std::fs::remove_file(&pw_for_server);
            let out = out?;
            if !out.status.success() {
                let _ = std::fs::remove_dir_all(&cluster);
                let output = String::from_utf8_lossy(&out.stderr).trim().to_string();
                return Err(Error::Command { command: "initdb", output });
            }
        }
        let password =
            std::fs::read_to_string(&pw_file).map_err(io(format!("reading {}", pw_file.display())))?.trim().to_string();
        // A server already running on this cluster (`cgaf serve` in another terminal, when a
        // command such as `cgaf history import` starts): use it, and leave it running.
        if let Some(port) = running_port(&bin_dir, &cluster, run_as) {
            tracing::info!(port, cluster = %cluster.display(), "using the private PostgreSQL already running");
            return Ok(Self { bin_dir, cluster, run_as, port, password, ephemeral: opts.ephemeral, running: false });
        }
        let port = match opts.port {
            Some(p) => p,
            None => free_port()?,
        };
        let mut pg = Self { bin_dir, cluster, run_as, port, password, ephemeral: opts.ephemeral, running: false };
        pg.pg_ctl_start()?;
        Ok(pg)
    }

    fn pg_ctl_start(&mut self) -> Result<()> {
        let mut settings = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories= -c max_connections=200 {SERVER_SETTINGS}",
            self.port
        );
        if self.ephemeral {
            settings.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let log = self.cluster.join("server.log");
        let out = command(&self.bin_dir.join("pg_ctl"), self.run_as)
            .arg("-D")
            .arg(&self.cluster)
            .arg("-l")
            .arg(&log)
            .args(["-o", &settings, "-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output()
            .map_err(io("running pg_ctl start"))?;
        if !out.status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let output = format!(
                "{} {}\n{}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.join("\n")
            );
            return Err(Error::Command { command: "pg_ctl start", output });
        }
        self.running = true;
        tracing::info!(port = self.port, cluster = %self.cluster.display(), "private PostgreSQL running");
        Ok(())
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for the `postgres` database as the cluster's superuser.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// A connection URL for `database` as the cluster's superuser (`database` must be a plain
    /// identifier: it is not escaped).
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// The cluster folder (`<data_dir>/postgres`); `postmaster.pid` in it names the running server.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let out = command(&self.bin_dir.join("pg_ctl"), self.run_as)
            .arg("-D")
            .arg(&self.cluster)
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .stdin(Stdio::null())
            .output()
            .map_err(io("running pg_ctl stop"))?;
        if !out.status.success() {
            let output = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(Error::Command { command: "pg_ctl stop", output });
        }
        tracing::info!("private PostgreSQL stopped");
        Ok(())
    }

    /// Stops the server immediately (as a crash would), for restart tests.
    pub fn kill(&mut self) -> Result<()> {
        self.running = false;
        let out = command(&self.bin_dir.join("pg_ctl"), self.run_as)
            .arg("-D")
            .arg(&self.cluster)
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .map_err(io("running pg_ctl stop"))?;
        if !out.status.success() {
            let output = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(Error::Command { command: "pg_ctl stop -m immediate", output });
        }
        Ok(())
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        if self.running {
            return Ok(());
        }
        self.pg_ctl_start()
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping the private PostgreSQL");
        }
    }
}

fn command(program: &Path, run_as: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(program);
    if let Some((uid, gid)) = run_as {
        c.uid(uid).gid(gid);
        c.current_dir("/");
    }
    c
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(format!("chown {}", path.display())))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("writing {}", path.display())))?;
    f.write_all(text.as_bytes()).map_err(io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_hex() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, "0".repeat(48));
    }

    #[test]
    fn a_failing_random_source_is_an_error_not_a_zero_password() {
        let failing = |_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED);
        let e = password_from(failing).unwrap_err();
        assert!(matches!(e, Error::Random(_)), "{e:?}");
    }

    #[test]
    fn a_missing_run_as_user_is_named_in_the_error() {
        if !nix::unistd::geteuid().is_root() {
            assert!(unprivileged_user("no-such-user-cgaf").unwrap().is_none(), "not root: no switch");
            return;
        }
        let e = unprivileged_user("no-such-user-cgaf").unwrap_err();
        assert!(e.to_string().contains("no-such-user-cgaf"), "{e}");
    }

    #[test]
    fn a_second_start_uses_the_running_server_and_leaves_it_running() {
        let dir = tempfile::tempdir().unwrap();
        let opts = EmbeddedOptions { ephemeral: true, ..EmbeddedOptions::new(dir.path()) };
        let mut first = EmbeddedPostgres::start(&opts).unwrap();
        // The server runs with the bulk-write settings (postmaster.opts: its command line).
        let opts_line = std::fs::read_to_string(first.cluster.join("postmaster.opts")).unwrap();
        for setting in SERVER_SETTINGS.split(" -c ").map(|s| s.trim_start_matches("-c ")) {
            assert!(opts_line.contains(setting), "{setting} not in {opts_line}");
        }
        let mut second = EmbeddedPostgres::start(&opts).unwrap();
        assert_eq!(second.port(), first.port(), "the second start attaches");
        assert_eq!(second.url(), first.url());
        second.stop().unwrap();
        assert_eq!(running_port(&first.bin_dir, &first.cluster, first.run_as), Some(first.port()), "still running");
        first.stop().unwrap();
        assert_eq!(running_port(&first.bin_dir, &first.cluster, first.run_as), None);
    }
}
