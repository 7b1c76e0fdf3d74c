//! TLS settings of the [`ReqwestTransport`](crate::ReqwestTransport): extra
//! root certificates ([`PemSource`]), a client identity for mutual TLS
//! ([`ClientIdentity`]), and the typed certificate errors.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;

use haul_core::{CertificateCheck, Secret};

use crate::BuildError;

/// PEM text from a file (read when the transport is built) or from memory.
#[derive(Clone)]
pub enum PemSource {
    /// PEM text already in memory.
    Bytes(Vec<u8>),
    /// A file holding PEM text, read by [`ReqwestTransportBuilder::build`](crate::ReqwestTransportBuilder::build).
    File(PathBuf),
}

impl PemSource {
    /// Where the PEM comes from, for error messages (`"<memory>"` or the path).
    pub fn origin(&self) -> String {
        match self {
            Self::Bytes(_) => "<memory>".to_owned(),
            Self::File(path) => path.display().to_string(),
        }
    }

    fn read(&self) -> Result<Vec<u8>, BuildError> {
        match self {
            Self::Bytes(bytes) => Ok(bytes.clone()),
            Self::File(path) => std::fs::read(path).map_err(|source| BuildError::ReadFile {
                path: path.clone(),
                source,
            }),
        }
    }
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes) => write!(f, "PemSource::Bytes({} bytes)", bytes.len()),
            Self::File(path) => f.debug_tuple("PemSource::File").field(path).finish(),
        }
    }
}

/// A client certificate chain and its private key, presented to servers that
/// ask for one (mutual TLS).
///
/// The key is held as a [`Secret`]: `Debug` prints `***`, and it is never
/// logged. Files are read when the transport is built.
///
/// ```
/// use haul_transport::ClientIdentity;
/// let identity = ClientIdentity::from_pem_files("/etc/haul/client.crt", "/etc/haul/client.key");
/// assert!(!format!("{identity:?}").contains("BEGIN"));
/// ```
#[derive(Clone)]
pub struct ClientIdentity {
    cert_chain: PemSource,
    key: KeySource,
}

#[derive(Clone)]
enum KeySource {
    Pem(Secret),
    File(PathBuf),
}

impl ClientIdentity {
    /// An identity from PEM text: the certificate chain (leaf first) and the
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain: impl Into<Vec<u8>>, key: impl Into<Secret>) -> Self {
        Self {
            cert_chain: PemSource::Bytes(cert_chain.into()),
            key: KeySource::Pem(key.into()),
        }
    }

    /// An identity from two PEM files, read when the transport is built.
    pub fn from_pem_files(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert_chain: PemSource::File(cert_chain.into()),
            key: KeySource::File(key.into()),
        }
    }

    /// The reqwest identity: the chain and the key, parsed.
    pub(crate) fn to_reqwest(&self) -> Result<reqwest::Identity, BuildError> {
        let origin = self.cert_chain.origin();
        let chain = self.cert_chain.read()?;
        let key = match &self.key {
            KeySource::Pem(secret) => secret.clone(),
            KeySource::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| BuildError::ReadFile {
                    path: path.clone(),
                    source,
                })?;
                // PEM is ASCII; anything else is not a key we can read.
                Secret::new(String::from_utf8(bytes).map_err(|_| BuildError::Identity {
                    origin: origin.clone(),
                    reason: format!("the key file {} is not PEM text", path.display()),
                })?)
            }
        };
        if !key.expose().contains("PRIVATE KEY-----") {
            return Err(BuildError::Identity {
                origin,
                reason: "no PEM private key found".to_owned(),
            });
        }
        // reqwest (rustls) reads the chain and the key from one PEM buffer.
        let mut pem = chain;
        pem.push(b'\n');
        pem.extend_from_slice(key.expose().as_bytes());
        reqwest::Identity::from_pem(&pem).map_err(|err| BuildError::Identity {
            origin,
            // reqwest's message names the PEM section kinds, never their content.
            reason: err.to_string(),
        })
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key: &dyn fmt::Debug = match &self.key {
            KeySource::Pem(secret) => secret,
            KeySource::File(path) => path,
        };
        f.debug_struct("ClientIdentity")
            .field("cert_chain", &self.cert_chain)
            .field("key", key)
            .finish()
    }
}

/// Parses every certificate of a PEM bundle (at least one).
pub(crate) fn root_certificates(
    source: &PemSource,
) -> Result<Vec<reqwest::Certificate>, BuildError> {
    let origin = source.origin();
    let pem = source.read()?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| BuildError::Certificate {
            origin: origin.clone(),
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(BuildError::Certificate {
            origin,
            reason: "no PEM certificate found".to_owned(),
        });
    }
    Ok(certs)
}

/// The certificate check that failed, when `err`'s chain holds a rustls
/// certificate error (rustls errors travel as the payload of an `io::Error`).
pub(crate) fn certificate_failure(err: &(dyn StdError + 'static)) -> Option<CertificateCheck> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(check) = rustls_check(e) {
            return Some(check);
        }
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(check) = certificate_failure(inner)
        {
            return Some(check);
        }
        next = e.source();
    }
    None
}

fn rustls_check(e: &(dyn StdError + 'static)) -> Option<CertificateCheck> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = e.downcast_ref::<rustls::Error>()? else {
        return None;
    };
    Some(match cert {
        C::UnknownIssuer => CertificateCheck::UnknownIssuer,
        C::Expired | C::ExpiredContext { .. } => CertificateCheck::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => CertificateCheck::NotYetValid,
        C::NotValidForName | C::NotValidForNameContext { .. } => CertificateCheck::NameMismatch,
        C::Revoked => CertificateCheck::Revoked,
        _ => CertificateCheck::Other,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn rustls_errors_map_to_checks() {
        let cases = [
            (
                rustls::CertificateError::UnknownIssuer,
                CertificateCheck::UnknownIssuer,
            ),
            (rustls::CertificateError::Expired, CertificateCheck::Expired),
            (
                rustls::CertificateError::NotValidYet,
                CertificateCheck::NotYetValid,
            ),
            (
                rustls::CertificateError::NotValidForName,
                CertificateCheck::NameMismatch,
            ),
            (
                rustls::CertificateError::BadSignature,
                CertificateCheck::Other,
            ),
        ];
        for (cert, check) in cases {
            // As tokio-rustls delivers it: the rustls error inside an io::Error.
            let io = io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(cert),
            );
            assert_eq!(certificate_failure(&io), Some(check));
        }
        let other = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::HandshakeNotComplete,
        );
        assert_eq!(certificate_failure(&other), None);
    }

    #[test]
    fn identity_debug_hides_the_key() {
        let identity = ClientIdentity::from_pem(
            "-----BEGIN CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n",
        );
        let debug = format!("{identity:?}");
        assert!(!debug.contains("SECRETKEYMATERIAL"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }

    #[test]
    fn identity_without_a_key_is_refused_without_echoing_it() {
        let identity =
            ClientIdentity::from_pem("-----BEGIN CERTIFICATE-----\n", "not a key hunter2");
        let err = identity.to_reqwest().unwrap_err();
        assert!(matches!(err, BuildError::Identity { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
