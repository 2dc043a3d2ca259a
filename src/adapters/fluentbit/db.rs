//! The `in_tail` DB, read through SQLite strictly read-only (WAL content included).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use crate::adapters::common;

const BUSY_RETRIES: u32 = 5;

/// Reads the DB read-only through SQLite (WAL content included). Retries SQLITE_BUSY
/// briefly, then fails with a clear error.
pub fn read_db(db: &Path) -> Result<StoreSnapshot, StoreError> {
    let mut last = None;
    for attempt in 0..BUSY_RETRIES {
        match try_read(db) {
            Err(
                e @ rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error {
                        code:
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked,
                        ..
                    },
                    _,
                ),
            ) => {
                tracing::debug!(attempt, "fluent-bit DB busy: {e}");
                last = Some(e);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(sql_error(db, e)),
            Ok(s) => return Ok(s),
        }
    }
    Err(StoreError::corrupt(
        db,
        Position::default(),
        format!(
            "database stayed busy/locked after {BUSY_RETRIES} tries ({}); if `db.locking true` is set, Fluent Bit holds an exclusive lock: set db.locking false",
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    ))
}

fn sql_error(db: &Path, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::corrupt(
                db,
                Position::default(),
                "not an SQLite database (file is not a Fluent Bit tail DB)",
            )
        }
        other => StoreError::corrupt(
            db,
            Position::default(),
            format!("cannot read in_tail_files: {other}"),
        ),
    }
}

/// Opens the DB without ever creating a file next to it. With a `-wal` file present (a writer
/// is active or crashed) SQLite reads through it read-only. Without one, everything is in the
/// main file, and a plain read-only open would create empty `-wal`/`-shm` files owned by us
/// (which a non-root Fluent Bit could then not open): open it `immutable` instead.
fn open_read_only(db: &Path) -> Result<Connection, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(db, flags);
    }
    let Some(text) = db.to_str() else {
        // Not expressible as a URI: the plain open (may create -shm; rare).
        return Connection::open_with_flags(db, flags);
    };
    let mut uri = String::from("file:");
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
}

fn try_read(db: &Path) -> Result<StoreSnapshot, rusqlite::Error> {
    let conn = open_read_only(db)?;
    conn.busy_timeout(Duration::from_millis(200))?;
    let has_marker = conn
        .prepare("SELECT 1 FROM pragma_table_info('in_tail_files') WHERE name = 'offset_marker'")?
        .exists([])?;
    let mut snap = common::snapshot(
        ShipperKind::FluentBit,
        db,
        if has_marker {
            "fluent-bit in_tail_files (offset_marker)"
        } else {
            "fluent-bit in_tail_files"
        },
        OffsetMeaning::Read,
    );
    // Highest id per inode wins.
    let mut stmt = conn.prepare(
        "SELECT t.name, t.offset, t.inode, t.rotated FROM in_tail_files t \
         JOIN (SELECT inode, MAX(id) AS id FROM in_tail_files GROUP BY inode) m ON t.id = m.id \
         ORDER BY t.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)
                .or_else(|_| r.get::<_, String>(0).map(String::into_bytes))?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (name, offset, ino, rotated) = row?;
        let path = common::path_from_bytes(&name);
        snap.cursors.push(Cursor {
            key: format!(
                "inode {ino}{}",
                if rotated != 0 { " (rotated)" } else { "" }
            ),
            identity: Identity::Inode { ino: ino as u64 },
            path: Some(path),
            offset: offset.max(0) as u64,
            unit: Default::default(),
        });
    }
    Ok(snap)
}
