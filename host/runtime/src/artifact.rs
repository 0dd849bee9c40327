//! Compiled plugins shared between replicas.
//!
//! Compiling a component takes 100 ms for a small Rust plugin and seconds for a Python one, and
//! every replica used to compile every version it activated. The replica that compiles a
//! version now also serializes its native code ([`Artifact`]), signs it with a key every replica
//! of the deployment holds ([`ArtifactKey`], HMAC-SHA256), and stores it beside the component;
//! another replica checks the signature and deserializes the code in milliseconds.
//!
//! Deserializing native code is trusted code execution — wasmtime checks the engine and the
//! format but not where the bytes came from. The signature is that check: without the key
//! nobody who can write the database can make a replica run native code of their choosing, and
//! without a configured key nothing is shared (every replica compiles, as before).

use crate::error::Error;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// Shortest accepted key, bytes (an HMAC-SHA256 key shorter than its output weakens it).
pub const MIN_KEY_BYTES: usize = 32;

/// The secret that signs compiled plugins; every replica of a deployment holds the same one.
#[derive(Clone)]
pub struct ArtifactKey(Arc<[u8]>);

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArtifactKey(…)")
    }
}

impl ArtifactKey {
    /// A key from a secret of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::Artifact(format!(
                "the plugin artifact key has {} bytes; use at least {MIN_KEY_BYTES} random bytes",
                secret.len()
            )));
        }
        Ok(Self(secret.into()))
    }

    fn mac(&self, engine: &str, sha256: &str, code: &[u8]) -> Hmac<Sha256> {
        // Every key length is accepted by HMAC; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        for field in [engine.as_bytes(), sha256.as_bytes(), code] {
            mac.update(&(field.len() as u64).to_le_bytes());
            mac.update(field);
        }
        mac
    }

    /// The signature of `code` compiled from the component `sha256` by `engine`.
    pub(crate) fn sign(&self, engine: &str, sha256: &str, code: &[u8]) -> Vec<u8> {
        self.mac(engine, sha256, code).finalize().into_bytes().to_vec()
    }

    /// Checks a signature in constant time.
    pub(crate) fn verify(&self, artifact: &Artifact) -> Result<(), Error> {
        self.mac(&artifact.engine, &artifact.sha256, &artifact.code)
            .verify_slice(&artifact.signature)
            .map_err(|_| Error::Artifact(format!("the compiled code of {} has a bad signature", artifact.sha256)))
    }
}

/// A component's native code for one engine configuration, signed.
#[derive(Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The engine fingerprint the code was compiled for ([`crate::Runtime::engine_fingerprint`]).
    pub engine: String,
    /// Hex sha256 of the component the code was compiled from.
    pub sha256: String,
    /// The serialized code (`Component::serialize`).
    pub code: Vec<u8>,
    /// HMAC-SHA256 of engine, sha256 and code under the deployment's [`ArtifactKey`].
    pub signature: Vec<u8>,
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("engine", &self.engine)
            .field("sha256", &self.sha256)
            .field("code_bytes", &self.code.len())
            .finish()
    }
}

/// Deserializes a verified artifact.
#[allow(unsafe_code)]
pub(crate) fn deserialize(
    engine: &wasmtime::Engine,
    key: &ArtifactKey,
    artifact: &Artifact,
) -> Result<wasmtime::component::Component, Error> {
    key.verify(artifact)?;
    // SAFETY: `Component::deserialize` requires bytes produced by `Component::serialize` of a
    // compatible engine, not modified since. The signature just verified was made with the
    // deployment's secret key over exactly these bytes by a replica that serialized them itself
    // (`Runtime::artifact`), and the engine fingerprint it covers was checked by the caller;
    // wasmtime additionally refuses code of another engine configuration or version.
    unsafe { wasmtime::component::Component::deserialize(engine, &artifact.code) }
        .map_err(|e| Error::Artifact(format!("deserializing the compiled code of {}: {e:#}", artifact.sha256)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(key: &ArtifactKey) -> Artifact {
        let code = b"native code".to_vec();
        let signature = key.sign("engine-a", "abc", &code);
        Artifact { engine: "engine-a".into(), sha256: "abc".into(), code, signature }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(ArtifactKey::new(&[7; 31]), Err(Error::Artifact(_))));
        assert!(ArtifactKey::new(&[7; 32]).is_ok());
    }

    #[test]
    fn a_signature_covers_engine_component_and_code_under_one_key() {
        let key = ArtifactKey::new(&[1; 32]).unwrap();
        let good = artifact(&key);
        key.verify(&good).unwrap();
        let mut code = good.clone();
        code.code[0] ^= 1;
        let mut engine = good.clone();
        engine.engine = "engine-b".into();
        let mut sha = good.clone();
        sha.sha256 = "abd".into();
        for bad in [code, engine, sha] {
            assert!(matches!(key.verify(&bad), Err(Error::Artifact(_))), "{bad:?}");
        }
        let other = ArtifactKey::new(&[2; 32]).unwrap();
        assert!(other.verify(&good).is_err());
        // Field boundaries are length-prefixed: moving a byte between fields changes the MAC.
        assert_ne!(key.sign("ab", "c", b""), key.sign("a", "bc", b""));
    }

    #[test]
    fn the_key_is_never_printed() {
        let key = ArtifactKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(format!("{key:?}"), "ArtifactKey(…)");
    }
}
