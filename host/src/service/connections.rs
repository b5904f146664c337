//! The one connection source of a data directory: its connection store, for the scheduler's
//! subscriptions and the workflows' steps alike (the daemon, and CLI commands that run steps).

use crate::auth::ConnectionStore;
use crate::http::Connection;
use crate::scheduler::{self, SubscriptionConnections};
use crate::store::triggers::ConnectionRef;
use crate::workflow::executor::Connections;
use anyhow::{Result, anyhow};
use futures_util::future::BoxFuture;
use std::collections::BTreeSet;

/// Named connections from the store (credentials resolved at every use, so a re-authorized or
/// rotated token is picked up without a restart); a subscription's inline connection from the
/// environment variable it names.
pub struct StoreConnections {
    store: ConnectionStore,
    /// The names when opened, for `workflow validate` (credentials are always read fresh).
    names: BTreeSet<String>,
}

impl StoreConnections {
    pub async fn open(store: ConnectionStore) -> Result<StoreConnections> {
        let names = store.list().await?.into_iter().map(|c| c.name).collect();
        Ok(StoreConnections { store, names })
    }

    async fn mark_unauthorized(&self, name: &str, detail: &str) {
        if let Err(error) = self.store.mark_unauthorized(name, detail).await {
            tracing::warn!(connection = name, "could not mark the connection as needing re-authorization: {error}");
        }
    }
}

impl SubscriptionConnections for StoreConnections {
    fn resolve<'a>(&'a self, connection: &'a ConnectionRef) -> BoxFuture<'a, Result<Connection>> {
        Box::pin(async move {
            match connection {
                ConnectionRef::Named(name) => {
                    self.store.resolve(name).await.map_err(|e| anyhow!("connection {name:?}: {e}"))
                }
                inline => scheduler::resolve_inline(inline),
            }
        })
    }

    fn unauthorized<'a>(&'a self, connection: &'a ConnectionRef, detail: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let ConnectionRef::Named(name) = connection {
                self.mark_unauthorized(name, detail).await;
            }
        })
    }
}

impl Connections for StoreConnections {
    fn resolve<'a>(&'a self, name: Option<&'a str>) -> BoxFuture<'a, Result<Connection>> {
        Box::pin(async move {
            let Some(name) = name else {
                return Err(anyhow!(
                    "the step names no connection: add `connection: NAME` to the trigger or the step \
                     (`switchyard connections list` shows them)"
                ));
            };
            Ok(self.store.resolve(name).await?)
        })
    }

    fn exists(&self, name: &str) -> Option<bool> {
        Some(self.names.contains(name))
    }

    fn rejected<'a>(&'a self, name: &'a str, message: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.mark_unauthorized(name, &format!("a workflow step was refused with 401: {message}")).await;
        })
    }
}
