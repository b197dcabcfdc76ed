//! TLS for the SMTP relay's STARTTLS: a rustls server configuration from the configured PEM
//! certificate chain and key, or from a self-signed certificate made once under the data
//! directory (`smtp-selfsigned.crt` / `smtp-selfsigned.key`) when none is configured.

use crate::config::Config;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("invalid certificate or key: {0}")]
    Invalid(String),
}

/// Where the self-signed certificate and its key live under `data_dir`.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    (
        data_dir.join("smtp-selfsigned.crt"),
        data_dir.join("smtp-selfsigned.key"),
    )
}

/// The acceptor for STARTTLS as the configuration asks: the configured files, or the
/// self-signed certificate (made now if it does not exist yet).
pub fn acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    let (cert, key) = match (&config.smtp.tls_cert, &config.smtp.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let (c, k) = self_signed_paths(&config.data_dir);
            if !c.exists() || !k.exists() {
                write_self_signed(&config.smtp.hostname, &c, &k)?;
            }
            (c, k)
        }
    };
    Ok(TlsAcceptor::from(Arc::new(server_config(&cert, &key)?)))
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read_err = |path: &Path, e: rustls_pki_types::pem::Error| TlsError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(cert, e))?;
    if chain.is_empty() {
        return Err(TlsError::Invalid(format!(
            "{} holds no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read_err(key, e))?;
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Invalid(e.to_string()))
}

/// Make a self-signed certificate for `hostname` (and localhost, 127.0.0.1, ::1) and write it
/// and its key (mode 0600 on Unix) as PEM.
pub fn write_self_signed(hostname: &str, cert: &Path, key: &Path) -> Result<(), TlsError> {
    let mut names = vec![hostname.to_string()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    if let Some(dir) = cert.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    }
    write_private(key, made.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, made.cert.pem()).map_err(|source| TlsError::Write {
        path: cert.display().to_string(),
        source,
    })?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate for STARTTLS");
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let err = |source| TlsError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}
