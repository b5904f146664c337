//! Where workflows get their events in a real installation: the triggers' outbox (with the
//! subscriptions that feed it), and the subscriptions an enabled workflow needs.

use super::executor::BoxFuture;
use super::records::{StoredWorkflow, TriggerEvent};
use super::runner::{EventFeed, PendingEvent};
use crate::store::Store;
use crate::store::triggers::{self, ConnectionRef, NewSubscription, Triggers};
use anyhow::{Result, bail};
use serde_json::Value;
use sqlx::{Sqlite, Transaction};

/// The triggers' outbox as the workflow runner reads it: each event with its subscription's
/// connection and settings, read and marked delivered inside the runner's transaction (so delivery
/// needs one database connection, not two).
pub struct TriggerOutbox;

impl TriggerOutbox {
    pub fn new(_store: &Store) -> Self {
        TriggerOutbox
    }
}

impl EventFeed for TriggerOutbox {
    fn undelivered<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Sqlite>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<PendingEvent>>> {
        Box::pin(async move {
            type Row = (i64, String, String, i64, String, Option<String>, Option<String>, bool);
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT o.id, o.trigger_key, o.dedupe_key, o.occurred_at, o.payload, s.connection, s.settings,
                   s.id IS NOT NULL
                 FROM outbox o LEFT JOIN subscriptions s ON s.id = o.subscription_id
                 WHERE o.delivered_at IS NULL ORDER BY o.id LIMIT ?",
            )
            .bind(i64::from(limit))
            .fetch_all(&mut **tx)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, trigger_key, dedupe_key, occurred_at, payload, connection, settings, exists)| {
                    // A removed subscription's events match no workflow (settings null); they are still
                    // marked delivered so they do not block the outbox.
                    let settings = match (exists, settings) {
                        (true, Some(text)) => serde_json::from_str(&text).unwrap_or(Value::Object(Default::default())),
                        (true, None) => Value::Object(Default::default()),
                        (false, _) => Value::Null,
                    };
                    let payload = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
                    PendingEvent {
                        id,
                        connection,
                        settings,
                        event: TriggerEvent { trigger_key, dedupe_key, occurred_at, payload },
                    }
                })
                .collect())
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
