//! A writer of the OpenTelemetry Collector's file_storage client file: the bbolt database a
//! fresh `bolt.Open` plus one `Update` leaves (pages 0 and 1 meta, 2 freelist, 3 the root
//! leaf, 4 the `default` bucket's leaf, its value on overflow pages when it is large), with
//! `file_input.knownFiles` as the fileconsumer's `checkpoint.Save` encodes it. The tests
//! check it against files the real bbolt library wrote (src/adapters/otel/testdata); the
//! benchmarks use it where the Go writer cannot run.

use base64::Engine as _;

const PS: usize = 4096;

/// One known file: its first bytes (the fingerprint) and offset.
pub struct Known<'a> {
    pub first_bytes: &'a [u8],
    pub offset: u64,
    pub path: &'a str,
}

/// The JSON stream of `files`: the count, then one `reader.Metadata` per line.
pub fn known_files(files: &[Known<'_>]) -> Vec<u8> {
    let mut out = format!("{}\n", files.len()).into_bytes();
    for f in files {
        let name = f.path.rsplit('/').next().unwrap_or(f.path);
        let attrs = serde_json::json!({"log.file.name": name, "log.file.path": f.path});
        let line = format!(
            "{{\"Fingerprint\":{{\"first_bytes\":\"{}\"}},\"Offset\":{},\"RecordNum\":0,\
             \"FileAttributes\":{attrs},\"HeaderFinalized\":false,\"FlushState\":\
             {{\"LastDataChange\":\"2023-11-14T22:13:20Z\",\"LastDataLength\":0}},\
             \"TokenLenState\":{{\"MinimumLength\":0}},\"FileType\":\"\",\"TruncateSkipping\":false}}\n",
            base64::engine::general_purpose::STANDARD.encode(f.first_bytes),
            f.offset
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn header(page: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    page[0..8].copy_from_slice(&id.to_le_bytes());
    page[8..10].copy_from_slice(&flags.to_le_bytes());
    page[10..12].copy_from_slice(&count.to_le_bytes());
    page[12..16].copy_from_slice(&overflow.to_le_bytes());
}

fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn meta(page: &mut [u8], id: u64, root: u64, pgid: u64, txid: u64) {
    header(page, id, 0x04, 0, 0);
    let m = &mut page[16..16 + 64];
    m[0..4].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    m[4..8].copy_from_slice(&2u32.to_le_bytes());
    m[8..12].copy_from_slice(&(PS as u32).to_le_bytes());
    m[16..24].copy_from_slice(&root.to_le_bytes());
    m[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // NoFreelistSync
    m[40..48].copy_from_slice(&pgid.to_le_bytes());
    m[48..56].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&m[..56]);
    m[56..64].copy_from_slice(&sum.to_le_bytes());
}

/// A leaf page (with overflow pages as needed) holding one element.
fn leaf(id: u64, flags: u32, key: &[u8], value: &[u8]) -> Vec<u8> {
    let len = 16 + 16 + key.len() + value.len();
    let pages = len.div_ceil(PS);
    let mut p = vec![0u8; pages * PS];
    header(&mut p, id, 0x02, 1, (pages - 1) as u32);
    p[16..20].copy_from_slice(&flags.to_le_bytes());
    p[20..24].copy_from_slice(&16u32.to_le_bytes()); // pos: right after the element
    p[24..28].copy_from_slice(&(key.len() as u32).to_le_bytes());
    p[28..32].copy_from_slice(&(value.len() as u32).to_le_bytes());
    p[32..32 + key.len()].copy_from_slice(key);
    p[32 + key.len()..len].copy_from_slice(value);
    p
}

/// The whole database file holding `value` under `default` / `file_input.knownFiles`.
pub fn database(value: &[u8]) -> Vec<u8> {
    let mut bucket = [0u8; 16];
    bucket[..8].copy_from_slice(&4u64.to_le_bytes());
    let root = leaf(3, 0x01, b"default", &bucket);
    let data = leaf(4, 0, b"file_input.knownFiles", value);
    let pgid = (4 + data.len() / PS) as u64;
    let mut out = vec![0u8; 3 * PS];
    meta(&mut out[..PS], 0, 3, pgid, 2);
    meta(&mut out[PS..2 * PS], 1, 3, pgid, 1);
    header(&mut out[2 * PS..], 2, 0x10, 0, 0);
    out.extend_from_slice(&root);
    out.extend_from_slice(&data);
    out
}
