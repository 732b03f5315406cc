//! The hand-written `src/store/schema.rs` must describe the database the migrations make, on both
//! backends: same tables, same columns, same types, same nullability. diesel trusts schema.rs; a
//! drift would show up only as a runtime error on the path that touches the column.

use std::collections::BTreeMap;

use diesel::{QueryableByName, RunQueryDsl, sql_query, sql_types::Text};

use crate::helpers::{Backend, TestApp, run};

tests! {
    both: [schema_rs_matches_the_migrated_database],
}

const SCHEMA_RS: &str = include_str!("../../src/store/schema.rs");

/// table → column → (type as the database names it, nullable)
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// Read the `diesel::table!` blocks of schema.rs and say what each backend should show.
fn expected(backend: Backend) -> Columns {
    let mut out = Columns::new();
    for block in SCHEMA_RS.split("diesel::table! {").skip(1) {
        let body = block.split("\n}").next().expect("a closed table! block");
        let mut lines = body.lines().map(str::trim).filter(|l| !l.is_empty());
        let header = lines.next().expect("table header");
        let table = header.split([' ', '(']).next().expect("table name").to_owned();
        let columns = out.entry(table).or_default();
        for line in lines.filter(|l| l.contains("->")) {
            let (name, ty) = line.trim_end_matches(',').split_once("->").expect("column -> Type");
            let ty = ty.trim();
            let (inner, nullable) = match ty.strip_prefix("Nullable<").and_then(|t| t.strip_suffix('>')) {
                Some(inner) => (inner, true),
                None => (ty, false),
            };
            let db_type = match (backend, inner) {
                (_, "Text") => "text",
                (_, "Integer") => "integer",
                (_, "BigInt") => "bigint",
                (_, "Bool") => "boolean",
                (Backend::Sqlite, "Binary") => "blob",
                (Backend::Postgres, "Binary") => "bytea",
                (_, other) => panic!("schema.rs uses a type this check does not know: {other}"),
            };
            columns.insert(name.trim().to_owned(), (db_type.to_owned(), nullable));
        }
    }
    out
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    nullable: String,
}

/// What the migrated database really has (diesel's own bookkeeping table left out).
fn actual(app: &TestApp) -> Columns {
    let query = match app.backend {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, lower(p.type) AS data_type, \
             CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type, \
             is_nullable::text AS nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
        }
    };
    let rows: Vec<Column> = app.with_conn(|c| sql_query(query).load(c)).expect("introspection query");
    let mut out = Columns::new();
    for r in rows {
        out.entry(r.table_name).or_default().insert(r.column_name, (r.data_type, r.nullable == "YES"));
    }
    out
}

fn schema_rs_matches_the_migrated_database(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let (want, have) = (expected(backend), actual(&app));
        assert!(!want.is_empty(), "schema.rs parsed to nothing");
        let tables: std::collections::BTreeSet<&String> = want.keys().chain(have.keys()).collect();
        let mut drift = Vec::new();
        for table in tables {
            match (want.get(table), have.get(table)) {
                (Some(w), Some(h)) if w == h => {}
                (Some(w), Some(h)) => drift.push(format!("{table}: schema.rs {w:?}\n      database {h:?}")),
                (Some(_), None) => drift.push(format!("{table}: in schema.rs, not in the database")),
                (None, Some(_)) => drift.push(format!("{table}: in the database, not in schema.rs")),
                (None, None) => unreachable!(),
            }
        }
        assert!(drift.is_empty(), "schema.rs and the {backend:?} migrations disagree:\n  {}", drift.join("\n  "));
    });
}
