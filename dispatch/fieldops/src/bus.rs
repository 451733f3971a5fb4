//! The event bus for what the dispatcher's view follows live (positions, task steps,
//! assignments, plans, stock alerts). On one node it is an in-process broadcast; with
//! `redis_url` set, every event is also published on a Redis channel and the events other nodes
//! publish there are re-broadcast here, so a dispatcher connected to any node sees them all.
//! A single node never needs Redis.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::FieldEvent;

/// What goes over Redis: the event and the node that published it (which ignores its own).
#[derive(Serialize, Deserialize)]
struct Envelope {
    node: String,
    event: FieldEvent,
}

pub struct Bus {
    local: broadcast::Sender<FieldEvent>,
    remote: Option<mpsc::UnboundedSender<String>>,
    node: String,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::local()
    }
}

impl Bus {
    /// In-process only.
    pub fn local() -> Bus {
        Bus {
            local: broadcast::channel(1024).0,
            remote: None,
            node: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// Shared through Redis: subscribed to `channel` before this returns, so nothing published
    /// after start-up is missed; reconnects on its own when Redis goes away for a while.
    pub async fn redis(url: &str, channel: String) -> Result<Bus, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        let publisher = client.get_multiplexed_async_connection().await?;
        let mut bus = Bus::local();
        let (tx, rx) = mpsc::unbounded_channel();
        bus.remote = Some(tx);
        tokio::spawn(publish(publisher, channel.clone(), rx));
        tokio::spawn(relay(client, pubsub, channel, bus.local.clone(), bus.node.clone()));
        Ok(bus)
    }

    /// Publish an event to this node's listeners and, when shared, to the other nodes'.
    pub fn send(&self, event: FieldEvent) -> bool {
        if let Some(remote) = &self.remote {
            let env = Envelope {
                node: self.node.clone(),
                event: event.clone(),
            };
            if let Ok(text) = serde_json::to_string(&env) {
                let _ = remote.send(text);
            }
        }
        self.local.send(event).is_ok()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FieldEvent> {
        self.local.subscribe()
    }
}

async fn publish(mut con: redis::aio::MultiplexedConnection, channel: String, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(text) = rx.recv().await {
        let sent: Result<(), redis::RedisError> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(&text)
            .query_async(&mut con)
            .await;
        if let Err(e) = sent {
            // Live view only: a lost event is corrected by the next board reload.
            tracing::warn!(error = %e, "cannot publish a field event to Redis");
        }
    }
}

async fn relay(
    client: redis::Client,
    mut pubsub: redis::aio::PubSub,
    channel: String,
    local: broadcast::Sender<FieldEvent>,
    node: String,
) {
    loop {
        {
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let Ok(text) = msg.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(env) if env.node != node => {
                        let _ = local.send(env.event);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed field event from Redis"),
                }
            }
        }
        tracing::warn!("the Redis subscription ended; reconnecting");
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            match client.get_async_pubsub().await {
                Ok(mut p) => {
                    if p.subscribe(&channel).await.is_ok() {
                        pubsub = p;
                        // Whatever happened meanwhile: tell the pages to reload.
                        let _ = local.send(FieldEvent::Resync);
                        break;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Redis still unreachable"),
            }
        }
    }
}
