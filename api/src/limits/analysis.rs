//! Static analysis of a GraphQL document before it runs: requested cost (Shopify-style), depth and
//! aliases. Rules, also in the README (with worked examples):
//!
//! - scalars and enums cost 0;
//! - an **entity** (an object type with an `id`: a product, a variant, an order, a store…) costs 1
//!   plus its selection; a **value** (an object without an `id`: money, a stock level, an order
//!   line, a page info…) costs only its selection, as Shopify's scalars for money and quantities
//!   do: it comes with the row that holds it;
//! - a connection field costs 2 plus its length times its node (`edges { node }` or `nodes`),
//!   each at least 1, the length being `first`/`last` (default 20);
//! - a list the client sizes with `first` (a history, `variants`) costs `first` (or its default)
//!   times its item, and each item at least 1;
//! - a list the client cannot size belongs to its parent (a variant's prices and stock levels,
//!   an order's lines): it costs what its items select, counting [`OTHER_LIST_ESTIMATE`] items;
//! - each root mutation field costs [`MUTATION_BASE`] more.
//!
//! The actual cost applies the same rules to the lists the response really holds (the plan built
//! with the estimate is walked along the data), so it is never more than the requested cost.
//!
//! Introspection (`__schema`, `__type`) costs nothing and is exempt from the depth limit: the
//! standard introspection query that GraphiQL, codegen and Postman send nests 15 levels through
//! `ofType`, a chain one type deep at each level. What can multiply is a list of types or fields
//! inside another (`fields { type { fields { type { fields … } } } }`); as graphql-js's
//! `MaxIntrospectionDepthRule` does, such lists (`fields`, `inputFields`, `interfaces`,
//! `possibleTypes`) may nest at most [`MAX_INTROSPECTION_LISTS`] deep (the standard query: 1).

use async_graphql::Name;
use async_graphql::Variables;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::Registry;

/// Page size assumed for a connection without `first`/`last`.
pub const DEFAULT_PAGE: u64 = 20;
/// Length assumed for a list outside a connection.
pub const OTHER_LIST_ESTIMATE: u64 = 10;
/// Extra cost of each root mutation field.
pub const MUTATION_BASE: u64 = 10;
/// Cost of a connection itself (its page info and cursors), as Shopify counts it.
pub const CONNECTION_BASE: u64 = 2;
/// Deepest nesting of introspection's type and field lists (graphql-js refuses 3).
pub const MAX_INTROSPECTION_LISTS: usize = 2;

/// Introspection fields that return lists of types or fields.
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];

/// How one response key is charged: what it costs itself (per item for a list) and what its
/// selection holds. Fragments are merged into their parent's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Response key (alias or field name).
    pub key: Name,
    /// Cost of the field itself, per item for a list.
    pub own: u64,
    /// Each item costs at least 1 (a list sized by `first`).
    pub sized: bool,
    /// Charged keys of its selection.
    pub children: Vec<Charge>,
}

/// What the analysis found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analysis {
    /// Requested cost.
    pub cost: u64,
    /// Deepest field nesting (root fields are depth 1).
    pub depth: usize,
    /// Aliased fields, counted through fragments.
    pub aliases: usize,
    /// The operation is a mutation.
    pub mutation: bool,
    /// Deepest nesting of introspection's type and field lists.
    pub introspection_lists: usize,
    /// The root keys that cost something, for the actual cost.
    pub plan: Vec<Charge>,
}

/// Adds `c` to `plan`, merging with a key already there (two fragments selecting one field).
fn merge(plan: &mut Vec<Charge>, c: Charge) {
    match plan.iter_mut().find(|p| p.key == c.key) {
        Some(p) => {
            p.own = p.own.max(c.own);
            p.sized |= c.sized;
            for child in c.children {
                merge(&mut p.children, child);
            }
        }
        None => plan.push(c),
    }
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    registry: &'a Registry,
    variables: &'a Variables,
    fragment_stack: Vec<&'a Name>,
    aliases: usize,
    depth: usize,
    /// Walking inside `__schema`/`__type`: the nesting of its lists, now and at most.
    introspection: Option<usize>,
    introspection_lists: usize,
}

