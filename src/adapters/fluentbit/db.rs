//! The `in_tail` DB, read as an in-memory image of its latest committed state (WAL content
//! included): nothing is written or locked (see [`super::image`]).

use std::path::Path;

use rusqlite::Connection;

use crate::adapters::sqlite_image::{self, Image, Kind};
use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use crate::adapters::common;

/// The tail DB, for the image's messages.
pub const KIND: Kind = Kind {
    what: "a Fluent Bit tail DB",
    expected: "a Fluent Bit tail DB file: point to the file a tail input names in `DB`",
    writer: "Fluent Bit",
    journal_fix: "start Fluent Bit once (it rolls the journal back), or use \
                  `db.journal_mode WAL`",
};

/// Reads the DB's latest committed state: the main file with its `-wal`'s complete
/// transactions applied, assembled in memory and opened as an in-memory database (see
/// [`sqlite_image`]); nothing is written, created or locked anywhere.
pub fn read_db(db: &Path) -> Result<StoreSnapshot, StoreError> {
    query_image(db, sqlite_image::take(db, &KIND)?)
}

/// The cursors of `main` with `wal` applied, as if read from `db` (what [`read_db`] does after
/// reading the two files; the fuzz targets feed it bytes).
pub fn read_image(db: &Path, main: Vec<u8>, wal: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let wal_path = sqlite_image::sibling(db, "-wal");
    query_image(db, sqlite_image::build(&wal_path, main, wal, &KIND)?)
}

fn query_image(db: &Path, image: Image) -> Result<StoreSnapshot, StoreError> {
    tracing::trace!(db = %crate::display::path(db), wal_frames = image.frames, "fluent-bit DB image");
    let conn = sqlite_image::connect(&image).map_err(|e| sql_error(db, e))?;
    query(db, &conn).map_err(|e| sql_error(db, e))
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

/// The cursors of `conn` (the image of `db`).
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
            )
            .into(),
            identity: Identity::Inode { ino: ino as u64 },
            path: Some(path.into()),
            offset: offset.max(0) as u64,
            unit: Default::default(),
        });
    }
    Ok(snap)
}
