//! Every Redis key and pub/sub channel Mercato uses, built here and nowhere else.
//!
//! All of them start with the configured prefix (`MERCATO_REDIS_PREFIX`), so several deployments
//! (or test runs) can share one Redis. Tenant data is only ever under `{prefix}:org:{org}:…`, with
//! the organization taken from verified access, never from input.
//!
//! | key | type | written by | read by |
//! |---|---|---|---|
//! | `{p}:jobs` | stream | effects after commit, reconciler | worker consumer group `workers` |
//! | `{p}:reservations:due` | sorted set | effects after commit | expiry sweep |
//! | `{p}:org:{org}:catalog:gen` | counter | effects after commit | catalog cache |
//! | `{p}:org:{org}:catalog:{gen}:{kind}:{id}` | string | catalog cache | catalog cache |
//! | `{p}:org:{org}:sync-runs` | channel | effects after commit | subscriptions |
//! | `{p}:org:{org}:inventory-alerts` | channel | effects after commit | subscriptions |
//! | `{p}:rl:{p\|ip}:{key}` | hash | request rate limiter | same |
//! | `{p}:login:rl:{p\|ip}:{key}` | hash | log-in limiter | same |
//! | `{p}:cost:{key}` | hash | cost buckets | same |
//! | `{p}:{scope}:apq:{sha256}` | string | persisted queries (`scope`: `org:{org}`, `user:{id}`, `anon`) | same |
//! | `{p}:apq-index` | sorted set | persisted queries (least recently used first) | same |

use crate::ids::OrgId;
use std::fmt::Display;
use std::sync::Arc;

/// An organization's pub/sub channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Sync run changes (body: a sync run row as JSON).
    SyncRuns(OrgId),
    /// Low-stock alerts opening and resolving (body: a stock alert event as JSON).
    InventoryAlerts(OrgId),
    /// A store's connection changing (authorization expired, reconnected, disconnected).
    StoreAlerts(OrgId),
    /// Orders created or changing status (body: an order change event as JSON).
    Orders(OrgId),
}

/// Which rate limiter a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateFamily {
    /// Requests (per principal and per client IP).
    Requests,
    /// Log-in attempts (per account and per client IP).
    Login,
    /// Refused marketplace pushes (per client IP).
    WebhookRefusals,
}

/// The subject a rate limit counts.
#[derive(Debug, Clone, Copy)]
pub enum RateSubject<'a> {
    /// A principal (user, API token, account e-mail).
    Principal(&'a str),
    /// A client IP.
    Ip(std::net::IpAddr),
}

/// Builds keys under one prefix. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: Arc<str>,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The job stream the workers read.
    pub fn jobs_stream(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    /// Organizations with reservations due, scored by their earliest expiry (ms).
    pub fn reservations_due(&self) -> String {
        format!("{}:reservations:due", self.prefix)
    }

    /// An organization's catalog generation counter.
    pub fn catalog_generation(&self, org: OrgId) -> String {
        format!("{}:org:{org}:catalog:gen", self.prefix)
    }

    /// One cached catalog value of generation `generation`.
    pub fn catalog_entry(
        &self,
        org: OrgId,
        generation: i64,
        kind: &str,
        id: impl Display,
    ) -> String {
        format!("{}:org:{org}:catalog:{generation}:{kind}:{id}", self.prefix)
    }

    /// A pub/sub channel.
    pub fn channel(&self, topic: Topic) -> String {
        match topic {
            Topic::SyncRuns(org) => format!("{}:org:{org}:sync-runs", self.prefix),
            Topic::InventoryAlerts(org) => format!("{}:org:{org}:inventory-alerts", self.prefix),
            Topic::StoreAlerts(org) => format!("{}:org:{org}:store-alerts", self.prefix),
            Topic::Orders(org) => format!("{}:org:{org}:orders", self.prefix),
        }
    }

    /// The pattern matching every organization channel (one subscription per process).
    pub fn org_channels_pattern(&self) -> String {
        format!("{}:org:*", self.prefix)
    }

    /// A rate-limit bucket.
    pub fn rate(&self, family: RateFamily, subject: RateSubject<'_>) -> String {
        let family = match family {
            RateFamily::Requests => "",
            RateFamily::Login => ":login",
            RateFamily::WebhookRefusals => ":webhook",
        };
        match subject {
            RateSubject::Principal(p) => format!("{}{family}:rl:p:{p}", self.prefix),
            RateSubject::Ip(ip) => format!("{}{family}:rl:ip:{ip}", self.prefix),
        }
    }

    /// A cost bucket.
    pub fn cost(&self, key: &str) -> String {
        format!("{}:cost:{key}", self.prefix)
    }

    /// A persisted query document. `scope` is `org:{org}` for an organization's members and
    /// tokens (so tenant documents sit under the organization's keys), `user:{id}` for a user
    /// without one, `anon` for anonymous callers.
    pub fn persisted_query(&self, scope: &str, sha256: &str) -> String {
        format!("{}:{scope}:apq:{sha256}", self.prefix)
    }

    /// Every persisted query's key, scored by last use (bounds the cache).
    pub fn persisted_query_index(&self) -> String {
        format!("{}:apq-index", self.prefix)
    }

    /// The call log of one budget (`budget` = its index in the platform's table) of one store.
    pub fn quota(&self, platform: &str, store: &str, budget: usize) -> String {
        format!("{}:quota:{platform}:{store}:{budget}", self.prefix)
    }

    /// Set while a platform has throttled one store (`Some`) or the whole app (`None`): every
    /// worker waits until it expires.
    pub fn quota_block(&self, platform: &str, store: Option<&str>) -> String {
        match store {
            Some(s) => format!("{}:quota-block:{platform}:store:{s}", self.prefix),
            None => format!("{}:quota-block:{platform}:app", self.prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_published_shapes() {
        let k = Keys::new("m");
        let org = OrgId(uuid::Uuid::nil());
        let o = org.to_string();
        assert_eq!(k.jobs_stream(), "m:jobs");
        assert_eq!(k.reservations_due(), "m:reservations:due");
        assert_eq!(k.catalog_generation(org), format!("m:org:{o}:catalog:gen"));
        assert_eq!(
            k.catalog_entry(org, 3, "variants", 7),
            format!("m:org:{o}:catalog:3:variants:7")
        );
        assert_eq!(
            k.channel(Topic::SyncRuns(org)),
            format!("m:org:{o}:sync-runs")
        );
        assert_eq!(
            k.channel(Topic::InventoryAlerts(org)),
            format!("m:org:{o}:inventory-alerts")
        );
        assert!(k.channel(Topic::SyncRuns(org)).starts_with("m:org:"));
        assert_eq!(k.org_channels_pattern(), "m:org:*");
        assert_eq!(
            k.rate(RateFamily::Requests, RateSubject::Principal("u:1")),
            "m:rl:p:u:1"
        );
        assert_eq!(
            k.rate(RateFamily::Login, RateSubject::Ip([127, 0, 0, 1].into())),
            "m:login:rl:ip:127.0.0.1"
        );
        assert_eq!(k.cost("u:1"), "m:cost:u:1");
    }
}
