//! Canvas secrets. One master key (from configuration, or a key file made at
//! first start with owner-only permissions) derives, through HKDF, the pepper
//! for API-secret hashes and the AES-256-GCM key that seals credentials.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fs;
use std::io::Write;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key must be 64 hexadecimal characters (32 bytes)")]
    BadFormat,
    #[error("master key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("master key file {0} is readable by group or others; run chmod 600 on it")]
    TooOpen(String),
}

/// The server's root secret. Never printed.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

impl MasterKey {
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::BadFormat)?;
        bytes.try_into().map(Self).map_err(|_| KeyError::BadFormat)
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh random key.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match Self::load(path)? {
            Some(key) => Ok(key),
            None => {
                let key = Self::generate();
                key.save_new(path)?;
                Ok(key)
            }
        }
    }

    /// The key of the file at `path`; `None` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<Self>, KeyError> {
        match fs::read_to_string(path) {
            Ok(text) => {
                check_permissions(path)?;
                Self::from_hex(&text).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// A fresh random key, kept nowhere yet.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Writes the key to a new file (mode 0600); refuses to replace one.
    pub fn save_new(&self, path: &Path) -> Result<(), KeyError> {
        let io = |e| io_error(path, e);
        let mut file = create_private(path).map_err(io)?;
        file.write_all(hex::encode(self.0).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(None, &self.0)
            .expand(purpose.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

fn io_error(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::TooOpen(path.display().to_string()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path) -> Result<(), KeyError> {
    Ok(())
}

/// A fresh API key pair: the secret is shown once and only its hash is kept.
pub struct KeyPair {
    /// 64 uppercase hexadecimal characters; the public half.
    pub consumer: String,
    /// A random GUID; the private half.
    pub secret: String,
}

/// The keys derived from the master key, ready for use.
#[derive(Clone)]
pub struct Secrets {
    pepper: [u8; 32],
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(redacted)")
    }
}

const NONCE_LEN: usize = 12;

impl Secrets {
    pub fn new(master: &MasterKey) -> Self {
        let aead_key = master.derive("canvas/credentials/aes-256-gcm/v1");
        Self {
            pepper: master.derive("canvas/api-secret/hmac-sha256/v1"),
            cipher: Aes256Gcm::new_from_slice(&aead_key).expect("32-byte key"),
        }
    }

    pub fn new_key_pair(&self) -> KeyPair {
        let mut consumer = [0u8; 32];
        rand::rng().fill_bytes(&mut consumer);
        KeyPair {
            consumer: hex::encode_upper(consumer),
            secret: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Keyed hash of an API secret or a one-time token. GUID secrets are
    /// compared in lowercase, as a client may send either case.
    pub fn hash_secret(&self, secret: &str) -> Vec<u8> {
        self.mac(secret).finalize().into_bytes().to_vec()
    }

    /// Constant-time comparison of `secret` with a stored hash.
    pub fn verify_secret(&self, secret: &str, hash: &[u8]) -> bool {
        self.mac(secret).verify_slice(hash).is_ok()
    }

    fn mac(&self, secret: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.pepper).expect("any key length");
        mac.update(secret.trim().to_ascii_lowercase().as_bytes());
        mac
    }

    /// A random one-time token (URL-safe) and its keyed hash.
    pub fn new_token(&self) -> (String, Vec<u8>) {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let hash = self.hash_secret(&token);
        (token, hash)
    }

    /// Encrypts `plaintext`, bound to `owner` (e.g. the record id) so a sealed
    /// value cannot be moved to another record.
    pub fn seal(&self, plaintext: &[u8], owner: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: owner,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Decrypts what [`Secrets::seal`] made for the same owner.
    pub fn open(&self, sealed: &[u8], owner: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: owner,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::new(&MasterKey::from_hex(&"ab".repeat(32)).unwrap())
    }

    #[test]
    fn key_pairs_have_the_seed_shapes_and_verify_only_with_their_secret() {
        let s = secrets();
        let pair = s.new_key_pair();
        assert_eq!(pair.consumer.len(), 64);
        assert!(
            pair.consumer
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert!(uuid::Uuid::parse_str(&pair.secret).is_ok());
        let hash = s.hash_secret(&pair.secret);
        assert!(s.verify_secret(&pair.secret, &hash));
        assert!(s.verify_secret(&pair.secret.to_uppercase(), &hash));
        assert!(!s.verify_secret(&s.new_key_pair().secret, &hash));
    }

    #[test]
    fn sealed_values_open_only_for_their_owner_and_key() {
        let s = secrets();
        let sealed = s.seal(b"{\"password\":\"hunter2\"}", b"owner-1");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            s.open(&sealed, b"owner-1").unwrap(),
            b"{\"password\":\"hunter2\"}"
        );
        assert!(s.open(&sealed, b"owner-2").is_none());
        let other = Secrets::new(&MasterKey::from_hex(&"cd".repeat(32)).unwrap());
        assert!(other.open(&sealed, b"owner-1").is_none());
    }

    #[test]
    fn key_files_are_created_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                MasterKey::load_or_create(&path),
                Err(KeyError::TooOpen(_))
            ));
        }
    }
}
