//! One registry state, as stored in legacy arrays, checkpoints and memlog `set` ops.
//!
//! The store also holds other inputs' states (journald cursors, S3 objects ...) whose fields
//! have other shapes, so decoding is lenient first ([`RawState`] keeps the few fields
//! drainguard reads as [`Scalar`]s and small [`Shape`]d objects; every other field and any
//! nested content is skipped without being stored, no `serde_json::Value` is built) and strict
//! second: [`RawState::into_entry`] validates a file entry's fields and says what is wrong.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A JSON value reduced to what validation needs: numbers and strings kept (borrowed from the
/// input when it has no escapes), containers only named (their content is skipped).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    Object,
    Array,
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::U64(n) => write!(f, "{n}"),
            Scalar::I64(n) => write!(f, "{n}"),
            Scalar::F64(n) => write!(f, "{n}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Object => f.write_str("an object"),
            Scalar::Array => f.write_str("an array"),
        }
    }
}

impl Scalar<'_> {
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Scalar::U64(n) => Some(n),
            _ => None,
        }
    }
}

struct ScalarVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
        Ok(if v >= 0 {
            Scalar::U64(v as u64)
        } else {
            Scalar::I64(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar<'a>, D::Error> {
        d.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

/// An object field whose object form has the fields `T` picks; any other JSON kind is kept
/// as its [`Scalar`] (content skipped) so validation can say what it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape<'a, T> {
    Object(T),
    Other(Scalar<'a>),
}

struct ShapeVisitor<'a, T>(std::marker::PhantomData<(&'a (), T)>);

macro_rules! forward_scalar {
    ($($m:ident($t:ty)),*) => {$(
        fn $m<E: de::Error>(self, v: $t) -> Result<Self::Value, E> {
            ScalarVisitor(std::marker::PhantomData).$m(v).map(Shape::Other)
        }
    )*};
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for ShapeVisitor<'a, T> {
    type Value = Shape<'a, T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }
    forward_scalar!(
        visit_bool(bool),
        visit_u64(u64),
        visit_i64(i64),
        visit_f64(f64),
        visit_borrowed_str(&'de str),
        visit_str(&str),
        visit_string(String)
    );
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Shape::Other(Scalar::Null))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Shape::Other(Scalar::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor(std::marker::PhantomData)
            .visit_seq(seq)
            .map(Shape::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Shape::Object)
    }
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Shape<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape<'a, T>, D::Error> {
        d.deserialize_any(ShapeVisitor(std::marker::PhantomData))
    }
}

/// `FileStateOS`: `{"inode": u64, "device": u64}` on Linux.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct FileStateOs<'a> {
    #[serde(default, borrow)]
    inode: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    device: Option<Scalar<'a>>,
}

/// Filestream `cursor`: `{"offset": N, ...}`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct CursorObj<'a> {
    #[serde(default, borrow)]
    offset: Option<Scalar<'a>>,
}

/// `meta`: filestream keeps `{"source": path, ...}`; the log input's container meta has other
/// keys (`stream`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct MetaObj<'a> {
    #[serde(default, borrow)]
    source: Option<Scalar<'a>>,
}

/// The raw fields of a state (log input and filestream shapes share one struct; everything
/// else in the object is skipped without being stored).
#[derive(Debug, Default, Deserialize)]
pub struct RawState<'a> {
    /// Log input: the path at the last update.
    #[serde(default, borrow)]
    source: Option<Scalar<'a>>,
    /// Log input: the next byte to deliver.
    #[serde(default, borrow)]
    offset: Option<Scalar<'a>>,
    /// Nanoseconds; 0 = deleted.
    #[serde(default, borrow)]
    ttl: Option<Scalar<'a>>,
    /// Log input: `{"inode": u64, "device": u64}`.
    #[serde(default, borrow, rename = "FileStateOS")]
    file_state_os: Option<Shape<'a, FileStateOs<'a>>>,
    /// Filestream: `{"offset": N}` or null (nothing acknowledged yet).
    #[serde(default, borrow)]
    cursor: Option<Shape<'a, CursorObj<'a>>>,
    /// Filestream: `{"source": path, ...}`.
    #[serde(default, borrow)]
    meta: Option<Shape<'a, MetaObj<'a>>>,
    /// Checkpoint entries carry their key.
    #[serde(default, borrow, rename = "_key")]
    pub key: Option<Cow<'a, str>>,
}

/// The compact form kept per entry (10^6 of these must stay small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    /// The recorded path, shared with the cursor built from the entry.
    pub source: Option<Arc<Path>>,
    pub ttl_zero: bool,
    /// (inode, device) from `FileStateOS`.
    pub dev_ino: Option<(u64, u64)>,
}

fn uint(v: &Scalar<'_>, what: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{what} is {v}, expected a non-negative integer"))
}

