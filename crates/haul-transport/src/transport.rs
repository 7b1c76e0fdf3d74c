//! The [`Transport`] trait.

use std::sync::Arc;

use async_trait::async_trait;
use haul_core::{Request, Response, TransportError};

/// Sends one request and returns the whole response, or a typed error.
///
/// A transport never retries by itself: retrying is the extractor's job,
/// guided by the retry policy. Implementations must enforce their own
/// timeouts and body-size limits and must be safe to share between
/// concurrent streams.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Sends `request` once.
    async fn send(&self, request: &Request) -> Result<Response, TransportError>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for &T {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        (**self).send(request).await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Box<T> {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        (**self).send(request).await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        (**self).send(request).await
    }
}
