//! The state shared by every request handler.

use std::{ops::Deref, sync::Arc};

use crate::{
    auth::tokens::TokenSigner, bus::EventBus, clock::Clock, config::Config, crypto::Keyring,
    metrics::Metrics, store::Store,
};

/// Cheap to clone: one `Arc` around everything the handlers need.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub signer: TokenSigner,
    pub keyring: Keyring,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub gateway: Arc<crate::gateway::Gateway>,
    pub notifications: Arc<crate::notifications::Notifications>,
    pub visits: Arc<crate::visits::Visits>,
    /// Signs checkpoints of the audit chain's head outside the database.
    pub audit: Arc<crate::audit::Checkpointer>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