impl RawState<'_> {
    /// The compact entry of a file state, or what is wrong with it.
    pub fn into_entry(self) -> Result<Entry, String> {
        let offset = match (&self.offset, &self.cursor) {
            (Some(o), _) => uint(o, "offset")?,
            (None, None | Some(Shape::Other(Scalar::Null))) => 0,
            (None, Some(Shape::Object(c))) => match &c.offset {
                None | Some(Scalar::Null) => 0,
                Some(o) => uint(o, "cursor.offset")?,
            },
            (None, Some(Shape::Other(other))) => {
                return Err(format!("cursor is {other}, expected an object or null"))
            }
        };
        let source = match (self.source, self.meta) {
            (Some(Scalar::Str(s)), _) => Some(s),
            (Some(Scalar::Null) | None, Some(Shape::Object(m))) => match m.source {
                Some(Scalar::Str(s)) => Some(s),
                _ => None,
            },
            (Some(Scalar::Null) | None, _) => None,
            (Some(other), _) => return Err(format!("source is {other}, expected a string")),
        };
        let dev_ino = match self.file_state_os {
            None | Some(Shape::Other(Scalar::Null)) => None,
            Some(Shape::Object(m)) => match (&m.inode, &m.device) {
                (Some(i), Some(d)) => Some((
                    uint(i, "FileStateOS.inode")?,
                    uint(d, "FileStateOS.device")?,
                )),
                _ => return Err("FileStateOS has no inode/device (a Windows registry?)".into()),
            },
            Some(Shape::Other(other)) => {
                return Err(format!("FileStateOS is {other}, expected an object"))
            }
        };
        let ttl_zero = match self.ttl {
            Some(Scalar::U64(n)) => n == 0,
            Some(Scalar::I64(_)) | None | Some(Scalar::Null) => false,
            Some(other) => return Err(format!("ttl is {other}, expected nanoseconds")),
        };
        Ok(Entry {
            offset,
            source: source.map(|s| Arc::from(Path::new(&*s))),
            ttl_zero,
            dev_ino,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> Result<Entry, String> {
        serde_json::from_str::<RawState>(json)
            .map_err(|e| e.to_string())?
            .into_entry()
    }

    #[test]
    fn log_and_filestream_shapes() {
        let e = entry(r#"{"source":"/a","offset":5,"ttl":-1,"meta":{"stream":"stdout"},"FileStateOS":{"inode":7,"device":9},"timestamp":[1,2]}"#).unwrap();
        assert_eq!((e.offset, e.dev_ino, e.ttl_zero), (5, Some((7, 9)), false));
        assert_eq!(e.source.as_deref(), Some(Path::new("/a")));
        let e = entry(r#"{"ttl":0,"cursor":{"offset":4,"eof":false},"meta":{"source":"/b","identifier_name":"native"}}"#).unwrap();
        assert_eq!((e.offset, e.ttl_zero), (4, true));
        assert_eq!(e.source.as_deref(), Some(Path::new("/b")));
        assert_eq!(
            entry(r#"{"cursor":null,"meta":{"source":"/c"}}"#)
                .unwrap()
                .offset,
            0
        );
    }

    /// Strings without escapes are borrowed from the input (no copy per entry); escaped ones
    /// are unescaped into their own.
    #[test]
    fn strings_borrow_unless_escaped() {
        let text = br#"{"source":"/var/log/a.log","_key":"k\u0041","meta":{"source":"/b\n"}}"#;
        let st: RawState<'_> = serde_json::from_slice(text).unwrap();
        assert!(matches!(
            &st.source,
            Some(Scalar::Str(Cow::Borrowed("/var/log/a.log")))
        ));
        assert!(matches!(&st.key, Some(Cow::Owned(k)) if k == "kA"));
        match &st.meta {
            Some(Shape::Object(m)) => {
                assert!(matches!(&m.source, Some(Scalar::Str(Cow::Owned(s))) if s == "/b\n"))
            }
            other => panic!("meta {other:?}"),
        }
        assert_eq!(
            st.into_entry().unwrap().source.as_deref(),
            Some(Path::new("/var/log/a.log"))
        );
    }

    #[test]
    fn wrong_types_are_named() {
        let e = entry(r#"{"offset":"1"}"#).unwrap_err();
        assert_eq!(e, "offset is \"1\", expected a non-negative integer");
        let e = entry(r#"{"offset":-3}"#).unwrap_err();
        assert!(e.contains("offset is -3"), "{e}");
        let e = entry(r#"{"cursor":[1]}"#).unwrap_err();
        assert_eq!(e, "cursor is an array, expected an object or null");
        let e = entry(r#"{"FileStateOS":{"idxhi":1,"idxlo":2,"vol":3}}"#).unwrap_err();
        assert!(e.contains("Windows"), "{e}");
        let e = entry(r#"{"ttl":"1h"}"#).unwrap_err();
        assert!(e.contains("ttl is \"1h\""), "{e}");
    }

    #[test]
    fn other_inputs_shapes_decode_leniently() {
        // A journald-like cursor string and an S3-like nested cursor decode without error
        // (the caller then skips them by key).
        assert!(serde_json::from_str::<RawState>(r#"{"cursor":"s=abc;i=1","ttl":-1}"#).is_ok());
        assert!(serde_json::from_str::<RawState>(
            r#"{"cursor":{"offset":{"a":[1,2]}},"meta":[1]}"#
        )
        .is_ok());
    }
}
