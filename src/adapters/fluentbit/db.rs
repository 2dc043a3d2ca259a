//! The `in_tail` DB, read from a private copy (WAL content included): nothing of Fluent Bit's
//! is written or locked (see [`super::dbcopy`]).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use crate::adapters::common;

/// Reads the DB's latest committed state: the main file and its `-wal`, copied to a private
/// directory and opened there (SQLite applies the WAL's complete transactions to the copy).
/// Without a usable temp dir, the main file alone is read `immutable` (no lock, no file
/// created), and the report says that WAL content was not seen.
pub fn read_db(db: &Path) -> Result<StoreSnapshot, StoreError> {
    let copy = match super::dbcopy::take(db)? {
        Ok(copy) => copy,
        Err(no_temp) => return read_main_only(db, &no_temp),
    };
    // The copy is ours: SQLite may recover its WAL and lock it as it likes.
    let conn = Connection::open_with_flags(
        &copy.main,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(db, e))?;
    let snap = query(db, &conn).map_err(|e| sql_error(db, e))?;
    drop(conn);
    drop(copy);
    Ok(snap)
}

/// The main file alone, opened `immutable=1`: SQLite then takes no lock and opens no `-wal`
/// or `-shm`. Rows that live only in the WAL are not seen: offsets are older than Fluent
/// Bit's, never newer, so the backlog errs towards "behind".
fn read_main_only(db: &Path, why: &StoreError) -> Result<StoreSnapshot, StoreError> {
    super::dbcopy::check_regular(db)?;
    tracing::warn!(db = %crate::display::path(db), error = %why, "no private copy of the fluent-bit DB can be made; reading its main file only");
    let Some(text) = db.to_str() else {
        return Err(StoreError::corrupt(
            db,
            Position::default(),
            format!("cannot copy the DB ({why}), and its path is not UTF-8 for a read-only open"),
        ));
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
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri, flags).map_err(|e| sql_error(db, e))?;
    let mut snap = query(db, &conn).map_err(|e| sql_error(db, e))?;
    snap.notes.push(format!(
        "the DB could not be copied to a private directory ({why}): its -wal was not read, so \
         offsets may be older than Fluent Bit's (never newer); set TMPDIR to a writable directory"
    ));
    Ok(snap)
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

/// The cursors of `conn` (a copy of `db`).
fn query(db: &Path, conn: &Connection) -> Result<StoreSnapshot, rusqlite::Error> {
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
