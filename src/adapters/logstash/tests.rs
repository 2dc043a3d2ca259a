//! Format tests of the Logstash adapter, from stores written in its exact on-disk format
//! (src/testkit/logstash.rs), including its known traps.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::cursor::{Identity, OffsetMeaning};
use crate::testkit::{self, corrupt_pos};

#[test]
fn logstash_device_from_major_minor_matches_st_dev() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("my log.log"); // a path with a space
    std::fs::write(&log, "a\nb\n").unwrap();
    let m = std::fs::metadata(&log).unwrap();
    let (maj, min) = testkit::logstash::major_minor(m.dev());
    let since = d.path().join(".sincedb_abc");
    testkit::logstash::write(
        &since,
        &[
            testkit::logstash::record(m.ino(), maj, min, 2, Some(log.to_str().unwrap())),
            testkit::logstash::record(5391297, 1, 4, 12, None),
        ],
    )
    .unwrap();
    let s = crate::adapters::logstash::parse(&since, &std::fs::read(&since).unwrap()).unwrap();
    assert_eq!(
        s.cursors[0].identity,
        Identity::DevInode {
            dev: m.dev(),
            ino: m.ino()
        }
    );
    assert_eq!(s.cursors[0].path.as_deref(), Some(log.as_path()));
    assert_eq!(s.cursors[0].offset, 2);
    assert_eq!(s.cursors[1].path, None);
    assert_eq!(s.offset_meaning, OffsetMeaning::Buffered);
}

#[test]
fn logstash_corrupt_record_names_position() {
    let text = "1 2 3 4\n5 x 3 4\n";
    let (line, byte, what) = corrupt_pos(
        crate::adapters::logstash::parse(Path::new("/s"), text.as_bytes()).unwrap_err(),
    );
    assert_eq!((line, byte), (Some(2), Some(8)));
    assert!(what.contains("major"), "{what}");
}

#[test]
fn logstash_pipeline_config_gives_globs_and_sincedb_path() {
    use crate::adapters::logstash::{file_inputs, FileInput};
    let conf = r#"
# input { file { path => "/commented/out.log" } }
input {
  file {
    path => ["/var/log/a/*.log", "/var/log/b.log"] # comment
    exclude => "*.gz"
    codec => multiline { pattern => "^\s" what => "previous" }
    sincedb_path => "/var/lib/ls/since"
  }
  beats { port => 5044 }
  file {
    path => '/srv/x#1.log'
  }
}
filter { if [path] =~ "x" { mutate { add_tag => ["x"] } } }
output {
  file { path => "/var/log/logstash/out-%{+YYYY.MM.dd}.log" }
}
"#;
    assert_eq!(
        file_inputs(conf),
        vec![
            FileInput {
                paths: vec!["/var/log/a/*.log".into(), "/var/log/b.log".into()],
                exclude: vec!["*.gz".into()],
                sincedb_path: Some("/var/lib/ls/since".into()),
            },
            FileInput {
                paths: vec!["/srv/x#1.log".into()],
                exclude: vec![],
                sincedb_path: None,
            },
        ]
    );
    // What Logstash's grammar allows and a naive reader gets wrong.
    let paths = |conf: &str| -> Vec<Vec<String>> {
        file_inputs(conf).into_iter().map(|i| i.paths).collect()
    };
    let one = |p: &str| vec![p.to_string()];
    // Conditionals in inputs are ignored by Logstash: every file input runs.
    assert_eq!(
        paths(
            r#"input { if [x]=="y" { file { path=>"/a" } } else { file { path=>"/b" } } file { path=>"/c" } }"#
        ),
        vec![one("/a"), one("/b"), one("/c")]
    );
    // An escaped quote does not end a string; a regex literal may hold a quote.
    assert_eq!(
        paths(r#"filter { mutate { gsub => ["m","\"",""] } } input { file { path=>"/a" } }"#),
        vec![one("/a")]
    );
    assert_eq!(
        paths(r#"filter { if [m] =~ /"/ { drop {} } } input { file { path => "/r" } }"#),
        vec![one("/r")]
    );
    // A string spanning lines keeps its '#'; an apostrophe in a comment opens nothing.
    assert_eq!(
        paths("# don't\ninput { file { add_field => { \"n\" => \"l1\n#x\" } path => \"/m\" } }"),
        vec![one("/m")]
    );
    // Quoted setting names.
    let q = file_inputs(r#"input { file { "path" => "/q" 'sincedb_path' => "/s" } }"#);
    assert_eq!(
        (q[0].paths.clone(), q[0].sincedb_path.as_deref()),
        (one("/q"), Some("/s"))
    );
    // exclude matches the base name only (Logstash's File.fnmatch? on the basename).
    let ex = FileInput {
        exclude: vec!["old*".into(), "*.gz".into(), "app-[0-9].log".into()],
        ..Default::default()
    };
    let excluded = |path: &str| {
        ex.exclude_rules().iter().any(|r| match r {
            crate::cursor::ExcludeRule::Regex(re) => regex::Regex::new(re).unwrap().is_match(path),
            other => panic!("{other:?}"),
        })
    };
    assert!(excluded("/var/log/old.log"));
    assert!(excluded("/var/log/x.log.gz"));
    assert!(excluded("/var/log/app-3.log"));
    assert!(!excluded("/var/log/old_app/x.log"));
    assert!(!excluded("/var/log/app-10.log"));
    // Without sincedb_path, Logstash names the sincedb after the MD5 of the joined paths
    // (the value below is Python's hashlib.md5 of the same string).
    assert_eq!(
        file_inputs(conf)[0].default_sincedb_name(),
        ".sincedb_ed67610fbd85290ca6afadbf069729e0"
    );
}
