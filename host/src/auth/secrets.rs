//! Secrets at rest: XChaCha20-Poly1305 (an authenticated cipher) with one 256-bit key per data
//! directory.
//!
//! The key comes from `$SWITCHYARD_SECRET_KEY` (64 hex digits or base64) or, when that is unset, from
//! the key file `<home>/secret.key`, created on first use with owner-only permissions. Every sealed
//! value is bound to what it is (for example `connection/acme/access_token`) through the cipher's
//! associated data, so a ciphertext copied to another row or field does not decrypt.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable that holds the key (it wins over the key file).
pub const KEY_ENV: &str = "SWITCHYARD_SECRET_KEY";
/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "secret.key";

/// Format of a sealed value: one version byte, the 24-byte nonce, then ciphertext and tag.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;

/// Where the key was found, for error messages that say what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "${KEY_ENV}"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// Seals and opens secrets with the data directory's key.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    source: KeySource,
}

/// A value that did not decrypt: the key is wrong or the stored bytes were altered.
#[derive(Debug, thiserror::Error)]
#[error(
    "a stored secret ({context}) could not be decrypted with {key}: the key is not the one it was encrypted with, or the data was altered"
)]
pub struct OpenError {
    pub context: String,
    pub key: KeySource,
}

impl SecretBox {
    pub fn new(key: &[u8; 32], source: KeySource) -> Self {
        SecretBox { cipher: XChaCha20Poly1305::new(Key::from_slice(key)), source }
    }

    /// The key from `$SWITCHYARD_SECRET_KEY`, else from the key file if it exists; `None` if neither.
    pub fn load(home: &Path) -> Result<Option<Self>> {
        if let Some(key) = key_from_env()? {
            return Ok(Some(SecretBox::new(&key, KeySource::Env)));
        }
        let path = home.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_permissions(&path)?;
                let key = parse_key(&text)
                    .with_context(|| format!("the key file {} does not hold a valid key", path.display()))?;
                Ok(Some(SecretBox::new(&key, KeySource::File(path))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading the key file {}", path.display())),
        }
    }

    /// Like [`SecretBox::load`], but creates the key file (owner-only) when there is no key yet.
    pub fn load_or_create(home: &Path) -> Result<Self> {
        if let Some(secret_box) = Self::load(home)? {
            return Ok(secret_box);
        }
        let path = home.join(KEY_FILE);
        std::fs::create_dir_all(home).with_context(|| format!("creating the data directory {}", home.display()))?;
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let text = format!("{}\n", base64::engine::general_purpose::STANDARD.encode(key));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("writing the key file {}", path.display()))?;
                tracing::info!(path = %path.display(), "created a new secret key file");
                Ok(SecretBox::new(&key.into(), KeySource::File(path)))
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(home)?.context("the key file appeared and vanished again")
            }
            Err(e) => Err(e).with_context(|| format!("creating the key file {}", path.display())),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Encrypts `plaintext`, bound to `context` (what the value is and whom it belongs to).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| anyhow::anyhow!("encrypting {context} failed"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    pub fn seal_str(&self, context: &str, secret: &SecretString) -> Result<Vec<u8>> {
        self.seal(context, secret.expose_secret().as_bytes())
    }

    /// Decrypts a value sealed under the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let error = || OpenError { context: context.to_string(), key: self.source.clone() };
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(error());
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        self.cipher
            .decrypt(nonce, Payload { msg: &sealed[1 + NONCE_LEN..], aad: context.as_bytes() })
            .map_err(|_| error())
    }

    pub fn open_str(&self, context: &str, sealed: &[u8]) -> Result<SecretString, OpenError> {
        let bytes = self.open(context, sealed)?;
        let text =
            String::from_utf8(bytes).map_err(|_| OpenError { context: context.into(), key: self.source.clone() })?;
        Ok(SecretString::from(text))
    }
}

fn key_from_env() -> Result<Option<[u8; 32]>> {
    match std::env::var(KEY_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            parse_key(&text).map(Some).with_context(|| format!("${KEY_ENV} is not a valid key"))
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("${KEY_ENV} is not valid UTF-8"),
    }
}

/// A 32-byte key written as 64 hex digits or as base64 (standard or URL-safe, padded or not).
pub fn parse_key(text: &str) -> Result<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
    };
    match bytes {
        Some(bytes) if bytes.len() == 32 => Ok(bytes.try_into().expect("length checked")),
        _ => bail!(
            "a key is 32 bytes written as 64 hex digits or as base64 (generate one with `openssl rand -base64 32`)"
        ),
    }
}

/// Refuses a key file that other users can read, as ssh does with private keys.
fn check_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the permissions of {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the key file {} is accessible to other users (mode {:o}): run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_box(byte: u8) -> SecretBox {
        SecretBox::new(&[byte; 32], KeySource::Env)
    }

    #[test]
    fn round_trips_and_binds_to_context() {
        let a = secret_box(1);
        let sealed = a.seal("connection/acme/access_token", b"tok_123").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"tok_123"));
        assert_eq!(a.open("connection/acme/access_token", &sealed).unwrap(), b"tok_123");
        // Another row, another field, another key, or a flipped bit: all refused.
        assert!(a.open("connection/beta/access_token", &sealed).is_err());
        assert!(a.open("connection/acme/client_secret", &sealed).is_err());
        assert!(secret_box(2).open("connection/acme/access_token", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(a.open("connection/acme/access_token", &tampered).is_err());
        // Fresh nonce each time.
        assert_ne!(sealed, a.seal("connection/acme/access_token", b"tok_123").unwrap());
    }

    #[test]
    fn parses_hex_and_base64_keys() {
        let key = [7u8; 32];
        assert_eq!(parse_key(&hex::encode(key)).unwrap(), key);
        assert_eq!(parse_key(&base64::engine::general_purpose::STANDARD.encode(key)).unwrap(), key);
        assert_eq!(parse_key(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)).unwrap(), key);
        for bad in ["abc", &hex::encode([1u8; 16]), "", "zz"] {
            assert!(parse_key(bad).unwrap_err().to_string().contains("32 bytes written as 64 hex digits"), "{bad}");
        }
    }

    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        // The env variable would win over the file; this test relies on it being unset.
        if std::env::var_os(KEY_ENV).is_some() {
            return;
        }
        let home = tempfile::tempdir().unwrap();
        assert!(SecretBox::load(home.path()).unwrap().is_none());
        let created = SecretBox::load_or_create(home.path()).unwrap();
        let sealed = created.seal("x", b"y").unwrap();
        let loaded = SecretBox::load(home.path()).unwrap().unwrap();
        assert_eq!(loaded.open("x", &sealed).unwrap(), b"y");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = home.path().join(KEY_FILE);
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = SecretBox::load(home.path()).err().unwrap().to_string();
            assert!(error.contains("chmod 600"), "{error}");
        }
    }
}
