//! Token sets with each platform's real lifetime and rotation rules (`marketplaces.md` §1.3, §2.3,
//! §3.3, §4.1), turned into absolute expiry instants so the caller can refresh ahead of time.

/// Unix seconds.
pub type UnixSecs = i64;

/// Access and refresh tokens of one store connection.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// Bearer / access token.
    pub access_token: String,
    /// When the access token stops working.
    pub access_expires_at: UnixSecs,
    /// Refresh token.
    pub refresh_token: String,
    /// When the refresh token stops working, when the platform says.
    pub refresh_expires_at: Option<UnixSecs>,
    /// A refresh token that dies once used (Shopee, Jumia): never retry a refresh with it.
    pub refresh_single_use: bool,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("refresh_single_use", &self.refresh_single_use)
            .finish_non_exhaustive()
    }
}

/// Shopee refresh tokens live 30 days.
pub const SHOPEE_REFRESH_LIFETIME: i64 = 30 * 86_400;

impl TokenSet {
    /// Shopee: `expire_in` seconds (4 h); refresh token 30 days and single use.
    pub fn shopee(
        access_token: String,
        refresh_token: String,
        expire_in: i64,
        now: UnixSecs,
    ) -> Self {
        Self {
            access_token,
            access_expires_at: now + expire_in,
            refresh_token,
            refresh_expires_at: Some(now + SHOPEE_REFRESH_LIFETIME),
            refresh_single_use: true,
        }
    }

    /// TikTok Shop: `access_token_expire_in` and `refresh_token_expire_in` are **absolute unix
    /// timestamps**, not durations.
    pub fn tiktok(
        access_token: String,
        access_expire_at: i64,
        refresh_token: String,
        refresh_expire_at: i64,
    ) -> Self {
        Self {
            access_token,
            access_expires_at: access_expire_at,
            refresh_token,
            refresh_expires_at: Some(refresh_expire_at),
            refresh_single_use: false,
        }
    }

    /// Lazada token creation: `expires_in` and `refresh_expires_in` in seconds from now.
    pub fn lazada_created(
        access_token: String,
        expires_in: i64,
        refresh_token: String,
        refresh_expires_in: i64,
        now: UnixSecs,
    ) -> Self {
        Self {
            access_token,
            access_expires_at: now + expires_in,
            refresh_token,
            refresh_expires_at: Some(now + refresh_expires_in),
            refresh_single_use: false,
        }
    }

    /// Lazada refresh: the access lifetime restarts but the refresh token's does **not**; a
    /// `refresh_expires_in` of 0 means it can no longer be refreshed.
    pub fn lazada_refreshed(
        &self,
        access_token: String,
        expires_in: i64,
        refresh_token: String,
        refresh_expires_in: i64,
        now: UnixSecs,
    ) -> Self {
        Self {
            access_token,
            access_expires_at: now + expires_in,
            refresh_token,
            refresh_expires_at: if refresh_expires_in == 0 {
                Some(now)
            } else {
                self.refresh_expires_at
            },
            refresh_single_use: false,
        }
    }

    /// Jumia: lifetimes come from the response; the refresh token rotates on every use.
    pub fn jumia(
        access_token: String,
        expires_in: i64,
        refresh_token: String,
        refresh_expires_in: Option<i64>,
        now: UnixSecs,
    ) -> Self {
        Self {
            access_token,
            access_expires_at: now + expires_in,
            refresh_token,
            refresh_expires_at: refresh_expires_in.filter(|s| *s > 0).map(|s| now + s),
            refresh_single_use: true,
        }
    }

    /// Should the access token be refreshed now (within `margin` seconds of expiry)?
    pub fn needs_refresh(&self, now: UnixSecs, margin: i64) -> bool {
        now + margin >= self.access_expires_at
    }

    /// Can it still be refreshed at all?
    pub fn refreshable(&self, now: UnixSecs) -> bool {
        self.refresh_expires_at.is_none_or(|at| now < at)
    }
}

/// Splits `[from, to)` into consecutive windows of at most `max_secs` (Shopee's order list accepts
/// at most 15 days per call).
pub fn split_windows(from: UnixSecs, to: UnixSecs, max_secs: i64) -> Vec<(UnixSecs, UnixSecs)> {
    let mut out = Vec::new();
    let step = max_secs.max(1);
    let mut start = from;
    while start < to {
        let end = (start + step).min(to);
        out.push((start, end));
        start = end;
    }
    out
}

/// Shopee's largest order-list window.
pub const SHOPEE_MAX_WINDOW_SECS: i64 = 15 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn shopee_lifetimes_and_single_use_refresh() {
        let t = TokenSet::shopee("a".into(), "r".into(), 14_400, NOW);
        assert_eq!(t.access_expires_at, NOW + 4 * 3600);
        assert_eq!(t.refresh_expires_at, Some(NOW + 30 * 86_400));
        assert!(t.refresh_single_use);
        assert!(!t.needs_refresh(NOW, 300));
        assert!(t.needs_refresh(NOW + 14_100, 300));
    }

    #[test]
    fn tiktok_expiries_are_absolute_timestamps() {
        let t = TokenSet::tiktok(
            "TTP_a".into(),
            NOW + 7 * 86_400,
            "r".into(),
            NOW + 365 * 86_400,
        );
        assert_eq!(t.access_expires_at, NOW + 7 * 86_400, "not now + 1.7e9");
        assert!(t.refreshable(NOW + 364 * 86_400));
        assert!(!t.refreshable(NOW + 365 * 86_400));
    }

    #[test]
    fn lazada_refresh_keeps_the_refresh_deadline() {
        let t = TokenSet::lazada_created("a".into(), 30 * 86_400, "r".into(), 180 * 86_400, NOW);
        let later = NOW + 100 * 86_400;
        let r = t.lazada_refreshed("a2".into(), 30 * 86_400, "r2".into(), 80 * 86_400, later);
        assert_eq!(r.access_expires_at, later + 30 * 86_400);
        assert_eq!(r.refresh_expires_at, Some(NOW + 180 * 86_400));
        let dead = t.lazada_refreshed("a3".into(), 30 * 86_400, "r3".into(), 0, later);
        assert!(!dead.refreshable(later));
    }

    #[test]
    fn jumia_rotates_and_reads_lifetimes_from_the_response() {
        let t = TokenSet::jumia("jwt".into(), 300, "rt".into(), Some(1_800), NOW);
        assert_eq!(
            (t.access_expires_at, t.refresh_expires_at),
            (NOW + 300, Some(NOW + 1_800))
        );
        assert!(t.refresh_single_use);
        assert!(!format!("{t:?}").contains("jwt"), "tokens never reach logs");
    }

    #[test]
    fn windows_are_split_at_most_15_days_and_cover_everything() {
        let from = NOW;
        let to = NOW + 40 * 86_400 + 5;
        let w = split_windows(from, to, SHOPEE_MAX_WINDOW_SECS);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], (from, from + SHOPEE_MAX_WINDOW_SECS));
        assert_eq!(w.last().map(|x| x.1), Some(to));
        assert!(
            w.windows(2).all(|p| p[0].1 == p[1].0),
            "no gaps, no overlaps"
        );
        assert!(w.iter().all(|(a, b)| b - a <= SHOPEE_MAX_WINDOW_SECS));
        assert!(split_windows(to, from, SHOPEE_MAX_WINDOW_SECS).is_empty());
    }
}
