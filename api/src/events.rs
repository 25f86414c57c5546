//! Redis pub/sub fan-out for subscriptions. Each server process holds one Redis connection
//! subscribed to `{prefix}:org:*` and hands every message to its local subscribers through a
//! broadcast channel; each subscription keeps only its organization's channel and what its access
//! allows. Publishers anywhere (other servers, workers) reach subscribers on every server.
//!
//! Delivery is at most once: a subscriber that falls too far behind, or a Redis reconnect, loses
//! messages. Subscriptions are for live views; the rows they describe stay queryable.

use crate::error::{AppError, AppResult};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OnceCell, broadcast};

/// A message from Redis.
#[derive(Debug, Clone)]
pub struct Event {
    /// Channel it was published on.
    pub channel: String,
    /// Body (JSON).
    pub payload: String,
}

/// The per-process subscriber of Redis pub/sub.
pub struct EventHub {
    client: redis::Client,
    pattern: String,
    tx: broadcast::Sender<Arc<Event>>,
    started: OnceCell<()>,
}

impl EventHub {
    /// A hub for the Redis at `url`, listening to every organization channel of `keys` once
    /// first used.
    pub fn new(url: &str, keys: &crate::keys::Keys) -> AppResult<Self> {
        let client = redis::Client::open(url).map_err(AppError::from_error)?;
        let (tx, _) = broadcast::channel(4096);
        Ok(Self {
            client,
            pattern: keys.org_channels_pattern(),
            tx,
            started: OnceCell::new(),
        })
    }

    /// Receives every event from now on. The first call connects and waits until Redis has
    /// confirmed the subscription, so nothing published after this returns is missed.
    pub async fn subscribe(self: &Arc<Self>) -> AppResult<broadcast::Receiver<Arc<Event>>> {
        self.started
            .get_or_try_init(|| async {
                let pubsub = self.connect().await?;
                let hub = Arc::clone(self);
                tokio::spawn(async move { hub.pump(pubsub).await });
                Ok::<_, AppError>(())
            })
            .await?;
        Ok(self.tx.subscribe())
    }

    async fn connect(&self) -> AppResult<redis::aio::PubSub> {
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(AppError::from_error)?;
        pubsub
            .psubscribe(&self.pattern)
            .await
            .map_err(AppError::from_error)?;
        Ok(pubsub)
    }

    /// Forwards messages until the process ends, reconnecting with backoff when Redis drops.
    async fn pump(self: Arc<Self>, mut pubsub: redis::aio::PubSub) {
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    // No receivers is fine: nobody is watching right now.
                    let _ = self.tx.send(Arc::new(Event {
                        channel: msg.get_channel_name().to_owned(),
                        payload,
                    }));
                }
            }
            tracing::warn!("Redis pub/sub connection lost; reconnecting");
            let mut wait = Duration::from_millis(100);
            pubsub = loop {
                tokio::time::sleep(wait).await;
                match self.connect().await {
                    Ok(p) => break p,
                    Err(e) => {
                        tracing::warn!(error = ?e, "Redis pub/sub reconnect failed");
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            };
        }
    }
}