fn page_size(field: &async_graphql::parser::types::Field, variables: &Variables) -> u64 {
    page_arg(field, variables).unwrap_or(DEFAULT_PAGE)
}

/// The field's `first`/`last` argument when given as a non-negative number.
fn page_arg(field: &async_graphql::parser::types::Field, variables: &Variables) -> Option<u64> {
    for (name, value) in &field.arguments {
        if name.node == "first" || name.node == "last" {
            let v = value
                .node
                .clone()
                .into_const_with(|var| variables.get(&var).cloned().ok_or(()))
                .ok();
            if let Some(async_graphql::Value::Number(n)) = v
                && let Some(n) = n.as_u64()
            {
                return Some(n);
            }
        }
    }
    None
}

impl<'a> Walk<'a> {
    /// Cost of a selection set on `type_name`. `list_len` is the length of list fields directly
    /// under it (set when `type_name` is a connection).
    fn set(
        &mut self,
        set: &'a SelectionSet,
        type_name: &str,
        depth: usize,
        list_len: Option<u64>,
        plan: &mut Vec<Charge>,
    ) -> u64 {
        let mut total: u64 = 0;
        for sel in &set.items {
            let c = match &sel.node {
                Selection::Field(f) => self.field(&f.node, type_name, depth, list_len, plan),
                Selection::InlineFragment(frag) => {
                    let on = frag
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(type_name, |t| t.node.on.node.as_str());
                    self.set(&frag.node.selection_set.node, on, depth, list_len, plan)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if self.fragment_stack.contains(&name) {
                        continue; // cycles are rejected by validation; never loop here
                    }
                    let Some(def) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    self.fragment_stack.push(name);
                    let on = def.node.type_condition.node.on.node.as_str();
                    let c = self.set(&def.node.selection_set.node, on, depth, list_len, plan);
                    self.fragment_stack.pop();
                    c
                }
            };
            total = total.saturating_add(c);
        }
        total
    }

    fn field(
        &mut self,
        f: &'a async_graphql::parser::types::Field,
        parent: &str,
        depth: usize,
        list_len: Option<u64>,
        plan: &mut Vec<Charge>,
    ) -> u64 {
        if f.alias.is_some() {
            self.aliases += 1;
        }
        if let Some(lists) = self.introspection {
            // Inside introspection: no depth, no cost; count the nesting of its lists.
            let inner = lists + usize::from(INTROSPECTION_LISTS.contains(&f.name.node.as_str()));
            self.introspection_lists = self.introspection_lists.max(inner);
            self.introspection = Some(inner);
            self.set(&f.selection_set.node, "", depth + 1, None, &mut Vec::new());
            self.introspection = Some(lists);
            return 0;
        }
        self.depth = self.depth.max(depth);
        if f.name.node.starts_with("__") {
            // `__typename` is a leaf; `__schema` and `__type` are introspection, governed by
            // their own switch and rule.
            if !f.selection_set.node.items.is_empty() {
                self.introspection = Some(0);
                self.set(&f.selection_set.node, "", depth + 1, None, &mut Vec::new());
                self.introspection = None;
            }
            return 0;
        }
        if f.selection_set.node.items.is_empty() {
            return 0; // scalars and enums
        }
        let meta = self
            .registry
            .types
            .get(parent)
            .and_then(|t| t.field_by_name(&f.name.node));
        let ty = meta.map(|m| m.ty.clone()).unwrap_or_default();
        let is_list = ty.contains('[');
        // A plain list that takes `first` is as long as its `first` (given, else its default).
        let own_len = meta.filter(|m| m.args.contains_key("first")).map(|m| {
            page_arg(f, self.variables).unwrap_or_else(|| {
                m.args
                    .get("first")
                    .and_then(|a| a.default_value.as_deref())
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(DEFAULT_PAGE)
            })
        });
        let concrete = ty
            .trim_matches(|c| c == '[' || c == ']' || c == '!')
            .to_owned();
        let connection = concrete.ends_with("Connection");
        let inner_lists = connection.then(|| page_size(f, self.variables));
        let own = if connection {
            CONNECTION_BASE
        } else {
            u64::from(self.is_entity(&concrete))
        };
        let mut children = Vec::new();
        let child = self.set(
            &f.selection_set.node,
            &concrete,
            depth + 1,
            inner_lists,
            &mut children,
        );
        // Lists the client sizes (`first`, or a connection's page) cost at least 1 per item.
        let sized = is_list && (own_len.is_some() || list_len.is_some());
        let mut one = child.saturating_add(own);
        if sized {
            one = one.max(1);
        }
        if one > 0 {
            let key = f.alias.as_ref().map_or(&f.name.node, |a| &a.node).clone();
            merge(
                plan,
                Charge {
                    key,
                    own,
                    sized,
                    children,
                },
            );
        }
        if is_list {
            one.saturating_mul(own_len.or(list_len).unwrap_or(OTHER_LIST_ESTIMATE))
        } else {
            one
        }
    }

