//! Helpers for the SQLite adapters' tests.

use std::path::PathBuf;

use rusqlite::Connection;

/// A database file's path in a new temporary directory; the directory goes when the returned guard drops.
pub(super) fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookline.db");
    (dir, path)
}

/// The steps of SQLite's plan for `sql` run with `params` (the detail column of `EXPLAIN QUERY PLAN`).
pub(super) fn query_plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params, |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
