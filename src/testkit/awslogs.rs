//! awslogs agent state files as `cwlogs/kvstore.py` (awscli-cwlogs 1.4.6) writes them: SQLite
//! through Python's `sqlite3` (rollback journal, a commit per save), tables `push_state` and
//! `stream_state` `(k TEXT PRIMARY KEY NOT NULL, v TEXT NOT NULL, ctime DATETIME, mtime
//! DATETIME)`, `v` the `json.dumps` of the agent's dict (`", "` and `": "` separators), and
//! the source id `md5(section + fingerprint lines)` as `Stream._calc_file_fingerprint`.

use std::path::Path;

use md5::{Digest, Md5};
use rusqlite::{params, Connection};

/// Creates the DB with both tables, as `Watcher.__init__` does.
pub fn create(db: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(db)?;
    for t in ["push_state", "stream_state"] {
        c.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (k TEXT PRIMARY KEY NOT NULL, v TEXT NOT NULL, \
             ctime DATETIME, mtime DATETIME)"
        ))?;
    }
    Ok(c)
}

/// The source id of `lines` (each with its `\n`) in `section`.
pub fn source_id(section: &str, lines: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(section.as_bytes());
    h.update(lines);
    hex::encode(h.finalize())
}

/// `KeyValueStore.save`: an insert, or an update of `v` and `mtime`.
pub fn save(c: &Connection, table: &str, k: &str, v: &str) -> rusqlite::Result<()> {
    let now = "2026-12-02T02:30:00";
    let n = c.execute(
        &format!("UPDATE {table} SET v = ?1, mtime = ?2 WHERE k = ?3"),
        params![v, now, k],
    )?;
    if n == 0 {
        c.execute(
            &format!("INSERT INTO {table} VALUES (?1, ?2, ?3, ?4)"),
            params![k, v, now, now],
        )?;
    }
    Ok(())
}

/// `Stream._record_state`'s row for a batch `[start, end)` (the token used for the call).
pub fn push(c: &Connection, id: &str, start: u64, end: u64) -> rusqlite::Result<()> {
    let v = format!(
        "{{\"source_id\": \"{id}\", \"start_position\": {start}, \"end_position\": {end}, \
         \"batch_timestamp\": 1796142631336, \"first_timestamp\": 1796142631336, \
         \"first_timestamp_status\": 1, \"sequence_token\": null}}"
    );
    save(c, "push_state", id, &v)
}

/// `Stream.refresh`'s first stream state of `section`.
pub fn stream(c: &Connection, section: &str, id: &str, initial: u64) -> rusqlite::Result<()> {
    let v = format!("{{\"source_id\": \"{id}\", \"initial_position\": {initial}}}");
    save(c, "stream_state", section, &v)
}

/// The publisher's INFO line after a successful PutLogEvents of a batch ending at `end`.
pub fn publish_line(group: &str, stream: &str, id: &str, start: u64, end: u64) -> String {
    format!(
        "2026-12-02 02:30:01,123 - cwlogs.push.publisher - INFO - 4242 - Thread-4 - Log group: \
         {group}, log stream: {stream}, queue size: 0, Publish batch: {{'source_id': '{id}', \
         'num_of_events': 1, 'skipped_events_count': 0, 'fallback_events_count': 0, \
         'batch_size_in_bytes': 50, 'first_event': {{'timestamp': 1796142631336, \
         'start_position': {start}, 'end_position': {end}}}, 'last_event': {{'timestamp': \
         1796142631336, 'start_position': {start}, 'end_position': {end}}}}}\n"
    )
}
