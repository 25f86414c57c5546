//! Bounds checked on a GraphQL request before anything recursive touches it, so no input can drive
//! a parser, validator or analysis past the stack or into exponential work:
//!
//! - the query text is scanned (iteratively) for bracket nesting: at most [`MAX_NESTING`] levels of
//!   `{ [ (` in all, and at most [`MAX_VALUE_DEPTH`] levels of `[ {` inside an argument list or a
//!   variable default (values);
//! - variables are walked (their JSON nesting is already capped by the JSON parser) for the same
//!   value depth;
//! - the parsed document is expanded through its fragments with a budget: at most
//!   `max_selections` selections in all operations together and [`MAX_NESTING`] levels of fields
//!   and fragments, counted as they are visited, so a fragment that spreads another twice, 25
//!   times over, stops after the budget instead of visiting 2^25 selections. Fragments no
//!   operation uses are refused (the GraphQL spec refuses them too), so none escapes the budget;
//! - every input string (literal or variable, keys of free-form JSON included) is free of NUL and
//!   at most [`MAX_INPUT_STRING_CHARS`] characters, and every input list at most
//!   [`MAX_INPUT_LIST_ITEMS`] items; domain rules set tighter per-field limits.
//!
//! With introspection off, validation errors are answered alike (one message, no detail), so
//! guessing root field names teaches nothing.