    /// An object type with an `id` (or an interface or union, whose members are).
    fn is_entity(&self, type_name: &str) -> bool {
        match self.registry.types.get(type_name) {
            Some(async_graphql::registry::MetaType::Object { fields, .. }) => {
                fields.contains_key("id")
            }
            Some(
                async_graphql::registry::MetaType::Interface { .. }
                | async_graphql::registry::MetaType::Union { .. },
            ) => true,
            _ => false,
        }
    }
}

/// Analyses the operation `operation_name` (or the only one) of `doc`.
pub fn analyze(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    registry: &Registry,
    variables: &Variables,
) -> Analysis {
    let op = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) => ops.values().next(),
    };
    let Some(op) = op else {
        return Analysis::default();
    };
    let (root, mutation) = match op.node.ty {
        OperationType::Query => (registry.query_type.clone(), false),
        OperationType::Mutation => (registry.mutation_type.clone().unwrap_or_default(), true),
        OperationType::Subscription => (
            registry.subscription_type.clone().unwrap_or_default(),
            false,
        ),
    };
    let mut walk = Walk {
        doc,
        registry,
        variables,
        fragment_stack: Vec::new(),
        aliases: 0,
        depth: 0,
        introspection: None,
        introspection_lists: 0,
    };
    let mut plan = Vec::new();
    let mut cost = walk.set(&op.node.selection_set.node, &root, 1, None, &mut plan);
    if mutation {
        let roots = op.node.selection_set.node.items.len() as u64;
        cost = cost.saturating_add(roots.saturating_mul(MUTATION_BASE));
    }
    Analysis {
        cost,
        depth: walk.depth,
        aliases: walk.aliases,
        mutation,
        introspection_lists: walk.introspection_lists,
        plan,
    }
}

/// The actual cost of a response: the plan's charges applied to the lists and objects the data
/// really holds (plus the mutation base per root field).
pub fn actual_cost(plan: &[Charge], data: &async_graphql::Value, mutation: bool) -> u64 {
    fn value(c: &Charge, v: &async_graphql::Value) -> u64 {
        match v {
            async_graphql::Value::List(items) => items
                .iter()
                .map(|i| value(c, i))
                .fold(0, u64::saturating_add),
            async_graphql::Value::Object(_) => {
                let one = c.own.saturating_add(keys(&c.children, v));
                if c.sized { one.max(1) } else { one }
            }
            // An item sized by `first` that is a scalar still counts.
            async_graphql::Value::Null => 0,
            _ if c.sized => 1,
            _ => 0,
        }
    }
    fn keys(plan: &[Charge], v: &async_graphql::Value) -> u64 {
        let async_graphql::Value::Object(map) = v else {
            return 0;
        };
        plan.iter()
            .filter_map(|c| map.get(&c.key).map(|v| value(c, v)))
            .fold(0, u64::saturating_add)
    }
    let base = match data {
        async_graphql::Value::Object(roots) if mutation => {
            (roots.len() as u64).saturating_mul(MUTATION_BASE)
        }
        _ => 0,
    };
    keys(plan, data).saturating_add(base)
}
