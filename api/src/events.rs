//! Redis pub/sub fan-out for subscriptions. Each server process holds one Redis connection
//! subscribed to `{prefix}:org:*` and hands every message to its local subscribers through a
//! broadcast channel; each subscription keeps only its organization's channel and what its access
//! allows. Publishers anywhere (other servers, workers) reach subscribers on every server.
//!
//! Delivery is at most once: a subscriber that falls too far behind, or a Redis reconnect, loses
//! messages. Subscriptions are for live views; the rows they describe stay queryable.

use crate::error::{AppError, AppResult};
use futures::StreamExt;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{OnceCell, broadcast};

/// A message from Redis.
pub struct Event {
    /// This process's sequence number of the event (from 1, in arrival order).
    pub seq: u64,
    /// Channel it was published on.
    pub channel: String,
    /// Body (JSON).
    pub payload: String,
    /// The body parsed, once per process: by the first subscription that reads it.
    parsed: OnceLock<Option<serde_json::Value>>,
    /// The body as the first type it was read as (`Option<Arc<T>>`), shared by every subscription
    /// reading it as that type.
    typed: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("seq", &self.seq)
            .field("channel", &self.channel)
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

impl Event {
    /// An event as received.
    pub fn new(seq: u64, channel: String, payload: String) -> Self {
        Self {
            seq,
            channel,
            payload,
            parsed: OnceLock::new(),
            typed: OnceLock::new(),
        }
    }

    fn json(&self) -> Option<&serde_json::Value> {
        self.parsed
            .get_or_init(|| serde_json::from_str(&self.payload).ok())
            .as_ref()
    }

    /// The body as `T` (`None` when the body is not JSON, or not a `T`): the body is parsed once
    /// per process, and decoded into `T` once for all the subscriptions that read it as `T`.
    pub fn read<T: serde::de::DeserializeOwned + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let shared = self.typed.get_or_init(|| {
            let decoded: Option<Arc<T>> = self
                .json()
                .and_then(|v| T::deserialize(v).ok())
                .map(Arc::new);
            Arc::new(decoded)
        });
        match shared.downcast_ref::<Option<Arc<T>>>() {
            Some(decoded) => decoded.clone(),
            // Read first as another type: decode from the parsed body.
            None => self
                .json()
                .and_then(|v| T::deserialize(v).ok())
                .map(Arc::new),
        }
    }
}

/// The per-process subscriber of Redis pub/sub.
pub struct EventHub {
    client: redis::Client,
    pattern: String,
    tx: broadcast::Sender<Arc<Event>>,
    started: OnceCell<()>,
    seq: AtomicU64,
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
            seq: AtomicU64::new(0),
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
                    let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
                    let _ = self.tx.send(Arc::new(Event::new(
                        seq,
                        msg.get_channel_name().to_owned(),
                        payload,
                    )));
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
