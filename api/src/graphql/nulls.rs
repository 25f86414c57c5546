//! The GraphQL spec's null propagation, which async-graphql leaves out: it drops the key of a
//! field whose resolver failed. By the spec (§6.4.4 "Handling Field Errors") a failed field is
//! `null`, and when its type is non-null the `null` moves to the nearest nullable parent (the
//! whole `data` at the root). Clients depend on it: Apollo and urql normalise by key, and codegen
//! types a non-null field as always present.
//!
//! Each failed field is noted with its parent's path as it fails; the parent, when it finishes,
//! writes the `null` into its own value (or becomes `null` itself and notes that for its parent).
//! Fields that do not fail cost one atomic load.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{Name, QueryPathNode, QueryPathSegment, Response, ServerResult, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A field of the object at `parent` resolved to nothing: its key must be `null`, or, when its
/// type is non-null, the object itself.
#[derive(Debug)]
struct Failed {
    parent: Vec<Seg>,
    key: String,
    non_null: bool,
}

/// The extension factory.
pub struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Run {
            failed: Mutex::new(Vec::new()),
            noted: AtomicBool::new(false),
        })
    }
}

struct Run {
    failed: Mutex<Vec<Failed>>,
    /// Set by the first failure: until then no field takes the lock.
    noted: AtomicBool,
}

fn path_of(node: &QueryPathNode<'_>) -> Vec<Seg> {
    let mut out: Vec<Seg> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            QueryPathSegment::Name(name) => Seg::Key(name.to_owned()),
            QueryPathSegment::Index(i) => Seg::Index(i),
        })
        .collect();
    out.reverse();
    out
}

/// Whether the position reached from a value of type `ty` through `indexes` list items is
/// non-null (`ty` as async-graphql writes it, e.g. `[Listing!]!`).
fn non_null_at(ty: &str, indexes: usize) -> bool {
    let mut t = ty;
    for _ in 0..indexes {
        t = t.strip_suffix('!').unwrap_or(t);
        t = t
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(t);
    }
    t.ends_with('!')
}

/// Applies the failures under one value. Returns whether the value itself must become `null`.
fn apply(value: &mut Value, ty: &str, failed: Vec<(Vec<usize>, String, bool)>) -> bool {
    for (indexes, key, non_null) in failed {
        if !non_null {
            if let Some(Value::Object(obj)) = at(value, &indexes) {
                obj.entry(Name::new(key)).or_insert(Value::Null);
            }
            continue;
        }
        // The object at `indexes` becomes null; a non-null position hands it to its list.
        let mut depth = indexes.len();
        loop {
            if depth == 0 {
                return true;
            }
            if !non_null_at(ty, depth) {
                if let Some(v) = at(value, &indexes[..depth]) {
                    *v = Value::Null;
                }
                break;
            }
            depth -= 1;
        }
    }
    false
}

fn at<'v>(value: &'v mut Value, indexes: &[usize]) -> Option<&'v mut Value> {
    let mut v = value;
    for &i in indexes {
        match v {
            Value::List(items) => v = items.get_mut(i)?,
            _ => return None,
        }
    }
    Some(v)
}

impl Run {
    /// Takes the failures noted under `me`: (list indexes below `me`, key, non-null).
    fn take_under(&self, me: &[Seg]) -> Vec<(Vec<usize>, String, bool)> {
        let Ok(mut failed) = self.failed.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        failed.retain(|f| {
            let Some(rest) = f.parent.strip_prefix(me) else {
                return true;
            };
            let indexes: Option<Vec<usize>> = rest
                .iter()
                .map(|s| match s {
                    Seg::Index(i) => Some(*i),
                    Seg::Key(_) => None,
                })
                .collect();
            match indexes {
                Some(ix) => {
                    out.push((ix, f.key.clone(), f.non_null));
                    false
                }
                None => true,
            }
        });
        out
    }

    fn note(&self, f: Failed) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.push(f);
            self.noted.store(true, Ordering::Release);
        }
    }

    fn any(&self) -> bool {
        self.noted.load(Ordering::Acquire) && self.failed.lock().is_ok_and(|f| !f.is_empty())
    }
}

#[async_trait::async_trait]
impl Extension for Run {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let return_type = info.return_type;
        let path_node = info.path_node;
        let result = next.run(ctx, info).await;
        let failed_here = match &result {
            Err(_) => true,
            Ok(_) if !self.any() => return result,
            Ok(_) => false,
        };
        let mut path = path_of(path_node);
        let Some(Seg::Key(key)) = path.pop() else {
            return result;
        };
        let non_null = return_type.ends_with('!');
        if failed_here {
            self.note(Failed {
                parent: path,
                key,
                non_null,
            });
            return result;
        }
        let Ok(Some(mut value)) = result else {
            return result;
        };
        let mut me = path.clone();
        me.push(Seg::Key(key.clone()));
        let under = self.take_under(&me);
        if under.is_empty() {
            return Ok(Some(value));
        }
        if apply(&mut value, return_type, under) {
            if non_null {
                self.note(Failed {
                    parent: path,
                    key,
                    non_null: true,
                });
            }
            return Ok(None);
        }
        Ok(Some(value))
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut resp = next.run(ctx, operation_name).await;
        let root = self.take_under(&[]);
        if root.is_empty() {
            return resp;
        }
        if resp.data == Value::Null {
            resp.data = Value::Object(Default::default());
        }
        // The root object is non-null (`data`), so a non-null root field nulls all of it.
        if apply(&mut resp.data, "Query", root) {
            resp.data = Value::Null;
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullability_follows_list_levels() {
        assert!(non_null_at("[Listing!]!", 0));
        assert!(non_null_at("[Listing!]!", 1));
        assert!(!non_null_at("[Listing]!", 1));
        assert!(!non_null_at("Product", 0));
        assert!(non_null_at("[[A!]]!", 2));
        assert!(!non_null_at("[[A!]]!", 1));
    }

    #[test]
    fn a_failed_non_null_item_nulls_the_nearest_nullable_level() {
        let mut v = Value::List(vec![
            Value::Object(Default::default()),
            Value::Object(Default::default()),
        ]);
        // `[A]!`: the item is nullable, so only it becomes null.
        assert!(!apply(&mut v, "[A]!", vec![(vec![1], "x".into(), true)]));
        assert_eq!(
            v,
            Value::List(vec![Value::Object(Default::default()), Value::Null])
        );
        // `[A!]`: the item is non-null, so the whole list is.
        assert!(apply(&mut v, "[A!]", vec![(vec![0], "x".into(), true)]));
        // A nullable field gets its key.
        let mut o = Value::Object(Default::default());
        assert!(!apply(&mut o, "A", vec![(vec![], "x".into(), false)]));
        assert_eq!(o.to_string(), "{x: null}");
    }
}
