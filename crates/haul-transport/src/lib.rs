//! # haul-transport
//!
//! The [`Transport`] trait (send one request, get one fully-read response or a
//! typed error) and [`ReqwestTransport`], haul's default implementation.
//!
//! ```no_run
//! use haul_transport::{ReqwestTransport, Transport};
//! use haul_core::Request;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = ReqwestTransport::builder()
//!     .connect_timeout(std::time::Duration::from_secs(5))
//!     .max_body_bytes(64 << 20)
//!     .build()?;
//! let response = transport.send(&Request::get("https://api.example.com/items".parse()?)).await?;
//! println!("{} bytes", response.body.len());
//! # Ok(()) }
//! ```

mod auth;
mod proxy;
mod reqwest_transport;
mod sign;
mod tls;
mod transport;

pub use auth::{ApiKey, Auth, AuthTransport, Basic, Bearer, OAuth2ClientCredentials};
pub use proxy::ProxyConfig;
pub use reqwest_transport::{BuildError, ReqwestTransport, ReqwestTransportBuilder};
pub use sign::{HmacSha256Signer, SignError, Signer, SigningRequest};
pub use tls::{ClientIdentity, PemSource};
pub use transport::Transport;
