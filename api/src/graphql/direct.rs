//! Direct rendering of the hottest read pages (`products`, `orders`): the page's value is written
//! straight from the rows its statements loaded, following the validated selection, instead of
//! by async-graphql's executor. The executor resolves every field through the extension chain
//! (cost, guard, null propagation), with a future, a path node and a registry look-up each: on a
//! catalog page of about 650 objects that was most of the server's CPU (docs/benchmarks.md).
//!
//! Only the page's own field runs through the executor, so validation, arguments, the cost
//! charge and errors are exactly as before. Anything the renderer does not know sends the page to
//! the executor instead: a field it has no rule for, a fragment on an interface, a response key
//! selected twice (the executor merges those), a custom directive, a load that failed (the
//! executor meets the error again and reports it at its own path). Either way the answer is the
//! same; `tests/direct_render.rs` compares the two on the same rows.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::parser::types::{Field, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use std::collections::HashMap;

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// The fields `set` selects on an object of type `ty`, fragments expanded, in selection order;
/// `None` when the set is outside what is rendered directly.
fn fields<'a>(
    fragments: &'a Fragments,
    set: &'a SelectionSet,
    ty: &str,
) -> Option<Vec<&'a Positioned<Field>>> {
    fn collect<'a>(
        fragments: &'a Fragments,
        set: &'a SelectionSet,
        ty: &str,
        out: &mut Vec<&'a Positioned<Field>>,
    ) -> Option<()> {
        for selection in &set.items {
            // `@skip` and `@include` are applied (and removed) before execution; any other
            // directive is one the renderer does not know.
            if !selection.node.directives().is_empty() {
                return None;
            }
            match &selection.node {
                Selection::Field(f) => out.push(f),
                Selection::FragmentSpread(spread) => {
                    let fragment = fragments.get(&spread.node.fragment_name.node)?;
                    if fragment.node.type_condition.node.on.node != ty {
                        return None;
                    }
                    collect(fragments, &fragment.node.selection_set.node, ty, out)?;
                }
                Selection::InlineFragment(inline) => {
                    if let Some(on) = &inline.node.type_condition
                        && on.node.on.node != ty
                    {
                        return None;
                    }
                    collect(fragments, &inline.node.selection_set.node, ty, out)?;
                }
            }
        }
        Some(())
    }
    let mut out = Vec::with_capacity(set.items.len());
    collect(fragments, set, ty, &mut out)?;
    let twice = out.iter().enumerate().any(|(i, f)| {
        let key = &f.node.response_key().node;
        out[..i].iter().any(|g| g.node.response_key().node == *key)
    });
    (!twice).then_some(out)
}

/// What a page renderer works with: the operation (for fragments and variables).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    ctx: &'a ContextSelectionSet<'a>,
}

impl<'a> Env<'a> {
    /// The selection set the page's field was resolved with.
    pub fn top(&self) -> &'a SelectionSet {
        &self.ctx.item.node
    }

    /// An object of type `T` (its GraphQL name) with the fields `set` selects, each given by
    /// `field` (`None`: not rendered directly). `__typename` is answered here.
    pub fn object<T: OutputType + ?Sized>(
        &self,
        set: &'a SelectionSet,
        mut field: impl FnMut(&'a Positioned<Field>) -> Option<Value>,
    ) -> Option<Value> {
        let ty = T::type_name();
        let selected = fields(&self.ctx.query_env.fragments, set, &ty)?;
        let mut out = async_graphql::indexmap::IndexMap::with_capacity(selected.len());
        for f in selected {
            let value = if f.node.name.node == "__typename" {
                Value::String(ty.clone().into_owned())
            } else {
                field(f)?
            };
            out.insert(f.node.response_key().node.clone(), value);
        }
        // As the executor answers an object whose fields were all skipped.
        Some(if out.is_empty() {
            Value::Null
        } else {
            Value::Object(out)
        })
    }

    /// The value of argument `name` of `field` (variables substituted), or `default` when it is
    /// absent; `None` when it does not parse as `T`.
    pub fn arg<T: async_graphql::InputType>(
        &self,
        field: &'a Positioned<Field>,
        name: &str,
        default: fn() -> T,
    ) -> Option<T> {
        self.ctx
            .with_field(field)
            .param_value(name, Some(default))
            .ok()
            .map(|(_, v)| v)
    }
}

/// Loads `keys` with `loader`'s own statement. A page's prefetch has all its keys at once, so
/// it skips the DataLoader's batching (a spawned task and a 1 ms timer per load); `None` when
/// the load failed (the field's resolver meets the error again, at its own path).
pub async fn fetch<K, T, C>(
    loader: &async_graphql::dataloader::DataLoader<T, C>,
    keys: &[K],
) -> Option<HashMap<K, T::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    T: async_graphql::dataloader::Loader<K>,
    C: async_graphql::dataloader::CacheFactory,
{
    loader.loader().load(keys).await.ok()
}

/// Hands rows a page loaded to the request's `loader`, for the executor's resolvers.
pub async fn feed<K, T, C>(
    loader: &async_graphql::dataloader::DataLoader<T, C>,
    rows: Option<&HashMap<K, T::Value>>,
) where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    T: async_graphql::dataloader::Loader<K>,
    T::Value: Clone,
    C: async_graphql::dataloader::CacheFactory,
{
    if let Some(rows) = rows {
        loader
            .feed_many(rows.iter().map(|(k, v)| (k.clone(), v.clone())))
            .await;
    }
}

