//! TLS for the fake API: a throwaway private PKI ([`TestPki`]) generated in
//! the test, and the server side settings ([`ServerTls`]) for
//! [`FakeApiBuilder::tls`](crate::FakeApiBuilder::tls).
//!
//! ```no_run
//! use haul_testkit::{FakeApi, ServerTls, TestPki};
//! # async fn run() -> std::io::Result<()> {
//! let pki = TestPki::generate()?;
//! let server = FakeApi::builder()
//!     .tls(ServerTls::new(pki.server(&["127.0.0.1", "localhost"])?))
//!     .build()
//!     .start()
//!     .await?;
//! assert_eq!(server.url("/items").scheme(), "https");
//! // A client trusts `pki.ca_pem()` to talk to it.
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A private certificate authority made up on the spot, issuing server and
/// client certificates for tests. Nothing is written to disk.
pub struct TestPki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

/// A certificate (PEM) and its private key (PEM). `Debug` leaves the key out.
#[derive(Clone)]
pub struct CertifiedPem {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for CertifiedPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedPem")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"***")
            .finish()
    }
}

fn tls_err(err: impl fmt::Display) -> io::Error {
    io::Error::other(format!("test PKI: {err}"))
}

/// Which kind of leaf certificate to issue.
#[derive(Clone, Copy)]
enum Leaf {
    Server { expired: bool },
    Client,
}

impl TestPki {
    /// A new CA (`haul test CA <key id>`) with a fresh key. Each CA has its
    /// own name, so a certificate of another one is an unknown issuer.
    pub fn generate() -> io::Result<Self> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let key_id: String = key
            .public_key_raw()
            .iter()
            .rev()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("haul test CA {key_id}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(tls_err)?;
        Ok(Self {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM: what a client adds to its roots.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server certificate for these names (DNS names or IP addresses),
    /// valid now.
    pub fn server(&self, names: &[&str]) -> io::Result<CertifiedPem> {
        self.leaf(names, Leaf::Server { expired: false })
    }

    /// A server certificate for these names that expired in 2001.
    pub fn expired_server(&self, names: &[&str]) -> io::Result<CertifiedPem> {
        self.leaf(names, Leaf::Server { expired: true })
    }

    /// A client certificate (for mutual TLS) with this common name.
    pub fn client(&self, name: &str) -> io::Result<CertifiedPem> {
        self.leaf(&[name], Leaf::Client)
    }

    fn leaf(&self, names: &[&str], leaf: Leaf) -> io::Result<CertifiedPem> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).map_err(tls_err)?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        match leaf {
            Leaf::Server { expired } => {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth);
                if expired {
                    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
                }
            }
            Leaf::Client => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth),
        }
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok(CertifiedPem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// How a [`FakeApi`](crate::FakeApi) serves TLS: its certificate, whether it
/// requires a client certificate, and whether it offers HTTP/2.
#[derive(Debug, Clone)]
pub struct ServerTls {
    cert: CertifiedPem,
    client_ca_pem: Option<String>,
    http2: bool,
}

impl ServerTls {
    /// Serves this certificate, offering HTTP/2 and HTTP/1.1 (ALPN), with no
    /// client certificate required.
    pub fn new(cert: CertifiedPem) -> Self {
        Self {
            cert,
            client_ca_pem: None,
            http2: true,
        }
    }

    /// Requires a client certificate issued by this CA (mutual TLS): a client
    /// without one fails the handshake.
    #[must_use]
    pub fn require_client_cert(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_ca_pem = Some(ca_pem.into());
        self
    }

    /// Offers only HTTP/1.1 (default: HTTP/2 too).
    #[must_use]
    pub fn http1_only(mut self) -> Self {
        self.http2 = false;
        self
    }

    /// The rustls server configuration these settings describe.
    pub fn server_config(&self) -> io::Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(tls_err)?;
        let key = PrivateKeyDer::from_pem_slice(self.cert.key_pem.as_bytes()).map_err(tls_err)?;
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let builder = match &self.client_ca_pem {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots.add(cert.map_err(tls_err)?).map_err(tls_err)?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(tls_err)?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(tls_err)?;
        config.alpn_protocols = if self.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(config)
    }

    pub(crate) fn acceptor(&self) -> io::Result<TlsAcceptor> {
        Ok(TlsAcceptor::from(Arc::new(self.server_config()?)))
    }
}