use crate::error::AppError;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Request, ServerError, ServerResult, ValidationResult};
use async_graphql_value::{ConstValue, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Deepest bracket nesting in the query text, and deepest field/fragment nesting after expansion.
pub const MAX_NESTING: usize = 64;
/// Deepest nesting of list and object values (literals, defaults and variables).
pub const MAX_VALUE_DEPTH: usize = 16;
/// Longest input string, in characters (per-field rules are tighter).
pub const MAX_INPUT_STRING_CHARS: usize = 65_536;
/// Longest input list (per-field rules are tighter; a catalog import takes 10,000 rows).
pub const MAX_INPUT_LIST_ITEMS: usize = 10_000;
/// Default budget of selections (fields, fragment spreads, inline fragments) after expansion.
pub use crate::config::DEFAULT_MAX_SELECTIONS;

fn limit(code: &'static str, message: String) -> AppError {
    AppError::Limit { code, message }
}

fn nesting_error() -> AppError {
    limit(
        "MAX_NESTING_EXCEEDED",
        format!("the document nests deeper than {MAX_NESTING} levels"),
    )
}

fn value_depth_error() -> AppError {
    limit(
        "MAX_NESTING_EXCEEDED",
        format!("an input value nests deeper than {MAX_VALUE_DEPTH} levels"),
    )
}

/// Scans the query text without recursion: bracket nesting and value nesting.
pub fn check_text(query: &str) -> Result<(), AppError> {
    let b = query.as_bytes();
    let mut stack: Vec<u8> = Vec::new();
    // Stack heights at which an argument list or variable definitions opened.
    let mut parens: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            open @ (b'{' | b'[' | b'(') => {
                stack.push(open);
                if stack.len() > MAX_NESTING {
                    return Err(nesting_error());
                }
                if open == b'(' {
                    parens.push(stack.len());
                } else if let Some(&p) = parens.last()
                    && stack.len() - p > MAX_VALUE_DEPTH
                {
                    return Err(value_depth_error());
                }
            }
            close @ (b'}' | b']' | b')') => {
                let expected = match close {
                    b'}' => b'{',
                    b']' => b'[',
                    _ => b'(',
                };
                if stack.pop() != Some(expected) {
                    // Unbalanced: the parser reports it, and it cannot nest deeper than the
                    // prefix checked so far.
                    return Ok(());
                }
                if close == b')' {
                    parens.pop();
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What the checks need to see of an input value: a literal of the document (which may hold
/// variables) or a variable's value.
enum Shape<'a, T> {
    Str(&'a str),
    List(&'a [T]),
    Object(Box<dyn Iterator<Item = (&'a Name, &'a T)> + 'a>),
    Other,
}

trait InputValue: Sized {
    fn shape(&self) -> Shape<'_, Self>;
}

/// The two value types have the same variants (one may also hold variables, which pass).
macro_rules! input_value {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn shape(&self) -> Shape<'_, Self> {
                match self {
                    Self::String(s) => Shape::Str(s),
                    Self::List(items) => Shape::List(items),
                    Self::Object(map) => Shape::Object(Box::new(map.iter())),
                    _ => Shape::Other,
                }
            }
        }
    )*};
}
input_value!(ConstValue, Value);

/// Checks an input value: its nesting, list lengths, and every string and object key in it.
fn check_value<T: InputValue>(path: &mut String, v: &T, depth: usize) -> Result<(), AppError> {
    match v.shape() {
        Shape::Str(s) => check_string(path, s),
        Shape::List(_) | Shape::Object(_) if depth >= MAX_VALUE_DEPTH => Err(value_depth_error()),
        Shape::List(items) => {
            check_list_len(path, items.len())?;
            items
                .iter()
                .try_for_each(|x| check_value(path, x, depth + 1))
        }
        Shape::Object(fields) => {
            for (k, x) in fields {
                check_string(path, k.as_str())?;
                let len = path.len();
                path.push('.');
                path.push_str(k.as_str());
                check_value(path, x, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Shape::Other => Ok(()),
    }
}

fn check_list_len(path: &str, len: usize) -> Result<(), AppError> {
    if len > MAX_INPUT_LIST_ITEMS {
        return Err(AppError::invalid(
            path,
            format!("must hold at most {MAX_INPUT_LIST_ITEMS} items"),
        ));
    }
    Ok(())
}

fn check_string(path: &str, s: &str) -> Result<(), AppError> {
    if s.contains('\0') {
        return Err(AppError::invalid(path, "must not contain NUL characters"));
    }
    if s.len() > MAX_INPUT_STRING_CHARS && s.chars().count() > MAX_INPUT_STRING_CHARS {
        return Err(AppError::invalid(
            path,
            format!("must be at most {MAX_INPUT_STRING_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Variables: value depth, NUL and length of every string.
pub fn check_variables(vars: &async_graphql::Variables) -> Result<(), AppError> {
    for (name, v) in vars.iter() {
        let mut path = name.to_string();
        check_value(&mut path, v, 0)?;
    }
    Ok(())
}

struct Expand<'a> {
    doc: &'a ExecutableDocument,
    budget: usize,
    used: usize,
    stack: Vec<&'a Name>,
    reached: HashSet<&'a Name>,
}

impl<'a> Expand<'a> {
    fn set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<(), AppError> {
        if depth > MAX_NESTING {
            return Err(nesting_error());
        }
        for sel in &set.items {
            self.used += 1;
            if self.used > self.budget {
                return Err(limit(
                    "MAX_SELECTIONS_EXCEEDED",
                    format!(
                        "the operation selects more than {} fields once its fragments are expanded",
                        self.budget
                    ),
                ));
            }
            match &sel.node {
                Selection::Field(f) => self.set(&f.node.selection_set.node, depth + 1)?,
                Selection::InlineFragment(frag) => {
                    self.set(&frag.node.selection_set.node, depth + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    // A cycle is refused by validation; never loop here.
                    if self.stack.contains(&name) {
                        continue;
                    }
                    let Some(def) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    self.reached.insert(name);
                    self.stack.push(name);
                    self.set(&def.node.selection_set.node, depth + 1)?;
                    self.stack.pop();
                }
            }
        }
        Ok(())
    }
}

/// Walks every argument and directive argument of `set` once (no expansion).
fn literals_in(set: &SelectionSet, depth: usize) -> Result<(), AppError> {
    if depth > MAX_NESTING {
        return Err(nesting_error());
    }
    for sel in &set.items {
        let (directives, child) = match &sel.node {
            Selection::Field(f) => {
                for (name, v) in &f.node.arguments {
                    check_value(&mut name.node.to_string(), &v.node, 0)?;
                }
                (&f.node.directives, Some(&f.node.selection_set.node))
            }
            Selection::InlineFragment(frag) => {
                (&frag.node.directives, Some(&frag.node.selection_set.node))
            }
            Selection::FragmentSpread(spread) => (&spread.node.directives, None),
        };
        for d in directives {
            for (name, v) in &d.node.arguments {
                check_value(&mut name.node.to_string(), &v.node, 0)?;
            }
        }
        if let Some(child) = child {
            literals_in(child, depth + 1)?;
        }
    }
    Ok(())
}

/// Checks a parsed document: bounded expansion of every operation, no unused fragment, and the
/// literals and variable defaults it carries.
pub fn check_document(doc: &ExecutableDocument, max_selections: usize) -> Result<(), AppError> {
    let mut walk = Expand {
        doc,
        budget: max_selections,
        used: 0,
        stack: Vec::new(),
        reached: HashSet::new(),
    };
    for (_, op) in doc.operations.iter() {
        walk.set(&op.node.selection_set.node, 1)?;
        for var in &op.node.variable_definitions {
            if let Some(default) = &var.node.default_value {
                let mut path = var.node.name.node.to_string();
                check_value(&mut path, &default.node, 0)?;
            }
        }
        literals_in(&op.node.selection_set.node, 1)?;
    }
    if let Some(unused) = doc.fragments.keys().find(|n| !walk.reached.contains(n)) {
        return Err(AppError::Validation {
            field: None,
            message: format!("fragment \"{unused}\" is never used"),
        });
    }
    for def in doc.fragments.values() {
        literals_in(&def.node.selection_set.node, 1)?;
    }
    Ok(())
}

/// The error without a location: it is about the whole document, not a place in it.
fn server_error(err: AppError) -> ServerError {
    let e = async_graphql::Error::from(err);
    let mut out = ServerError::new(e.message, None);
    out.extensions = e.extensions;
    out
}

/// Sets `extensions.code` on an error that has none (parse and validation errors come from
/// async-graphql without one; clients branch on it).
fn with_code(e: &mut ServerError, code: &'static str) {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
}

/// Every check on a request, before anything else looks at it; leaves the parsed document in the
/// request so it is parsed once.
pub fn check_request(req: &mut Request, max_selections: usize) -> ServerResult<()> {
    check_text(&req.query).map_err(server_error)?;
    check_variables(&req.variables).map_err(server_error)?;
    let doc = req.parsed_query().map_err(|mut e| {
        with_code(&mut e, "GRAPHQL_PARSE_FAILED");
        e
    })?;
    check_document(doc, max_selections).map_err(server_error)
}

/// Documents that passed [`check_request`]'s text and document checks, by query text: an app
/// sends the same few operations over and over, and a copy of the parsed document costs a
/// small fraction of parsing it (about 3 µs against 54 µs for the orders page). Bounded by an
/// estimate of their size; the least useful are evicted first.
#[derive(Clone)]
pub struct Documents(moka::sync::Cache<String, Arc<ExecutableDocument>>);

/// Bytes of parsed documents kept, estimated as [`DOCUMENT_WEIGHT_PER_BYTE`] per byte of text.
const DOCUMENTS_MAX_BYTES: u64 = 32 << 20;
/// A parsed document's size per byte of its text, roughly.
const DOCUMENT_WEIGHT_PER_BYTE: usize = 16;

impl Default for Documents {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .weigher(|text: &String, _| {
                    u32::try_from(text.len().saturating_mul(DOCUMENT_WEIGHT_PER_BYTE))
                        .unwrap_or(u32::MAX)
                })
                .max_capacity(DOCUMENTS_MAX_BYTES)
                .build(),
        )
    }
}

impl Documents {
    /// [`check_request`], with the parse and the document checks skipped for a text that passed
    /// them before (its variables are still checked).
    pub fn check(&self, req: &mut Request, max_selections: usize) -> ServerResult<()> {
        if let Some(doc) = self.0.get(req.query.as_str()) {
            check_variables(&req.variables).map_err(server_error)?;
            req.set_parsed_query((*doc).clone());
            return Ok(());
        }
        check_request(req, max_selections)?;
        let doc = req.parsed_query()?.clone();
        self.0.insert(req.query.clone(), Arc::new(doc));
        Ok(())
    }
}

/// The extension that runs [`check_request`] on every request (HTTP and WebSocket) and, when the
/// schema is private, answers validation errors alike.
pub struct GuardExtension {
    /// Budget of selections.
    pub max_selections: usize,
    /// Hide validation detail (introspection is off).
    pub private_schema: bool,
    /// Documents already checked.
    pub documents: Documents,
}

impl ExtensionFactory for GuardExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardRun {
            max_selections: self.max_selections,
            private_schema: self.private_schema,
            documents: self.documents.clone(),
        })
    }
}

struct GuardRun {
    max_selections: usize,
    private_schema: bool,
    documents: Documents,
}

#[async_trait::async_trait]
impl Extension for GuardRun {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.documents.check(&mut request, self.max_selections)?;
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        match result {
            Err(errors) if self.private_schema && !errors.is_empty() => {
                let mut e = ServerError::new(
                    "the operation is not valid for this API (details are hidden in production)",
                    None,
                );
                let mut ext = async_graphql::ErrorExtensionValues::default();
                ext.set("code", "GRAPHQL_VALIDATION_FAILED");
                e.extensions = Some(ext);
                Err(vec![e])
            }
            Err(mut errors) => {
                for e in &mut errors {
                    with_code(e, "GRAPHQL_VALIDATION_FAILED");
                }
                Err(errors)
            }
            ok => ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_literals_are_refused_by_the_scan() {
        let deep = format!(
            "{{ __typename(x: {}1{}) }}",
            "[".repeat(2000),
            "]".repeat(2000)
        );
        assert_eq!(
            check_text(&deep).unwrap_err().code(),
            "MAX_NESTING_EXCEEDED"
        );
        let ok = format!("{{ a(x: {}1{}) }}", "[".repeat(16), "]".repeat(16));
        assert!(check_text(&ok).is_ok());
        let too_deep_value = format!("{{ a(x: {}1{}) }}", "[".repeat(17), "]".repeat(17));
        assert!(check_text(&too_deep_value).is_err());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let q = format!(
            "# {}\n{{ a(x: \"{}\", y: \"\"\"{}\"\"\") }}",
            "[".repeat(500),
            "{".repeat(500),
            "(".repeat(500)
        );
        assert!(check_text(&q).is_ok());
    }

    #[test]
    fn a_fragment_bomb_stops_at_the_budget() {
        let mut q = String::from("fragment E0 on Query { __typename }\n");
        for i in 1..=24 {
            q.push_str(&format!(
                "fragment E{i} on Query {{ ...E{p} ...E{p} }}\n",
                p = i - 1
            ));
        }
        q.push_str("query { ...E24 }");
        let doc = async_graphql::parser::parse_query(&q).unwrap();
        let err = check_document(&doc, 2_000).unwrap_err();
        assert_eq!(err.code(), "MAX_SELECTIONS_EXCEEDED");
    }

    #[test]
    fn unused_fragments_are_refused() {
        let doc = async_graphql::parser::parse_query(
            "fragment A on Query { __typename } query { __typename }",
        )
        .unwrap();
        assert_eq!(
            check_document(&doc, 100).unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }

    #[test]
    fn nul_in_a_literal_names_its_argument() {
        let doc = async_graphql::parser::parse_query(
            r#"mutation { m(input: {reason: "a\u0000b"}) { x } }"#,
        )
        .unwrap();
        let err = check_document(&doc, 100).unwrap_err();
        assert_eq!(
            err,
            AppError::invalid("input.reason", "must not contain NUL characters")
        );
    }

    /// A text that passed is not parsed again, but its variables are checked every time; a text
    /// that failed is not kept.
    #[test]
    fn checked_documents_are_reused_and_their_variables_still_checked() {
        let docs = Documents::default();
        let text = "query($v: JSON) { a(v: $v) }";
        let vars = |depth: usize| {
            let json = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            async_graphql::Variables::from_json(serde_json::json!({
                "v": serde_json::from_str::<serde_json::Value>(&json).unwrap()
            }))
        };
        let mut first = Request::new(text).variables(vars(2));
        docs.check(&mut first, 100).unwrap();
        let mut again = Request::new(text).variables(vars(2));
        docs.check(&mut again, 100).unwrap();
        assert_eq!(
            again.parsed_query().unwrap().operations.iter().count(),
            1,
            "the kept document is set on the request"
        );
        let mut deep = Request::new(text).variables(vars(MAX_VALUE_DEPTH + 2));
        let e = docs.check(&mut deep, 100).unwrap_err();
        assert_eq!(code_of(&e), "MAX_NESTING_EXCEEDED");
        for _ in 0..2 {
            let mut broken = Request::new("{ a(");
            let e = docs.check(&mut broken, 100).unwrap_err();
            assert_eq!(code_of(&e), "GRAPHQL_PARSE_FAILED");
        }
        docs.0.run_pending_tasks();
        assert_eq!(docs.0.entry_count(), 1);
    }

    fn code_of(e: &ServerError) -> String {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_default()
    }
}
