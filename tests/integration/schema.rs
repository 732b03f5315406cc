//! The hand-written `src/store/schema.rs` must describe the database the migrations make, on both
//! backends: same tables, same columns, same types, same nullability. diesel trusts schema.rs; a
//! drift would show up only as a runtime error on the path that touches the column.

use std::collections::BTreeMap;

use diesel::{QueryableByName, RunQueryDsl, sql_query, sql_types::Text};

use crate::helpers::{Backend, TestApp, run};

tests! {
    both: [schema_rs_matches_the_migrated_database, answers_stored_before_rows_were_keyed_by_survey_survive_the_migration],
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

/// The migration that keys rows by (survey, id) copies (SQLite) or re-indexes (PostgreSQL) every
/// stored answer. Answers stored under the old shape must all still be there afterwards, still open
/// (their ids are bound into their sealed data, so the migration must not change one), and a row that
/// only its receipt hash finds (as every row stored before the migration) must still be withdrawable.
fn answers_stored_before_rows_were_keyed_by_survey_survive_the_migration(backend: Backend) {
    use chorus::{
        intake::Receipt,
        keyring::Keyring,
        month::Month,
        store::{DbConn, schema::responses},
    };
    use diesel::{ExpressionMethods, QueryDsl, TextExpressionMethods};
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let receipts = app.answer_api(12, r#"{"age":"25_34"}"#).await;
        let folder = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
        let migrations =
            FileBasedMigrations::from_path(format!("{}/migrations/{folder}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        // Back to the shape an older Chorus left; one answer is then found only by its receipt hash.
        let old_receipt = Receipt::generate();
        let derived = Receipt::parse(&receipts[0]).unwrap().response_id();
        app.with_conn(|c| {
            let reverted = match c {
                DbConn::Sqlite(c) => c.revert_last_migration(migrations.clone()).unwrap(),
                DbConn::Postgres(c) => c.revert_last_migration(migrations.clone()).unwrap(),
            };
            assert!(reverted.to_string().contains("500001"), "reverted {reverted}, not the re-keying migration");
            // Stored under its commit's placement, then the id (`responses::Placement`).
            let marked = diesel::update(responses::table.filter(responses::id.like(format!("%{derived}"))))
                .set(responses::receipt_hash.eq(old_receipt.hash()))
                .execute(c)
                .unwrap();
            assert_eq!(marked, 1);
            let applied = match c {
                DbConn::Sqlite(c) => c.run_pending_migrations(migrations).unwrap().len(),
                DbConn::Postgres(c) => c.run_pending_migrations(migrations).unwrap().len(),
            };
            assert_eq!(applied, 1);
        });
        assert_eq!(app.count("harms"), 12, "an answer was lost by the migration");
        let opened = app.with_conn(|c| {
            let mut unsealed = Keyring::unseal(c, &secrecy::SecretString::from(crate::helpers::PASSPHRASE)).unwrap();
            unsealed.for_each_answer(c, "harms", Month::now(), &[], |_| Ok(())).unwrap()
        });
        assert_eq!((opened.opened, opened.failed), (12, 0), "every answer opens after the migration");
        assert!(app.withdraw_api(&old_receipt.display()).await < 400);
        assert_eq!(app.count("harms"), 11, "the receipt hash still finds its answer");
        assert!(app.withdraw_api(&receipts[1]).await < 400);
        assert_eq!(app.count("harms"), 10, "a derived id still finds its answer");
    });
}
