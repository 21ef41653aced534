//! Unit tests of the inventory reader, the row parser and the check.

use std::io::{self, Read};
use std::net::IpAddr;
use std::path::Path;

use super::*;

fn read(text: &[u8]) -> Vec<Row> {
    let reader = InventoryReader::from_reader(
        Path::new("inv.csv"),
        Box::new(io::Cursor::new(text.to_vec())),
    );
    reader.map(|r| r.unwrap()).collect()
}

fn devices(rows: &[Row]) -> Vec<(u64, String)> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Device(d) => Some((d.line, d.name.clone())),
            Row::Invalid(_) => None,
        })
        .collect()
}

fn problems(rows: &[Row]) -> Vec<(u64, RowProblem)> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Invalid(e) => Some((e.line, e.problem.clone())),
            Row::Device(_) => None,
        })
        .collect()
}

#[test]
fn the_quick_address_parser_agrees_with_the_standard_one() {
    let mut texts: Vec<String> = (0..=300).map(|o| format!("127.{o}.0.1")).collect();
    texts.extend(
        [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "",
            ".",
            "1.2.3.4.",
            " 1.2.3.4",
            "1.2.3.-4",
            "1.2.3.4a",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0000.1.1.1",
            "1.2.3.00",
            "1.2.3.0",
            "999.1.1.1",
            "1.2.3.04",
            "00.1.1.1",
            "0.0.0.00",
            "1234.1.1.1",
            "1.2.3.",
            "1.2.3.256",
            "127.10.0.255",
            "1.2.3.4:80",
            "0.10.100.200",
            "1.2.3.٣",
        ]
        .map(String::from),
    );
    for t in texts {
        assert_eq!(parse_ip(t.as_bytes()), t.parse::<IpAddr>().ok(), "{t:?}");
    }
}

#[test]
fn reads_plain_rows_like_the_original() {
    let rows = read(b"127.0.0.1,Device-1\n127.0.0.2,Device-2\n");
    assert_eq!(
        devices(&rows),
        [(1, "Device-1".into()), (2, "Device-2".into())]
    );
}

#[test]
fn tolerates_header_bom_crlf_blanks_comments_spaces_and_extra_columns() {
    let text = "\u{feff}ip,name\r\n\r\n# a comment\r\n  127.0.0.1 , a ,extra\r\n   # indented\r\n::1,b\r\n";
    let rows = read(text.as_bytes());
    assert_eq!(devices(&rows), [(4, "a".into()), (6, "b".into())]);
    assert!(problems(&rows).is_empty());
}

#[test]
fn reports_each_bad_row_with_its_line() {
    let text = b"127.0.0.1,a\n127.0.0.300,b\n127.0.0.2\n127.0.0.3,\n127.0.0.4,a\n,x\n\xff\xfe,c\n127.0.0.5,d\n127.0.0.6,\x0b\n127.0.0.7,e\x00f\n127.0.0.8,\xc2\xa0\xe3\x80\x80\n127.0.0.9,x\xc2\x85\n127.0.0.10,caf\xc3\xa9\n";
    let rows = read(text);
    assert_eq!(
        devices(&rows),
        [
            (1, "a".into()),
            (5, "a".into()),
            (8, "d".into()),
            (13, "café".into())
        ]
    );
    assert_eq!(
        problems(&rows),
        [
            (2, RowProblem::BadAddress("127.0.0.300".into())),
            (3, RowProblem::MissingField("name")),
            (4, RowProblem::EmptyName),
            (6, RowProblem::MissingField("ip")),
            (7, RowProblem::NotUtf8),
            (9, RowProblem::ControlCharacter('\u{b}')),
            (10, RowProblem::ControlCharacter('\0')),
            (11, RowProblem::EmptyName),
            (12, RowProblem::ControlCharacter('\u{85}')),
        ]
    );
}

