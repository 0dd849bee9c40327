//! A `cgaf serve` child process for the benchmarks that measure the service as users run it.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// A `cgaf serve` child of this process on a private database; stopped (SIGTERM, then killed
/// after 15 s) when dropped.
pub(crate) struct ServiceChild {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
}

impl ServiceChild {
    /// `cgaf serve --roles <roles>` on `database_url` with one product of 600 samples, the write
    /// token `token` and `extra` arguments.
    pub(crate) fn start(
        database_url: &str,
        data_dir: &std::path::Path,
        roles: &str,
        product: &str,
        token: &str,
        extra: &[String],
    ) -> Result<ServiceChild> {
        let mut args: Vec<String> = ["--roles", roles, "--products", &format!("{product}:600"), "--api-token", token]
            .map(String::from)
            .to_vec();
        args.extend(["--database-url".to_string(), database_url.to_string()]);
        args.extend_from_slice(extra);
        Self::spawn(data_dir, &args)
    }

    /// `cgaf serve <args>` on a free port of 127.0.0.1 with `--data-dir data_dir` and warnings
    /// only; the OTLP endpoint of this process's environment is not passed on (no traces).
    pub(crate) fn spawn(data_dir: &std::path::Path, args: &[String]) -> Result<ServiceChild> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let exe = std::env::current_exe().context("finding the cgaf binary")?;
        let child = std::process::Command::new(exe)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log", "warn,cgaf_trade::backtest=info"])
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("CGAF_OTLP_ENDPOINT")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("starting `cgaf serve`")?;
        Ok(ServiceChild { child, base: format!("http://127.0.0.1:{port}") })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200.
    pub(crate) async fn wait_ready(&mut self, http: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("`cgaf serve` exited with {status} before it was ready");
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "`cgaf serve` not ready after 120 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl ServiceChild {
    /// SIGTERM, then killed after 15 s; nothing when it has already exited.
    pub(crate) fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for ServiceChild {
    fn drop(&mut self) {
        self.stop();
    }
}
