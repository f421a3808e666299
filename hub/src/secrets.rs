//! The process's keys: the token signing key, the data-encryption keyring and
//! the audit key.
//!
//! On a single machine a missing key is generated once into
//! `data_dir/secrets/` (directory 0700, files 0600) and reused on every start. In a
//! cluster (PostgreSQL or Redis configured) a missing key is a startup error: nodes
//! that generated their own keys would reject each other's tokens and could not
//! read each other's encrypted data.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    config::{Config, Secret},
    crypto::{DataKey, Keyring},
};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "secrets.{0} must be configured (HUB_SECRETS__{upper}) when PostgreSQL or Redis is used: all nodes must share it",
        upper = .0.to_ascii_uppercase()
    )]
    MissingInCluster(&'static str),
    #[error("secrets.{0} is not valid: {1}")]
    Invalid(&'static str, String),
    #[error("secret file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// Keys loaded at startup.
pub struct Secrets {
    pub token_signing_key: Vec<u8>,
    pub keyring: Keyring,
    /// Keys the audit chain; see [`audit_key`].
    pub audit_key: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(****)")
    }
}

const SIGNING: &str = "token_signing_key";
const DATA: &str = "data_encryption_key";
const AUDIT: &str = "audit_key";

pub fn load(config: &Config) -> Result<Secrets, SecretsError> {
    let signing = resolve(
        config,
        SIGNING,
        config.secrets.token_signing_key.as_ref(),
        64,
    )?;
    if signing.len() < 32 {
        return Err(SecretsError::Invalid(
            SIGNING,
            "needs at least 32 bytes".into(),
        ));
    }
    let data = resolve(
        config,
        DATA,
        config.secrets.data_encryption_key.as_ref(),
        32,
    )?;
    let current =
        DataKey::from_bytes(&data).map_err(|e| SecretsError::Invalid(DATA, e.to_string()))?;
    let previous = config
        .secrets
        .previous_data_encryption_keys
        .iter()
        .map(|s| {
            decode(s)
                .and_then(|b| DataKey::from_bytes(&b).map_err(|e| e.to_string()))
                .map_err(|e| SecretsError::Invalid("previous_data_encryption_keys", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Secrets {
        token_signing_key: signing,
        keyring: Keyring::new(current, previous),
        audit_key: audit_key(config, true)?,
    })
}

/// The audit key: configured, else (single machine) the one in
/// `data_dir/secrets/audit_key.b64`, generated there when `generate` is set.
///
/// It is a key of its own rather than derived from another, so rotating the
/// token signing key (which ends every session) does not orphan the audit
/// history, and it can be kept where the database's administrators cannot
/// read it. A verifier passes `generate = false`: a new key could only
/// declare every existing row forged.
pub fn audit_key(config: &Config, generate: bool) -> Result<Vec<u8>, SecretsError> {
    let key = if generate || config.secrets.audit_key.is_some() || config.is_cluster() {
        resolve(config, AUDIT, config.secrets.audit_key.as_ref(), 32)?
    } else {
        let path = config.data_dir.join("secrets").join(format!("{AUDIT}.b64"));
        if !path.exists() {
            return Err(file_error(
                &path,
                "does not exist; configure secrets.audit_key or run with the hub's data directory",
            ));
        }
        load_or_generate_file(&config.data_dir.join("secrets"), AUDIT, 32)?
    };
    if key.len() < 32 {
        return Err(SecretsError::Invalid(
            AUDIT,
            "needs at least 32 bytes".into(),
        ));
    }
    Ok(key)
}

fn decode(secret: &Secret) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(secret.expose().trim())
        .map_err(|_| "must be standard base64".to_owned())
}

/// The configured key, else (single machine only) the generated one.
fn resolve(
    config: &Config,
    name: &'static str,
    configured: Option<&Secret>,
    generate_len: usize,
) -> Result<Vec<u8>, SecretsError> {
    if let Some(secret) = configured {
        return decode(secret).map_err(|e| SecretsError::Invalid(name, e));
    }
    if config.is_cluster() {
        return Err(SecretsError::MissingInCluster(name));
    }
    load_or_generate_file(&config.data_dir.join("secrets"), name, generate_len)
}

fn file_error(path: &Path, message: impl ToString) -> SecretsError {
    SecretsError::File {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn load_or_generate_file(dir: &Path, name: &str, len: usize) -> Result<Vec<u8>, SecretsError> {
    let path = dir.join(format!("{name}.b64"));
    if path.exists() {
        let meta = fs::metadata(&path).map_err(|e| file_error(&path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(file_error(
                &path,
                "is readable by other users; run `chmod 600` on it",
            ));
        }
        let text = fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
        return STANDARD
            .decode(text.trim())
            .map_err(|_| file_error(&path, "is not base64"));
    }
    fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| file_error(dir, e))?;
    let mut key = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    // create_new: two processes starting at once cannot both write a key.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| file_error(&path, e))?;
    file.write_all(STANDARD.encode(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(&path, e))?;
    tracing::warn!(
        path = %path.display(),
        "generated a new {name} (single-machine mode); back it up with the data directory"
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_config() -> Config {
        Config {
            data_dir: std::env::temp_dir().join(format!("hubsecrets-{}", uuid::Uuid::new_v4())),
            ..Config::default()
        }
    }

    #[test]
    fn generated_once_with_private_permissions() {
        let config = temp_config();
        let first = load(&config).unwrap();
        let second = load(&config).unwrap();
        assert_eq!(first.token_signing_key, second.token_signing_key);
        let path = config.data_dir.join("secrets/data_encryption_key.b64");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let dir = config.data_dir.join("secrets");
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn cluster_requires_configured_secrets() {
        let mut config = temp_config();
        config.database_url = Some("postgres://postgres@127.0.0.1/hub".into());
        let err = load(&config).unwrap_err();
        assert!(matches!(
            err,
            SecretsError::MissingInCluster("token_signing_key")
        ));
        assert!(
            !config.data_dir.exists(),
            "nothing may be generated in a cluster"
        );

        let mut config = temp_config();
        config.redis_url = Some("redis://127.0.0.1".into());
        config.secrets.token_signing_key = Some(Secret::new(STANDARD.encode([1u8; 32])));
        let err = load(&config).unwrap_err();
        assert!(matches!(
            err,
            SecretsError::MissingInCluster("data_encryption_key")
        ));
        config.secrets.data_encryption_key = Some(Secret::new(STANDARD.encode([2u8; 32])));
        let err = load(&config).unwrap_err();
        assert!(matches!(err, SecretsError::MissingInCluster("audit_key")));
        config.secrets.audit_key = Some(Secret::new(STANDARD.encode([3u8; 16])));
        assert!(matches!(
            load(&config),
            Err(SecretsError::Invalid("audit_key", _))
        ));
        config.secrets.audit_key = Some(Secret::new(STANDARD.encode([3u8; 32])));
        assert_eq!(load(&config).unwrap().audit_key, [3u8; 32]);
    }

    #[test]
    fn a_verifier_never_generates_the_audit_key() {
        let config = temp_config();
        assert!(matches!(
            audit_key(&config, false),
            Err(SecretsError::File { .. })
        ));
        assert!(!config.data_dir.join("secrets/audit_key.b64").exists());
        let generated = load(&config).unwrap().audit_key;
        assert_eq!(audit_key(&config, false).unwrap(), generated);
    }

    #[test]
    fn configured_keys_are_validated() {
        let mut config = temp_config();
        config.secrets.token_signing_key = Some(Secret::new("short"));
        assert!(load(&config).is_err());
        config.secrets.token_signing_key = Some(Secret::new(STANDARD.encode([1u8; 32])));
        config.secrets.data_encryption_key = Some(Secret::new(STANDARD.encode([1u8; 16])));
        assert!(load(&config).is_err());
        config.secrets.data_encryption_key = Some(Secret::new(STANDARD.encode([2u8; 32])));
        assert!(load(&config).is_ok());
    }

    #[test]
    fn world_readable_file_is_refused() {
        let config = temp_config();
        load(&config).unwrap();
        let path = config.data_dir.join("secrets/token_signing_key.b64");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(&config), Err(SecretsError::File { .. })));
    }
}