#[test]
fn check_reports_repeated_names_with_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.csv");
    std::fs::write(
        &path,
        "127.0.0.1,a\n127.0.0.2,b\nbad\n127.0.0.3,a\n127.0.0.4,b\n127.0.0.5,a\n",
    )
    .unwrap();
    let mut seen = Vec::new();
    let c = check(&path, &[], |e| seen.push((e.line, e.problem.clone()))).unwrap();
    assert_eq!(c.devices, 2);
    assert_eq!(c.problems, 4);
    assert_eq!(c.duplicates, [(4, 1), (5, 2), (6, 1)]);
    assert_eq!(seen[0], (3, RowProblem::MissingField("name")));
    assert_eq!(seen[1], (4, RowProblem::DuplicateName { first_line: 1 }));
}

/// A reader that hands out at most `step` bytes per read, as a pipe or a slow disk may.
struct Trickle(io::Cursor<Vec<u8>>, usize);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.1);
        self.0.read(&mut buf[..n])
    }
}

fn rows_with(text: &[u8], step: usize, block: usize) -> Vec<String> {
    let input = Trickle(io::Cursor::new(text.to_vec()), step);
    let mut reader = InventoryReader::with_block(Path::new("inv.csv"), Box::new(input), block);
    std::iter::from_fn(|| reader.next())
        .map(|r| format!("{:?}", r.unwrap()))
        .collect()
}

#[test]
fn lines_are_the_same_whatever_the_reads_and_blocks() {
    let long = "x".repeat(MAX_LINE_BYTES + 7);
    let limit = format!("127.0.0.9,{}", "n".repeat(MAX_LINE_BYTES - 10));
    let text = format!(
        "\u{feff}ip,name\r\n127.0.0.1,a\r\n\n# c\n{long}\n127.0.0.2,\"b,\"\"q\"\"\"\n{limit}\n{limit}x\n{long}{long}\n127.0.0.3,c,extra\n::1,d"
    );
    let whole = rows_with(text.as_bytes(), usize::MAX, BLOCK_BYTES);
    assert_eq!(whole.len(), 8, "{whole:#?}");
    for (step, block) in [
        (1, 0),
        (3, 0),
        (4097, 0),
        (1000, MAX_LINE_BYTES + 2),
        (7, 5000),
    ] {
        assert_eq!(
            rows_with(text.as_bytes(), step, block),
            whole,
            "step {step}, block {block}"
        );
    }
    let rows = read(text.as_bytes());
    assert_eq!(
        problems(&rows),
        [
            (5, RowProblem::TooLong),
            (8, RowProblem::TooLong),
            (9, RowProblem::TooLong)
        ]
    );
    let names: Vec<_> = devices(&rows)
        .into_iter()
        .map(|(l, n)| (l, n.len()))
        .collect();
    assert_eq!(
        names,
        [(2, 1), (6, 5), (7, MAX_LINE_BYTES - 10), (10, 1), (11, 1)]
    );
}

#[test]
fn an_overlong_last_line_without_newline_is_one_error() {
    let mut text = b"127.0.0.1,a\n".to_vec();
    text.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1));
    for step in [1, 100, usize::MAX] {
        let rows = rows_with(&text, step, 0);
        assert_eq!(rows.len(), 2);
        assert!(rows[1].contains("TooLong"), "{rows:?}");
    }
}

