//! Read-through Redis cache of hot catalog reads (a product's variants, a variant's prices).
//!
//! Keys are typed and organization-scoped, `{prefix}:org:{org}:catalog:{generation}:{kind}:{id}`,
//! where the organization comes from the verified access of the tenant transaction, never from
//! input. Every catalog write records [`Effect::CatalogChanged`]; after its commit the
//! organization's generation counter is incremented, so the next read uses fresh keys and old
//! entries die by their TTL. Catalog rows are organization-wide (their RLS policy has no branch
//! condition), so an organization-scoped key holds exactly what every reader of that organization
//! may see. Stock levels are never cached: they change with every reservation.
//!
//! [`Effect::CatalogChanged`]: crate::effects::Effect::CatalogChanged

use crate::ids::OrgId;
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

/// The cache as one request sees it: its organization and (once read) its generation.
pub struct CatalogCache {
    redis: crate::breaker::GuardedRedis,
    keys: crate::keys::Keys,
    ttl: Duration,
    generation: tokio::sync::OnceCell<Option<(OrgId, i64)>>,
}

impl CatalogCache {
    /// A cache for one request; `ttl` zero disables it.
    pub fn new(
        redis: crate::breaker::GuardedRedis,
        keys: crate::keys::Keys,
        ttl: Duration,
    ) -> Self {
        Self {
            redis,
            keys,
            ttl,
            generation: tokio::sync::OnceCell::new(),
        }
    }

    /// Reads the organization's generation once per request; `None` when the cache is off or
    /// Redis is unavailable (then reads go to Postgres).
    async fn generation(&self, org: OrgId) -> Option<i64> {
        if self.ttl.is_zero() {
            return None;
        }
        let got = self
            .generation
            .get_or_init(|| async {
                let key = self.keys.catalog_generation(org);
                let g: Option<i64> = match self.redis.run(async |conn| conn.get(key).await).await {
                    Ok(g) => g,
                    Err(_) => {
                        let m = crate::metrics::get();
                        m.redis_error("cache");
                        m.redis_fallback("cache");
                        return None;
                    }
                };
                Some((org, g.unwrap_or(0)))
            })
            .await;
        // One request acts for one organization; never reuse a generation across organizations.
        got.filter(|(o, _)| *o == org).map(|(_, g)| g)
    }

    fn key(&self, org: OrgId, generation: i64, kind: &str, id: uuid::Uuid) -> String {
        self.keys.catalog_entry(org, generation, kind, id)
    }

    /// Values of `kind` for `ids` from Redis; `load` reads the misses (from Postgres) and they are
    /// stored for the next reader. Any Redis failure falls back to `load` for everything.
    pub async fn read_through<V, E>(
        &self,
        org: OrgId,
        kind: &str,
        ids: &[uuid::Uuid],
        load: impl AsyncFnOnce(&[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, V>, E>,
    ) -> Result<HashMap<uuid::Uuid, V>, E>
    where
        V: Serialize + DeserializeOwned,
    {
        let Some(generation) = self.generation(org).await else {
            return load(ids).await;
        };
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.key(org, generation, kind, *id))
            .collect();
        let cached: Vec<Option<String>> = if keys.is_empty() {
            Vec::new()
        } else {
            match self
                .redis
                .run(async |conn| redis::cmd("MGET").arg(&keys).query_async(conn).await)
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "catalog cache read failed");
                    let m = crate::metrics::get();
                    m.redis_error("cache");
                    m.redis_fallback("cache");
                    return load(ids).await;
                }
            }
        };
        let mut out = HashMap::with_capacity(ids.len());
        let mut misses = Vec::new();
        for (id, hit) in ids.iter().zip(cached) {
            match hit.and_then(|s| serde_json::from_str::<V>(&s).ok()) {
                Some(v) => {
                    out.insert(*id, v);
                }
                None => misses.push(*id),
            }
        }
        if misses.is_empty() {
            return Ok(out);
        }
        let loaded = load(&misses).await?;
        let ttl = self.ttl.as_secs().max(1);
        let mut pipe = redis::pipe();
        for id in &misses {
            if let Some(v) = loaded.get(id)
                && let Ok(body) = serde_json::to_string(v)
            {
                pipe.set_ex(self.key(org, generation, kind, *id), body, ttl)
                    .ignore();
            }
        }
        if let Err(e) = self
            .redis
            .run(async |conn| pipe.query_async::<()>(conn).await)
            .await
        {
            tracing::debug!(error = %e, "catalog cache write failed");
            crate::metrics::get().redis_error("cache");
        }
        out.extend(loaded);
        Ok(out)
    }
}
