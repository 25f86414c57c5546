//! `schema.graphql` must be exactly what the code generates.

#![allow(clippy::unwrap_used, missing_docs)]

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    let generated = mercato::sdl();
    assert!(
        committed == generated,
        "schema.graphql is out of date: run `cargo run -p mercato -- export-schema --out schema.graphql` and commit it"
    );
}

/// What a client relies on in the schema (issue #18): everything described, no Rust names, and
/// every list of entities outside a connection sized by `first` (so cost estimates can use it).
#[test]
fn the_schema_is_described_named_and_sized_for_clients() {
    use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
    let sdl = mercato::sdl();
    let doc = async_graphql::parser::parse_schema(&sdl).unwrap();
    let mut missing = Vec::new();
    let mut entities = std::collections::HashSet::new();
    let types: Vec<_> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some(&t.node),
            _ => None,
        })
        .collect();
    for t in &types {
        if let TypeKind::Object(o) = &t.kind
            && o.fields.iter().any(|f| f.node.name.node == "id")
        {
            entities.insert(t.name.node.to_string());
        }
    }
    let mut unsized_lists = Vec::new();
    for t in &types {
        let name = t.name.node.as_str();
        if t.description.is_none() {
            missing.push(name.to_owned());
        }
        assert!(
            !name.ends_with("Gql") && !name.ends_with("View"),
            "a Rust name in the schema: {name}"
        );
        let fields = match &t.kind {
            TypeKind::Object(o) => &o.fields,
            TypeKind::Interface(i) => &i.fields,
            TypeKind::Enum(e) => {
                for v in &e.values {
                    if v.node.description.is_none() {
                        missing.push(format!("{name}.{}", v.node.value.node));
                    }
                }
                continue;
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    if f.node.description.is_none() {
                        missing.push(format!("{name}.{}", f.node.name.node));
                    }
                }
                continue;
            }
            _ => continue,
        };
        for f in fields {
            let field = format!("{name}.{}", f.node.name.node);
            if f.node.description.is_none() {
                missing.push(field.clone());
            }
            for a in &f.node.arguments {
                if a.node.description.is_none() {
                    missing.push(format!("{field}({})", a.node.name.node));
                }
            }
            if let BaseType::List(inner) = &f.node.ty.node.base
                && let BaseType::Named(item) = &inner.base
                && entities.contains(item.as_str())
                && !name.ends_with("Connection")
                && !f.node.arguments.iter().any(|a| a.node.name.node == "first")
            {
                unsized_lists.push(field);
            }
        }
    }
    assert!(missing.is_empty(), "without a description: {missing:?}");
    assert!(
        unsized_lists.is_empty(),
        "lists of entities without `first`: {unsized_lists:?}"
    );
    assert!(
        !sdl.contains("Implement the"),
        "a library's placeholder text"
    );
}