#[test]
fn the_rows_kept_by_the_check_are_the_rows_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.csv");
    let text = "ip,name\n127.0.0.1,a\n# c\n::1, b \n127.0.0.3,\"c,d\"\n127.0.0.4,a\n";
    std::fs::write(&path, text).unwrap();
    let (c, rows) = check_and_keep(&path, None, &[], |_| {}).unwrap();
    assert_eq!((c.devices, c.problems), (3, 1));
    let mut kept = Vec::new();
    let mut reader = crate::inventory::kept::KeptReader::new(rows.expect("every row parsed"));
    while let Some(row) = reader.next_with(|line, ip, name, via| Device {
        line,
        ip,
        name: String::from_utf8(name.to_vec()).unwrap(),
        via,
    }) {
        kept.push(row.unwrap().unwrap());
    }
    // Repeated names are kept too: the run skips them by line.
    let read: Vec<Device> = read(text.as_bytes())
        .into_iter()
        .map(|r| match r {
            Row::Device(d) => d,
            Row::Invalid(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(kept, read);

    // A bad row is kept too, with its message, in line order: the run never reads the file again.
    std::fs::write(&path, "127.0.0.1,a\nbad\n127.0.0.2,b\n").unwrap();
    let (c, rows) = check_and_keep(&path, None, &[], |_| {}).unwrap();
    assert_eq!(c.problems, 1);
    let mut reader = crate::inventory::kept::KeptReader::new(rows.expect("kept"));
    let mut back = Vec::new();
    while let Some(row) = reader.next_with(|line, _, name, _| (line, name.to_vec())) {
        back.push(row.unwrap().map_err(|m| (reader.line(), m)));
    }
    assert_eq!(back.len(), 3, "{back:?}");
    assert_eq!(back[0], Ok((1, b"a".to_vec())));
    let (line, message) = back[1].clone().unwrap_err();
    assert_eq!(line, 2);
    assert!(
        message.contains("inv.csv:2: missing field `name`"),
        "{message}"
    );
    assert_eq!(back[2], Ok((3, b"b".to_vec())));
}

#[test]
fn an_overlong_line_is_one_error_and_reading_goes_on() {
    let mut text = vec![b'x'; MAX_LINE_BYTES * 3];
    text.extend_from_slice(b"\n127.0.0.1,a\n");
    let rows = read(&text);
    assert_eq!(problems(&rows), [(1, RowProblem::TooLong)]);
    assert_eq!(devices(&rows), [(2, "a".into())]);
}

#[test]
fn a_chunk_gives_back_its_devices() {
    let rows = read(b"127.0.0.1,a\n::1,bb\n127.0.0.3,ccc\n");
    let mut chunk = ChunkBuilder::with_capacity(3);
    for r in &rows {
        if let Row::Device(d) = r {
            chunk.push_parts(d.line, d.ip, d.name.as_bytes(), d.line * 100, d.via);
        }
    }
    let chunk = chunk.finish().unwrap();
    let hashes: Vec<u64> = chunk.devices().map(|d| d.hash).collect();
    assert_eq!(hashes, [100, 200, 300]);
    let back: Vec<Device> = chunk.devices().map(DeviceRef::to_device).collect();
    let orig: Vec<Device> = rows
        .into_iter()
        .filter_map(|r| match r {
            Row::Device(d) => Some(d),
            Row::Invalid(_) => None,
        })
        .collect();
    assert_eq!(back, orig);
}

#[test]
fn a_chunk_with_a_name_that_is_not_utf8_names_its_line() {
    let mut chunk = ChunkBuilder::with_capacity(3);
    let ip = IpAddr::from([127, 0, 0, 1]);
    chunk.push_parts(4, ip, b"ok", 0, Via::default());
    chunk.push_parts(7, ip, b"bad\xff", 0, Via::default());
    chunk.push_parts(9, ip, b"ok", 0, Via::default());
    assert_eq!(chunk.finish().unwrap_err(), 7);
}

#[test]
fn quoted_fields_are_unquoted() {
    let rows = read(b"127.0.0.1,\"Device, \"\"one\"\"\"\n");
    assert_eq!(devices(&rows), [(1, "Device, \"one\"".into())]);
}

#[test]
fn header_is_only_skipped_on_the_first_row() {
    let rows = read(b"127.0.0.1,a\nip,name\n");
    assert_eq!(problems(&rows), [(2, RowProblem::BadAddress("ip".into()))]);
}

#[test]
fn error_text_names_file_line_and_field() {
    let rows = read(b"1.2.3,a\n");
    let Row::Invalid(e) = &rows[0] else {
        panic!("expected an invalid row")
    };
    assert_eq!(
        e.to_string(),
        "inv.csv:1: field `ip`: `1.2.3` is not an IPv4 or IPv6 address"
    );
}

#[test]
fn an_unterminated_quote_and_a_bracketed_ipv6_address_are_bad_rows_whatever_the_blocks() {
    let text = "127.0.0.4,\"unterminated\n[::1],x\n127.0.0.5,\"ok, \"\"q\"\"\"\n127.0.0.6, \"open\n127.0.0.7,a\"b\n\"127.0.0.8\",c\n\"127.0.0.9,d\n[fe80::1],e\n[x],f\n";
    let rows = read(text.as_bytes());
    let unterminated = RowProblem::Malformed(
        "unterminated quoted field (a `\"` opens the field and none closes it)".into(),
    );
    assert_eq!(
        problems(&rows),
        [
            (1, unterminated.clone()),
            (2, RowProblem::BracketedAddress("::1".into())),
            (4, unterminated.clone()),
            (7, unterminated),
            (8, RowProblem::BracketedAddress("fe80::1".into())),
            (9, RowProblem::BadAddress("[x]".into())),
        ]
    );
    assert_eq!(
        devices(&rows),
        [(3, "ok, \"q\"".into()), (5, "a\"b".into()), (6, "c".into())]
    );
    for (step, block) in [(1, 0), (5, 0), (7, 5000)] {
        assert_eq!(
            rows_with(text.as_bytes(), step, block),
            rows_with(text.as_bytes(), usize::MAX, BLOCK_BYTES)
        );
    }
    let shown = RowProblem::BracketedAddress("::1".into()).to_string();
    assert!(
        shown.contains("brackets are for URLs; write ::1"),
        "{shown}"
    );
}

/// Rows of every kind: a header, comments, blank lines, plain, spaced, quoted and IPv6 rows, bad rows with a name
/// (bad address, control character) and without one (no second field, an empty name, an unclosed quote), a
/// repeated name, a BOM-less CRLF row.
const MIXED: &str = "ip,name\n# a comment, with a comma\n\n127.0.0.1,r1\n 127.0.0.2 , r2 \n127.0.0.3,\"r,3\"\n\
    ::1,r4\nnot-an-ip,r5\n127.0.0.6,r\x016\n127.0.0.7\n127.0.0.8,\n127.0.0.9,\"open\n127.0.0.10,r1\n\
    127.0.0.11,r11\r\n  # indented comment,x\n";

fn read_shard(text: &[u8], shard: Option<crate::config::Shard>) -> (Vec<Row>, u64) {
    let mut reader = InventoryReader::from_reader(
        Path::new("inv.csv"),
        Box::new(io::Cursor::new(text.to_vec())),
    )
    .with_shard(shard);
    let rows = reader.by_ref().map(|r| r.unwrap()).collect();
    (rows, reader.other_shard())
}

#[test]
fn every_row_is_read_by_exactly_one_shard() {
    let (all, skipped) = read_shard(MIXED.as_bytes(), None);
    assert_eq!(skipped, 0);
    assert_eq!(devices(&all).len(), 6, "{all:?}");
    assert_eq!(problems(&all).len(), 5, "{all:?}");
    let lines = |rows: &[Row]| -> Vec<u64> {
        let mut v: Vec<u64> = devices(rows).into_iter().map(|(l, _)| l).collect();
        v.extend(problems(rows).into_iter().map(|(l, _)| l));
        v.sort_unstable();
        v
    };
    let every = lines(&all);
    for count in 1..=8 {
        let mut union = Vec::new();
        for index in 0..count {
            let shard = crate::config::Shard { index, count };
            let (rows, skipped) = read_shard(MIXED.as_bytes(), Some(shard));
            assert_eq!(skipped + rows.len() as u64, every.len() as u64, "{shard}");
            for (_, name) in devices(&rows) {
                let hash = crate::model::stable_hash(&name);
                assert_eq!(
                    crate::model::shard_index(hash, count),
                    index,
                    "{name} in {shard}"
                );
            }
            union.extend(lines(&rows));
        }
        union.sort_unstable();
        assert_eq!(union, every, "N = {count}: each row once");
    }
    // The rows without a name (lines 10, 11 and 12) are shard 0's.
    let (rows, _) = read_shard(
        MIXED.as_bytes(),
        Some(crate::config::Shard { index: 0, count: 5 }),
    );
    let zero: Vec<u64> = problems(&rows).into_iter().map(|(l, _)| l).collect();
    for line in [10, 11, 12] {
        assert!(zero.contains(&line), "line {line} in shard 0: {zero:?}");
    }
}

#[test]
fn the_quick_name_is_the_name_the_full_parse_finds() {
    for line in MIXED.lines() {
        let mut first = false;
        let at = At {
            path: Path::new("inv.csv"),
            line: 2,
        };
        if let Some(Ok((_, name))) =
            parse_line(line.as_bytes(), at, &mut first, &mut Columns::default())
        {
            if let Some(quick) = quick_name(line.as_bytes()) {
                assert_eq!(quick, &*name, "{line:?}");
            }
        }
    }
    assert_eq!(quick_name(b" 127.0.0.1 ,  a b  ,x"), Some(&b"a b"[..]));
    // Commas and quotes at every position of the 8-byte words, and bytes one off a comma (`-`, `+`).
    for pad in 0..17 {
        let ip = format!("127.0.0.1{}", " ".repeat(pad));
        let line = format!("{ip},-x+{}-,y,\"", "n".repeat(pad));
        assert_eq!(quick_name(line.as_bytes()), None, "{line}");
        let line = format!("{ip},-x+{}-,y,z", "n".repeat(pad));
        let name = format!("-x+{}-", "n".repeat(pad));
        assert_eq!(quick_name(line.as_bytes()), Some(name.as_bytes()), "{line}");
        let line = format!("{ip},-x+{}-", "n".repeat(pad));
        assert_eq!(quick_name(line.as_bytes()), Some(name.as_bytes()), "{line}");
    }
    assert_eq!(quick_name(b"# x,y"), None);
    assert_eq!(quick_name(b"127.0.0.1,\"q\""), None);
    assert_eq!(quick_name(b"127.0.0.1,  "), None);
}

#[test]
fn a_sharded_check_checks_and_keeps_only_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.csv");
    // A repeated name is in one shard: found there, and only there.
    let mut text = String::new();
    for k in 1..=200 {
        text.push_str(&format!("127.0.{}.{},dev-{k}\n", k / 250, k % 250 + 1));
    }
    text.push_str("127.1.0.1,dev-7\n");
    std::fs::write(&path, &text).unwrap();
    let owner = crate::model::shard_index(crate::model::stable_hash("dev-7"), 4);
    let (mut devices, mut other) = (0, 0);
    for index in 0..4 {
        let shard = crate::config::Shard { index, count: 4 };
        let (c, rows) = check_and_keep(&path, Some(shard), &[], |_| {}).unwrap();
        let rows = rows.expect("every row parsed");
        assert_eq!(rows.rows(), c.devices + c.duplicates.len() as u64);
        assert_eq!(c.devices + c.problems + c.other_shard, 201);
        let expected: Vec<(u64, u64)> = if index == owner {
            vec![(201, 7)]
        } else {
            vec![]
        };
        assert_eq!(c.duplicates, expected, "{shard}");
        devices += c.devices;
        other += c.other_shard;
    }
    assert_eq!(devices, 200);
    assert_eq!(other, 3 * 201);
}

#[test]
fn a_bad_address_says_why_it_may_have_been_written_so() {
    let says = |a: &str| RowProblem::BadAddress(a.into()).to_string();
    assert!(
        says("fe80::1%eth0").contains("zone ids"),
        "{}",
        says("fe80::1%eth0")
    );
    assert!(says("name").contains("the columns are ip,name"));
    assert!(says("router-1.example").contains("names are not resolved"));
    assert!(says("127.0.0.300").ends_with("is not an IPv4 or IPv6 address"));
    assert!(says("").ends_with("is not an IPv4 or IPv6 address"));
}

/// A device as `read_via` gives it: line, name, how it is reached.
type Reached = (u64, String, Via);

/// The rows of `text` with the credential sets `sets`: each device, and the problems.
fn read_via(text: &str, sets: &[&str]) -> (Vec<Reached>, Vec<(u64, RowProblem)>) {
    let reader = InventoryReader::from_reader(
        Path::new("inv.csv"),
        Box::new(io::Cursor::new(text.as_bytes().to_vec())),
    )
    .with_credentials(sets.iter().map(|s| s.to_string()).collect());
    let rows: Vec<Row> = reader.map(|r| r.unwrap()).collect();
    let devices = rows
        .iter()
        .filter_map(|r| match r {
            Row::Device(d) => Some((d.line, d.name.clone(), d.via)),
            Row::Invalid(_) => None,
        })
        .collect();
    (devices, problems(&rows))
}

#[test]
fn a_header_names_the_credentials_and_port_columns() {
    let via = |credentials, port| Via { credentials, port };
    let text = "\u{feff}IP,Name,rack,Port,Credentials\n127.0.0.1,a\n127.0.0.2,b,r1,1161,core\n\
                127.0.0.3,c,,,edge\n\"127.0.0.4\",\"d\",r2,\"162\",\n127.0.0.5,e,r3, 2161 , core \n";
    let (devices, problems) = read_via(text, &["core", "edge"]);
    assert_eq!(problems, vec![]);
    assert_eq!(
        devices,
        vec![
            (2, "a".into(), via(0, 0)),
            (3, "b".into(), via(1, 1161)),
            (4, "c".into(), via(2, 0)),
            (5, "d".into(), via(0, 162)),
            (6, "e".into(), via(1, 2161)),
        ]
    );
    // Without a header naming them, extra columns stay ignored: a third column is not a credential set.
    let (devices, problems) = read_via("127.0.0.1,a,core,99999\nip,name,port\n", &[]);
    assert_eq!(
        problems.len(),
        1,
        "a second header is a bad row: {problems:?}"
    );
    assert_eq!(devices, vec![(1, "a".into(), via(0, 0))]);
}

#[test]
fn bad_credentials_and_ports_name_their_line() {
    let text = "ip,name,credentials,port\n127.0.0.1,a,nope\n127.0.0.2,b,,0\n127.0.0.3,c,,65536\n\
                127.0.0.4,d,,x1\n127.0.0.5,e,,-1\n127.0.0.6,f,core,161\n";
    let (devices, problems) = read_via(text, &["core"]);
    assert_eq!(
        problems,
        vec![
            (2, RowProblem::UnknownCredentials("nope".into())),
            (3, RowProblem::BadPort("0".into())),
            (4, RowProblem::BadPort("65536".into())),
            (5, RowProblem::BadPort("x1".into())),
            (6, RowProblem::BadPort("-1".into())),
        ]
    );
    assert_eq!(devices.len(), 1);
    let e = RowError {
        path: "inv.csv".into(),
        line: 2,
        problem: problems[0].1.clone(),
    };
    assert_eq!(
        e.to_string(),
        "inv.csv:2: field `credentials`: `nope` is no [extract.snmp.credentials.NAME] set of the configuration"
    );
}

#[test]
fn the_kept_rows_and_a_split_keep_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.csv");
    let text =
        "# comment\nip,name,credentials,port\n127.0.0.1,a,edge,1161\n127.0.0.2,b\n::1,c,core,\n";
    std::fs::write(&path, text).unwrap();
    let sets = vec!["core".to_string(), "edge".to_string()];
    let (c, rows) = check_and_keep(&path, None, &sets, |_| {}).unwrap();
    assert_eq!((c.devices, c.problems), (3, 0));
    let mut reader = crate::inventory::kept::KeptReader::new(rows.unwrap());
    let mut kept = Vec::new();
    while let Some(row) = reader.next_with(|line, _, name, via| (line, name.to_vec(), via)) {
        kept.push(row.unwrap().expect("a valid row"));
    }
    let via = |credentials, port| Via { credentials, port };
    assert_eq!(
        kept,
        vec![
            (3, b"a".to_vec(), via(2, 1161)),
            (4, b"b".to_vec(), via(0, 0)),
            (5, b"c".to_vec(), via(1, 0)),
        ]
    );
    // An unknown set is a problem of the check.
    let (c, rows) = check_and_keep(&path, None, &sets[..1], |_| {}).unwrap();
    // Kept all the same, the bad row with its message: the run never reads the file again.
    assert_eq!((c.devices, c.problems, rows.is_some()), (2, 1, true));
    // Each split file starts with the header, so its rows keep their columns.
    let mut outs = vec![Vec::new(), Vec::new()];
    split::split(&path, &mut outs).unwrap();
    for out in &outs {
        let out = String::from_utf8(out.clone()).unwrap();
        assert!(out.starts_with("ip,name,credentials,port\n"), "{out}");
    }
    let all: String = outs
        .iter()
        .map(|o| String::from_utf8_lossy(o).into_owned())
        .collect();
    for row in ["127.0.0.1,a,edge,1161\n", "127.0.0.2,b\n", "::1,c,core,\n"] {
        assert!(all.contains(row), "{all}");
    }
}
