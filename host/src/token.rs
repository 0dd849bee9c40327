//! The API token: from --api-token, or generated once and kept in the data folder.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where the token came from.
pub enum TokenSource {
    /// --api-token / CGAF_API_TOKEN.
    Configured,
    /// The file in the data folder.
    File(PathBuf),
}

/// The token to use, creating `<data_dir>/api-token` (mode 0600) when none is configured.
pub fn resolve(configured: Option<&str>, data_dir: &Path) -> Result<(String, TokenSource)> {
    if let Some(t) = configured.filter(|t| !t.trim().is_empty()) {
        return Ok((t.trim().to_string(), TokenSource::Configured));
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            return Ok((t.trim().to_string(), TokenSource::File(path)));
        }
    }
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).context("reading /dev/urandom")?;
    let token: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(token.as_bytes())?;
    Ok((token, TokenSource::File(path)))
}
