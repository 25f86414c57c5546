//! Keyset pagination over UUID v7 primary keys (time-ordered), for Relay connections.

use crate::error::{AppError, AppResult};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Validated paging arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageArgs {
    /// Items strictly after this key.
    pub after: Option<Uuid>,
    /// Items strictly before this key.
    pub before: Option<Uuid>,
    /// Page size.
    pub size: u64,
    /// Paging backwards (`last`).
    pub backward: bool,
}

/// A page size argument (`first`/`last`): 0 to [`MAX_PAGE_SIZE`], else VALIDATION_FAILED.
pub fn page_size(name: &str, n: i32) -> AppResult<u64> {
    u64::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_PAGE_SIZE)
        .ok_or_else(|| AppError::invalid(name, format!("must be between 0 and {MAX_PAGE_SIZE}")))
}

impl PageArgs {
    /// Checks `first`/`last` (at most one, 0..=100).
    pub fn new(
        after: Option<Uuid>,
        before: Option<Uuid>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<Self> {
        let check = page_size;
        match (first, last) {
            (Some(_), Some(_)) => Err(AppError::invalid(
                "last",
                "pass either first or last, not both",
            )),
            (_, Some(n)) => Ok(Self {
                after,
                before,
                size: check("last", n)?,
                backward: true,
            }),
            (Some(n), None) => Ok(Self {
                after,
                before,
                size: check("first", n)?,
                backward: false,
            }),
            (None, None) => Ok(Self {
                after,
                before,
                size: DEFAULT_PAGE_SIZE,
                backward: false,
            }),
        }
    }
}

/// One page of items in ascending key order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// More items follow.
    pub has_next: bool,
    /// More items precede.
    pub has_previous: bool,
    /// The statement selecting every item of the list (all pages), for `totalCount`.
    pub all: Option<sea_orm::Statement>,
}

/// How many rows `all` (a page's whole list) selects, under the caller's RLS context.
pub async fn count<C: ConnectionTrait>(conn: &C, all: &sea_orm::Statement) -> AppResult<i64> {
    #[derive(sea_orm::FromQueryResult)]
    struct N {
        n: i64,
    }
    let stmt = sea_orm::Statement {
        sql: format!("SELECT count(*) AS n FROM ({}) AS list", all.sql),
        values: all.values.clone(),
        db_backend: all.db_backend,
    };
    Ok(<N as sea_orm::FromQueryResult>::find_by_statement(stmt)
        .one(conn)
        .await?
        .map_or(0, |r| r.n))
}

impl<T> Page<T> {
    /// Transforms the items.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
            all: self.all,
        }
    }
}

/// Fetches one page of `select`, keyed by the UUID column `key`.
pub async fn fetch<E, C>(
    conn: &C,
    select: Select<E>,
    key: E::Column,
    args: PageArgs,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let all = sea_orm::QueryTrait::build(&select, sea_orm::DbBackend::Postgres);
    let mut q = select;
    if let Some(a) = args.after {
        q = q.filter(key.gt(a));
    }
    if let Some(b) = args.before {
        q = q.filter(key.lt(b));
    }
    q = if args.backward {
        q.order_by_desc(key)
    } else {
        q.order_by_asc(key)
    };
    let rows = q.limit(args.size + 1).all(conn).await?;
    let mut page = into_page(rows, args);
    page.all = Some(all);
    Ok(page)
}

/// Fetches one page of rows of a raw `select` (which must end in a WHERE clause and select an
/// `id` UUID v7 column), keyed by `id`; `newest_first` orders by descending id.
pub async fn fetch_sql<T, C>(
    conn: &C,
    select: &str,
    mut values: Vec<sea_orm::Value>,
    args: PageArgs,
    newest_first: bool,
) -> AppResult<Page<T>>
where
    T: sea_orm::FromQueryResult,
    C: ConnectionTrait,
{
    let (later, earlier) = if newest_first { ("<", ">") } else { (">", "<") };
    let all = crate::domain::stmt(select, values.clone());
    let n = values.len();
    values.push(args.after.into());
    values.push(args.before.into());
    // Walking backwards reads the list from the other end, then restores its order.
    let descending = newest_first != args.backward;
    let sql = format!(
        "{select} AND (${a}::uuid IS NULL OR id {later} ${a}) AND (${b}::uuid IS NULL OR id {earlier} ${b}) \
         ORDER BY id {dir} LIMIT {limit}",
        a = n + 1,
        b = n + 2,
        dir = if descending { "DESC" } else { "ASC" },
        limit = args.size + 1,
    );
    let rows = T::find_by_statement(crate::domain::stmt(&sql, values))
        .all(conn)
        .await?;
    let mut page = into_page(rows, args);
    page.all = Some(all);
    Ok(page)
}

/// Turns `size + 1` rows read in walking order into a page in list order.
fn into_page<T>(mut rows: Vec<T>, args: PageArgs) -> Page<T> {
    let more = rows.len() as u64 > args.size;
    rows.truncate(usize::try_from(args.size).unwrap_or(usize::MAX));
    if args.backward {
        rows.reverse();
        Page {
            has_previous: more,
            has_next: args.before.is_some(),
            items: rows,
            all: None,
        }
    } else {
        Page {
            has_next: more,
            has_previous: args.after.is_some(),
            items: rows,
            all: None,
        }
    }
}
