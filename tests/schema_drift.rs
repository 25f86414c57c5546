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