/// A list of rendered items; `None` when any is not rendered directly.
pub fn list(items: impl Iterator<Item = Option<Value>>) -> Option<Value> {
    items.collect::<Option<Vec<_>>>().map(Value::List)
}

/// A scalar's value, as the executor writes it.
pub fn scalar<T: async_graphql::ScalarType>(v: &T) -> Value {
    v.to_value()
}

/// A Relay connection (`edges { cursor node }`, `nodes`, `pageInfo`) with each node given by
/// `node` (called with the field that selects it); its own extra fields (`totalCount`) go to
/// the executor.
pub fn connection<'a, N, F>(
    env: Env<'a>,
    conn: &Connection<String, N, F>,
    node: impl Fn(&'a Positioned<Field>, &N) -> Option<Value>,
) -> Option<Value>
where
    N: OutputType,
    F: async_graphql::ObjectType,
{
    let edges = &conn.edges;
    env.object::<Connection<String, N, F>>(env.top(), |f| match f.node.name.node.as_str() {
        "edges" => list(edges.iter().map(|e| {
            env.object::<Edge<String, N, EmptyFields>>(&f.node.selection_set.node, |g| {
                match g.node.name.node.as_str() {
                    "cursor" => Some(Value::String(e.cursor.clone())),
                    "node" => node(g, &e.node),
                    _ => None,
                }
            })
        })),
        "nodes" => list(edges.iter().map(|e| node(f, &e.node))),
        "pageInfo" => page_info(
            env,
            f,
            conn.has_previous_page,
            conn.has_next_page,
            edges.first().map(|e| e.cursor.as_str()),
            edges.last().map(|e| e.cursor.as_str()),
        ),
        _ => None,
    })
}

/// A connection's `pageInfo` (async-graphql's `PageInfo`).
fn page_info<'a>(
    env: Env<'a>,
    field: &'a Positioned<Field>,
    has_previous: bool,
    has_next: bool,
    start: Option<&str>,
    end: Option<&str>,
) -> Option<Value> {
    let cursor = |c: Option<&str>| c.map_or(Value::Null, |c| Value::String(c.to_owned()));
    env.object::<async_graphql::connection::PageInfo>(&field.node.selection_set.node, |f| {
        Some(match f.node.name.node.as_str() {
            "hasPreviousPage" => Value::Boolean(has_previous),
            "hasNextPage" => Value::Boolean(has_next),
            "startCursor" => cursor(start),
            "endCursor" => cursor(end),
            _ => return None,
        })
    })
}

/// The rows a page loaded below its connection `C` (in one statement per level), and how the
/// page is written from them.
pub trait Rows<C>: Send + Sync {
    /// The page's label in `mercato_page_renders_total`.
    const PAGE: &'static str;
    /// The page for `env`'s selection; `None` leaves it to the executor.
    fn render(&self, env: Env<'_>, conn: &C) -> Option<Value>;
    /// Hands these rows to the request's loaders, for the executor's resolvers.
    fn feed(&self, rc: &crate::graphql::RequestCtx) -> impl Future<Output = ()> + Send;
}

/// A page of connection `C` with the rows below it: rendered directly when the server renders
/// pages directly and [`Rows::render`] knows the whole selection, otherwise resolved by the
/// executor as a `C` (after [`Rows::feed`], so nothing is loaded twice). Its GraphQL type is
/// `C`'s.
pub struct Page<C, R> {
    /// The connection, as the executor would resolve it.
    pub conn: C,
    /// What was loaded below it.
    pub rows: R,
}

impl<C: OutputType, R: Rows<C>> OutputType for Page<C, R> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        C::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        C::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let rc = ctx.data_opt::<crate::graphql::RequestCtx>();
        let enabled = rc.is_some_and(|rc| rc.state.config.direct_render);
        let rendered = if enabled {
            self.rows.render(Env { ctx }, &self.conn)
        } else {
            None
        };
        let how = if rendered.is_some() {
            "direct"
        } else {
            "executor"
        };
        crate::metrics::get()
            .page_renders
            .get_or_create(&crate::metrics::PageRenderLabels { page: R::PAGE, how })
            .inc();
        if let Some(v) = rendered {
            return Ok(v);
        }
        if let Some(rc) = rc {
            self.rows.feed(rc).await;
        }
        self.conn.resolve(ctx, field).await
    }
}

/// A `Money` object: `minor` units of `currency`, as [`crate::graphql::scalars::Money`] resolves.
pub fn money<'a>(
    env: Env<'a>,
    field: &'a Positioned<Field>,
    minor: i64,
    currency: &str,
) -> Option<Value> {
    env.object::<crate::graphql::scalars::Money>(&field.node.selection_set.node, |f| {
        Some(match f.node.name.node.as_str() {
            "amount" => Value::String(crate::domain::catalog::format_money(minor, currency)),
            "currencyCode" => Value::String(currency.to_owned()),
            _ => return None,
        })
    })
}
