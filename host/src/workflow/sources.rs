//! Where workflows get their components, connections and events in a real installation: the bundle
//! registry, the connection store, and the triggers' outbox (with the subscriptions that feed it).

use super::engine::{Outbox, OutboxEvent};
use super::executor::{BoxFuture, Components, Connections};
use super::records::{StoredWorkflow, TriggerEvent};
use crate::auth::ConnectionStore;
use crate::http::Connection;
use crate::registry::Registry;
use crate::runtime::LoadedComponent;
use crate::runtime::bindings::ComponentKind;
use crate::store::Store;
use crate::store::triggers::{self, ConnectionRef, NewSubscription, Triggers};
use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use sqlx::{Sqlite, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The installed bundles: `key` with the step's `version` requirement resolves to the newest match.
impl Components for Registry {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        resolve(self, key, version, ComponentKind::Action)
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        resolve(self, key, version, ComponentKind::Trigger)
    }

    fn keys(&self) -> Vec<String> {
        let keys: BTreeSet<String> =
            self.snapshot().bundles().flat_map(|b| b.bundle.components.keys().cloned().collect::<Vec<_>>()).collect();
        keys.into_iter().collect()
    }
}

fn resolve(registry: &Registry, key: &str, version: Option<&str>, kind: ComponentKind) -> Result<Arc<LoadedComponent>> {
    let wanted = match version {
        Some(requirement) => format!("{key}@{requirement}"),
        None => key.to_string(),
    };
    let resolved = registry.resolve(&wanted)?;
    if resolved.component.kind() != kind {
        bail!("{key} is not an {}", crate::cli::kind_name(kind));
    }
    Ok(resolved.component)
}

/// Named connections from the connection store. The names are read once (for `workflow validate`);
/// credentials are resolved at each step, so a re-authorized connection is picked up.
pub struct NamedConnections {
    store: ConnectionStore,
    names: BTreeSet<String>,
}

impl NamedConnections {
    pub async fn open(store: ConnectionStore) -> Result<Self> {
        let names = store.list().await?.into_iter().map(|c| c.name).collect();
        Ok(NamedConnections { store, names })
    }
}

impl Connections for NamedConnections {
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
            let detail = format!("a workflow step was refused with 401: {message}");
            if let Err(error) = self.store.mark_unauthorized(name, &detail).await {
                tracing::warn!(connection = name, "could not mark the connection as needing re-authorization: {error}");
            }
        })
    }
}

/// What the runner needs of a subscription: its connection name (none for an inline one) and settings.
type SubscriptionView = (Option<String>, Value);

/// The triggers' outbox as the workflow runner reads it: each event with its subscription's
/// connection and settings, marked delivered inside the runner's transaction.
pub struct TriggerOutbox {
    outbox: triggers::Outbox,
    triggers: Triggers,
    /// Subscriptions do not change what they are once created; remember them.
    subscriptions: Mutex<HashMap<i64, Option<SubscriptionView>>>,
}

impl TriggerOutbox {
    pub fn new(store: &Store) -> Self {
        TriggerOutbox {
            outbox: triggers::Outbox::new(store),
            triggers: Triggers::new(store),
            subscriptions: Mutex::new(HashMap::new()),
        }
    }

    async fn subscription(&self, id: i64) -> Result<Option<SubscriptionView>> {
        if let Some(known) = self.subscriptions.lock().expect("not poisoned").get(&id) {
            return Ok(known.clone());
        }
        let found = self.triggers.get(id).await?.map(|(subscription, _)| {
            let connection = match subscription.connection {
                ConnectionRef::Named(name) => Some(name),
                ConnectionRef::Inline { .. } => None,
            };
            let settings = serde_json::from_str(&subscription.settings).unwrap_or(Value::Object(Default::default()));
            (connection, settings)
        });
        self.subscriptions.lock().expect("not poisoned").insert(id, found.clone());
        Ok(found)
    }
}

impl Outbox for TriggerOutbox {
    fn undelivered<'a>(
        &'a self,
        _tx: &'a mut Transaction<'static, Sqlite>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<OutboxEvent>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for event in self.outbox.next_batch(limit).await? {
                // A removed subscription's events match no workflow (settings null); they are still
                // marked delivered so they do not block the outbox.
                let (connection, settings) =
                    self.subscription(event.subscription_id).await?.unwrap_or((None, Value::Null));
                let payload = serde_json::from_str(&event.payload).unwrap_or(Value::String(event.payload.clone()));
                out.push(OutboxEvent {
                    id: event.id,
                    connection,
                    settings,
                    event: TriggerEvent {
                        trigger_key: event.trigger_key,
                        dedupe_key: event.dedupe_key,
                        occurred_at: event.occurred_at,
                        payload,
                    },
                });
            }
            Ok(out)
        })
    }

    fn mark_delivered<'a>(&'a self, tx: &'a mut Transaction<'static, Sqlite>, id: i64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let now = super::records::now_ms() / 1000;
            if triggers::Outbox::mark_delivered_in(tx, &[id], now).await? != 1 {
                // Another consumer delivered it meanwhile: roll back, so its runs are not created twice.
                bail!("outbox event {id} was already delivered");
            }
            Ok(())
        })
    }
}

