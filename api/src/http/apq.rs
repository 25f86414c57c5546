//! Automatic persisted queries, per Apollo's protocol: a client first sends only
//! `extensions.persistedQuery = {version: 1, sha256Hash}`; an unknown hash is answered with
//! `PERSISTED_QUERY_NOT_FOUND` (message `PersistedQueryNotFound`), and the client then sends the
//! query with its hash, which is checked and remembered.
//!
//! Documents are kept in Redis, per organization (an anonymous caller has a scope of its own), so
//! one tenant can never learn whether another sent a query. The cache is bounded: at most
//! [`MAX_ENTRIES`] documents in all, least recently used dropped first, and each expires after
//! [`TTL_SECS`] unused. Only documents that pass the request guard and parse are stored. When
//! Redis is unavailable, a hash-only request is answered as not found, so clients fall back to
//! sending the full query.

use crate::breaker::GuardedRedis;
use crate::keys::Keys;
use sha2::{Digest, Sha256};

/// Most documents kept (all organizations together).
pub const MAX_ENTRIES: usize = 10_000;
/// A document not used for this long is forgotten.
pub const TTL_SECS: u64 = 24 * 3600;

/// Looks a document up and marks it used. KEYS: document, index; ARGV: ttl.
const LOOKUP: &str = r"
local q = redis.call('GET', KEYS[1])
if q then
  local t = redis.call('TIME')
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], t[1], KEYS[1])
end
return q
";

/// Stores a document and drops the least recently used beyond the bound. KEYS: document, index;
/// ARGV: document, ttl, max entries.
const STORE: &str = r"
local t = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], t[1], KEYS[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', old[i]) end
end
-- Entries that expired on their own leave their index entries behind; trim those too.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', t[1] - tonumber(ARGV[2]))
return 1
";

/// What a request's `extensions.persistedQuery` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Persisted {
    /// No persisted query.
    None,
    /// A hash (lower-case hex SHA-256).
    Hash(String),
    /// Present but not understood (an unsupported version or a malformed hash).
    Invalid(&'static str),
}

/// Reads `extensions.persistedQuery`.
pub fn persisted(req: &async_graphql::Request) -> Persisted {
    let Some(async_graphql::Value::Object(pq)) = req.extensions.get("persistedQuery") else {
        return Persisted::None;
    };
    match pq.get("version") {
        Some(async_graphql::Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => return Persisted::Invalid("only persisted query version 1 is supported"),
    }
    match pq.get("sha256Hash") {
        Some(async_graphql::Value::String(h))
            if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Persisted::Hash(h.to_ascii_lowercase())
        }
        _ => Persisted::Invalid("sha256Hash must be 64 hexadecimal digits"),
    }
}

/// Whether `hash` is the SHA-256 of `query`.
pub fn matches(query: &str, hash: &str) -> bool {
    hex::encode(Sha256::digest(query.as_bytes())) == hash
}

/// The persisted-query cache.
pub struct Apq {
    redis: GuardedRedis,
    keys: Keys,
    lookup: redis::Script,
    store: redis::Script,
}

impl Apq {
    /// A cache in `redis` under `keys`.
    pub fn new(redis: GuardedRedis, keys: Keys) -> Self {
        Self {
            redis,
            keys,
            lookup: redis::Script::new(LOOKUP),
            store: redis::Script::new(STORE),
        }
    }

    /// The document with `hash` in `scope` (see [`Keys::persisted_query`]), if remembered.
    pub async fn lookup(&self, scope: &str, hash: &str) -> Option<String> {
        let key = self.keys.persisted_query(scope, hash);
        let index = self.keys.persisted_query_index();
        let found = self
            .redis
            .run(async |conn| {
                self.lookup
                    .key(key)
                    .key(index)
                    .arg(TTL_SECS)
                    .invoke_async::<Option<String>>(conn)
                    .await
            })
            .await;
        match found {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "persisted query lookup failed; answering not found");
                None
            }
        }
    }

    /// Remembers `query` under `hash` in `scope` (best effort: the request runs either way).
    pub async fn store(&self, scope: &str, hash: &str, query: &str) {
        let key = self.keys.persisted_query(scope, hash);
        let index = self.keys.persisted_query_index();
        let stored = self
            .redis
            .run(async |conn| {
                self.store
                    .key(key)
                    .key(index)
                    .arg(query)
                    .arg(TTL_SECS)
                    .arg(MAX_ENTRIES)
                    .invoke_async::<i64>(conn)
                    .await
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "persisted query not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_checked_against_the_query() {
        // sha256("{__typename}")
        let h = hex::encode(Sha256::digest(b"{__typename}"));
        assert!(matches("{__typename}", &h));
        assert!(!matches("{ __typename }", &h));
    }

    #[test]
    fn only_version_1_with_a_hex_hash_is_understood() {
        let req = |ext: serde_json::Value| {
            let mut r = async_graphql::Request::new("");
            r.extensions = serde_json::from_value(ext).unwrap_or_default();
            r
        };
        let h = "a".repeat(64);
        assert_eq!(
            persisted(&req(
                serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": h}})
            )),
            Persisted::Hash(h.clone())
        );
        assert!(matches!(
            persisted(&req(
                serde_json::json!({"persistedQuery": {"version": 2, "sha256Hash": h}})
            )),
            Persisted::Invalid(_)
        ));
        assert!(matches!(
            persisted(&req(
                serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": "zz"}})
            )),
            Persisted::Invalid(_)
        ));
        assert_eq!(persisted(&req(serde_json::json!({}))), Persisted::None);
    }
}
