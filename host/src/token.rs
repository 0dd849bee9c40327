//! The API token: from --api-token, or generated once and kept in the data folder.

use anyhow::{Context, Result};
use std::io::Write;
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
    let token = random_hex(32)?;
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

/// `bytes` bytes from the operating system's random source, as lowercase hex. Fails loudly when
/// the source is unavailable — a token is never made of predictable bytes.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("the operating system's random source failed: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_never_zero() {
        let (a, b) = (random_hex(32).unwrap(), random_hex(32).unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(a, "0".repeat(64));
    }

    #[test]
    fn generated_token_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (t1, _) = resolve(None, dir.path()).unwrap();
        let (t2, from) = resolve(None, dir.path()).unwrap();
        assert_eq!(t1, t2);
        assert!(matches!(from, TokenSource::File(_)));
        let mode = std::fs::metadata(dir.path().join("api-token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (t3, from) = resolve(Some(" configured "), dir.path()).unwrap();
        assert_eq!(t3, "configured");
        assert!(matches!(from, TokenSource::Configured));
    }
}