/// Makes sure an enabled workflow's trigger is polled: a subscription for its trigger, named
/// connection and settings, created (or re-enabled) if needed. Returns what was done, for the user.
pub async fn subscribe(store: &Store, workflow: &StoredWorkflow, interval_secs: u32) -> Result<String> {
    let Some(name) = &workflow.trigger_connection else {
        return Ok(format!(
            "the workflow names no trigger connection, so no subscription was added: add `connection:` to its \
             trigger, or add one with `switchyard subscriptions add {}`",
            workflow.trigger_key
        ));
    };
    let triggers = Triggers::new(store);
    let settings: Value = serde_json::from_str(&workflow.trigger_settings)?;
    if let Some(existing) = find_subscription(&triggers, &workflow.trigger_key, name, &settings).await? {
        if existing.enabled {
            return Ok(format!("subscription {} already polls {} on {name}", existing.id, workflow.trigger_key));
        }
        triggers.set_enabled(existing.id, true).await?;
        return Ok(format!("re-enabled subscription {} ({} on {name})", existing.id, workflow.trigger_key));
    }
    let id = triggers
        .add(
            &NewSubscription {
                trigger_key: workflow.trigger_key.clone(),
                connection: ConnectionRef::Named(name.clone()),
                interval_secs: interval_secs.max(1),
                settings,
            },
            super::records::now_ms() / 1000,
        )
        .await?;
    Ok(format!("added subscription {id}: {} on {name} every {interval_secs}s", workflow.trigger_key))
}

/// After a workflow is disabled: its subscription is disabled too unless another enabled workflow
/// still needs it.
pub async fn unsubscribe(
    store: &Store,
    workflow: &StoredWorkflow,
    still_enabled: &[StoredWorkflow],
) -> Result<Option<String>> {
    let Some(name) = &workflow.trigger_connection else { return Ok(None) };
    let needed = still_enabled.iter().any(|other| {
        other.name != workflow.name
            && other.trigger_key == workflow.trigger_key
            && other.trigger_connection == workflow.trigger_connection
            && other.trigger_settings == workflow.trigger_settings
    });
    if needed {
        return Ok(None);
    }
    let triggers = Triggers::new(store);
    let settings: Value = serde_json::from_str(&workflow.trigger_settings)?;
    match find_subscription(&triggers, &workflow.trigger_key, name, &settings).await? {
        Some(existing) if existing.enabled => {
            triggers.set_enabled(existing.id, false).await?;
            Ok(Some(format!(
                "disabled subscription {} ({} on {name}): no enabled workflow uses it",
                existing.id, workflow.trigger_key
            )))
        }
        _ => Ok(None),
    }
}

async fn find_subscription(
    triggers: &Triggers,
    key: &str,
    connection: &str,
    settings: &Value,
) -> Result<Option<triggers::Subscription>> {
    Ok(triggers.list().await?.into_iter().map(|(s, _)| s).find(|s| {
        s.trigger_key == key
            && s.connection == ConnectionRef::Named(connection.to_string())
            && serde_json::from_str::<Value>(&s.settings).ok().as_ref() == Some(settings)
    }))
}

/// The workflow half of `switchyard run`, running in the background until [`RunnerHandle::shutdown`].
pub struct RunnerHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl RunnerHandle {
    /// Stops taking events; a run cut short is recorded as interrupted and resumes on the next start.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| anyhow!("the workflow runner panicked: {e}"))?
    }
}

/// Starts feeding the triggers' outbox to the enabled workflows: components from `bundles` (else the
/// installed bundles), connections from the connection store. On start it first resumes the runs a
/// crash or shutdown interrupted.
pub async fn start_runner(
    store: Store,
    runtime: Arc<crate::runtime::Runtime>,
    home: &std::path::Path,
    bundles: &[std::path::PathBuf],
    every: std::time::Duration,
) -> Result<RunnerHandle> {
    let components: Box<dyn Components> = if bundles.is_empty() {
        Box::new(Registry::open(&runtime, home).await?)
    } else {
        let mut loaded = Vec::new();
        for path in bundles {
            loaded.push(crate::bundle::load(&runtime, path).await?);
        }
        Box::new(Bundles(loaded))
    };
    let connections = NamedConnections::open(ConnectionStore::open_home(home).await?).await?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let engine = super::executor::Engine::new(&store, &runtime, components.as_ref(), &connections);
        let runner = super::engine::WorkflowRunner::new(engine, TriggerOutbox::new(&store));
        runner
            .run_until(every, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok(RunnerHandle { stop, task })
}

/// Several loaded bundles as one component source (the first that has the key wins).
pub struct Bundles(pub Vec<crate::bundle::Bundle>);

impl Components for Bundles {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.find(key, |b| b.action(key, version))
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.find(key, |b| b.trigger(key, version))
    }

    fn keys(&self) -> Vec<String> {
        self.0.iter().flat_map(|b| b.components.keys().cloned()).collect()
    }
}

impl Bundles {
    fn find(
        &self,
        key: &str,
        get: impl Fn(&crate::bundle::Bundle) -> Result<Arc<LoadedComponent>>,
    ) -> Result<Arc<LoadedComponent>> {
        match self.0.iter().find(|b| b.components.contains_key(key)) {
            Some(bundle) => get(bundle),
            None => bail!("no loaded bundle has the component {key}"),
        }
    }
}
