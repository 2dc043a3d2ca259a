//! Fluent Bit in_tail SQLite DBs, created with Fluent Bit's schema and pragmas
//! (`journal_mode=WAL`, `synchronous=normal`), updated through a long-lived writer
//! connection like the running `in_tail`.

use std::path::Path;

use rusqlite::{params, Connection};

/// Creates the DB (optionally with the v5.0.3 `offset_marker` columns) and returns the open
/// writer connection; keep it open to leave rows in the `-wal` file only.
pub fn create(db: &Path, with_marker: bool) -> rusqlite::Result<Connection> {
    let c = Connection::open(db)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "normal")?;
    // No automatic checkpoints: rows stay in the -wal until checkpoint() is called.
    c.pragma_update(None, "wal_autocheckpoint", 0)?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS in_tail_files (
           id INTEGER PRIMARY KEY, name TEXT NOT NULL, offset INTEGER, inode INTEGER,
           created INTEGER, rotated INTEGER DEFAULT 0);",
    )?;
    if with_marker {
        c.execute_batch(
            "ALTER TABLE in_tail_files ADD COLUMN offset_marker INTEGER DEFAULT 0;
             ALTER TABLE in_tail_files ADD COLUMN offset_marker_size INTEGER DEFAULT 0;",
        )?;
    }
    Ok(c)
}

/// `SQL_INSERT_FILE`: a new row; returns its id.
pub fn insert(c: &Connection, name: &str, offset: u64, ino: u64) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?1, ?2, ?3, 1764031111)",
        params![name, offset as i64, ino as i64],
    )?;
    Ok(c.last_insert_rowid())
}

/// `SQL_UPDATE_OFFSET`.
pub fn update_offset(c: &Connection, id: i64, offset: u64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE in_tail_files SET offset = ?1 WHERE id = ?2",
        params![offset as i64, id],
    )?;
    Ok(())
}

/// `SQL_ROTATE_FILE`.
pub fn rotate(c: &Connection, id: i64, new_name: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE in_tail_files SET name = ?1, rotated = 1 WHERE id = ?2",
        params![new_name, id],
    )?;
    Ok(())
}

/// Moves the WAL content into the main DB file.
pub fn checkpoint(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
}
