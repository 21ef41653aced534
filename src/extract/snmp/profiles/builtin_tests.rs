//! Tests of the built-in profile files themselves: every file of `builtin/` is embedded, each family's devices get
//! their profile by sysObjectID (the most specific wins), and each family's sources read the values their MIB
//! gives (scale, text, windows, row filters and names) through the same reader the source uses.

use std::path::Path;

use super::format::{Gauge, Object, Profile, Read};
use super::reader::{self, Plan, ReadError, Row};
use super::{Catalog, BUILTIN};
use crate::config::CpuWindow;
use crate::snmp::{Oid, Value, VarBind};

fn catalog() -> Catalog {
    Catalog::load(Path::new("")).unwrap()
}

fn oid(t: &str) -> Oid {
    Oid::parse(t).unwrap()
}

fn text(t: &str) -> Value {
    Value::OctetString(t.as_bytes().to_vec())
}

/// The name of the profile a device with these system objects gets.
fn pick(c: &Catalog, sys_object_id: &str, sys_descr: &str) -> Option<String> {
    c.choose(&oid(sys_object_id), sys_descr)
        .map(|ch| c.profiles[ch.index].name.clone())
}

fn profile<'a>(c: &'a Catalog, name: &str) -> &'a Profile {
    &c.profiles[c.index_of(name).expect(name)]
}

/// The gauge sources tried, in order, when `extract.snmp.cpu_window` is `window`: (object OID, gauge).
fn gauges(p: &Profile, window: CpuWindow) -> Vec<(String, Gauge)> {
    p.sources
        .iter()
        .filter(|s| s.window.is_none_or(|w| w == window))
        .filter_map(|s| match &s.read {
            Read::Gauge(g) => Some((g.object.oid().to_string(), g.clone())),
            _ => None,
        })
        .collect()
}

/// The source of `p` reading `object` (the first one, whatever its window).
fn gauge(p: &Profile, object: &str) -> Gauge {
    p.sources
        .iter()
        .find_map(|s| match &s.read {
            Read::Gauge(g) if g.object.oid().to_string() == object => Some(g.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{} reads no {object}", p.name))
}

/// A scalar source's utilization (hundredths of a percent) for `value`.
fn scalar(g: &Gauge, value: Value) -> Result<Option<u32>, ReadError> {
    reader::utilization(g, g.object.oid(), &value)
}

/// The rows a column source gives from walked columns: `columns` maps each column the plan walks to its
/// (index, value) pairs; a column left out walks empty.
fn rows(g: &Gauge, columns: &[(&str, Vec<(&str, Value)>)]) -> Result<Vec<Row>, ReadError> {
    let plan = Plan::of(g);
    let walked: Vec<Vec<VarBind>> = plan
        .columns
        .iter()
        .map(|col| {
            columns
                .iter()
                .find(|(c, _)| oid(c) == *col)
                .map(|(c, vs)| {
                    vs.iter()
                        .map(|(i, v)| (oid(&format!("{c}.{i}")), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    reader::rows(g, &plan, &walked)
}

fn shown(rows: &[Row]) -> Vec<(String, u32)> {
    rows.iter()
        .map(|r| (r.cpu_number(), r.utilization))
        .collect()
}

#[test]
fn every_file_of_the_builtin_directory_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/extract/snmp/profiles/builtin");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = BUILTIN.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk,
        listed,
        "profiles::BUILTIN must list every file of {}",
        dir.display()
    );
    for (file, text) in BUILTIN {
        let on_disk = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(*text, on_disk, "{file} is embedded under its own name");
    }
}

#[test]
fn each_family_gets_its_profile_and_the_most_specific_match_wins() {
    let c = catalog();
    let cases = [
        (
            "1.3.6.1.4.1.3375.2.1.3.4.43",
            "BIG-IP Virtual Edition",
            "f5-bigip",
        ),
        ("1.3.6.1.4.1.41112.1.4", "Linux 2.6.32.61 mips", "ubiquiti"),
        ("1.3.6.1.4.1.41112.1.6", "UAP-AC-Pro 6.5.28", "ubiquiti"),
        ("1.3.6.1.4.1.10002.1", "Linux", "ubiquiti"),
        (
            "1.3.6.1.4.1.4413",
            "EdgeSwitch 24-Port Lite",
            "ubiquiti-edgeswitch",
        ),
        (
            "1.3.6.1.4.1.1916.2.167",
            "ExtremeXOS (X440G2-48p-10G4)",
            "extreme",
        ),
        (
            "1.3.6.1.4.1.2272.202",
            "VSP-8284XSQ (7.1.0.0)",
            "extreme-voss",
        ),
        (
            "1.3.6.1.4.1.3902.3.100.614",
            "ZTE Ethernet Switch ZXR10 5250",
            "zte-zxr10",
        ),
        (
            "1.3.6.1.4.1.3902.3.600.3.1.601",
            "ZTE ZXR10 9908 Software",
            "zte-zxr10",
        ),
        (
            "1.3.6.1.4.1.6486.800.1.1.2.1.11.1.1",
            "Alcatel-Lucent OS6850",
            "alcatel-omniswitch",
        ),
        (
            "1.3.6.1.4.1.6486.801.1.1.2.1.10.1.1",
            "Alcatel-Lucent Enterprise OS6860E",
            "alcatel-omniswitch",
        ),
        ("1.3.6.1.4.1.4526.100.1.28", "GS728TPv2 ProSAFE", "netgear"),
        (
            "1.3.6.1.4.1.22610.1.3.29",
            "Thunder Series Unified Application Service Gateway",
            "a10-acos",
        ),
        (
            "1.3.6.1.4.1.47196.4.1.1.1.101",
            "Aruba JL665A 6300F-24G",
            "aruba-cx",
        ),
        (
            "1.3.6.1.4.1.14823.1.1.40",
            "ArubaOS (MODEL: Aruba7010)",
            "aruba-controller",
        ),
        (
            "1.3.6.1.4.1.6027.1.3.23",
            "Dell Networking OS S4048-ON",
            "dell-os9",
        ),
        (
            "1.3.6.1.4.1.674.11000.5000.100.2.1.7",
            "Dell EMC Networking OS10-Enterprise",
            "dell-os10",
        ),
        (
            "1.3.6.1.4.1.674.10895.3024",
            "PowerConnect 8024F",
            "dell-powerconnect",
        ),
        (
            "1.3.6.1.4.1.2636.1.1.1.2.86",
            "Juniper Networks, Inc. srx340 internet router, kernel JUNOS 15.1X49",
            "juniper-srx",
        ),
        (
            "1.3.6.1.4.1.2636.1.1.1.2.21",
            "Juniper Networks, Inc. mx960 internet router",
            "juniper",
        ),
    ];
    for (sys_object_id, descr, want) in cases {
        assert_eq!(
            pick(&c, sys_object_id, descr).as_deref(),
            Some(want),
            "{sys_object_id} {descr:?}"
        );
    }
    // Whole arcs: Extreme's 1916 is not A10's 22610 nor anything under 19160.
    assert_eq!(pick(&c, "1.3.6.1.4.1.19160.1", ""), None);
    // The SRX profile is the Juniper one narrowed by sysDescr: same prefix, the sysDescr decides.
    let srx = c
        .choose(&oid("1.3.6.1.4.1.2636.1.1.1.2.86"), "srx4600")
        .unwrap();
    assert!(srx.by_descr);
    assert_eq!(srx.prefix, oid("1.3.6.1.4.1.2636"));
}

#[test]
fn f5_reads_each_host_cpu_in_the_window_set_else_the_global_ratio() {
    let c = catalog();
    let p = profile(&c, "f5-bigip");
    let order = |w| gauges(p, w).into_iter().map(|(o, _)| o).collect::<Vec<_>>();
    assert_eq!(
        order(CpuWindow::OneMinute),
        [
            "1.3.6.1.4.1.3375.2.1.7.5.2.1.27",
            "1.3.6.1.4.1.3375.2.1.1.2.20.29.0"
        ]
    );
    assert_eq!(
        order(CpuWindow::FiveMinutes),
        [
            "1.3.6.1.4.1.3375.2.1.7.5.2.1.35",
            "1.3.6.1.4.1.3375.2.1.1.2.20.37.0"
        ]
    );
    // Rows indexed by the host id (a string, "0" = 1.48) and the CPU number.
    let g = gauge(p, "1.3.6.1.4.1.3375.2.1.7.5.2.1.35");
    let r = rows(
        &g,
        &[(
            "1.3.6.1.4.1.3375.2.1.7.5.2.1.35",
            vec![
                ("1.48.0", Value::Gauge32(12)),
                ("1.48.1", Value::Gauge32(97)),
            ],
        )],
    )
    .unwrap();
    assert_eq!(
        shown(&r),
        [("1.48.0".into(), 1200), ("1.48.1".into(), 9700)]
    );
    let g = gauge(p, "1.3.6.1.4.1.3375.2.1.1.2.20.37.0");
    assert_eq!(scalar(&g, Value::Gauge32(7)), Ok(Some(700)));
    assert!(matches!(
        scalar(&g, Value::Gauge32(250)),
        Err(ReadError::NotPercent { .. })
    ));
}

#[test]
fn ubiquiti_never_reads_a_load_average_and_edgeswitch_reads_its_text() {
    let c = catalog();
    // No built-in source reads a load average: FROGFOOT-RESOURCES-MIB loadTable (AirOS, UniFi) or UCD laTable.
    for p in &c.profiles {
        for s in &p.sources {
            if let Read::Gauge(g) = &s.read {
                let o = g.object.oid();
                for load in ["1.3.6.1.4.1.10002.1.1.1.4", "1.3.6.1.4.1.2021.10"] {
                    assert!(
                        !o.starts_with(&oid(load)),
                        "{} reads {o}, a load average",
                        p.name
                    );
                }
            }
        }
    }
    let p = profile(&c, "ubiquiti");
    assert_eq!(
        p.sources.iter().map(|s| s.read.clone()).collect::<Vec<_>>(),
        [Read::Ucd, Read::HostResources]
    );

    let p = profile(&c, "ubiquiti-edgeswitch");
    let cpu = text("    5 Secs ( 96.3762%)   60 Secs ( 62.8549%)  300 Secs ( 25.2877%)");
    let read = |w| {
        let (_, g) = gauges(p, w).into_iter().next().unwrap();
        scalar(&g, cpu.clone())
    };
    assert_eq!(read(CpuWindow::OneMinute), Ok(Some(6285)));
    assert_eq!(read(CpuWindow::FiveMinutes), Ok(Some(2529)));
    let (_, g) = gauges(p, CpuWindow::FiveMinutes)
        .into_iter()
        .next()
        .unwrap();
    assert!(matches!(
        scalar(&g, text("5 Secs ( 1.0%)")),
        Err(ReadError::NotNumber { .. })
    ));
}

#[test]
fn extreme_reads_exos_slots_as_text_and_voss_slots_on_either_tree() {
    let c = catalog();
    let p = profile(&c, "extreme");
    let (first, g) = gauges(p, CpuWindow::FiveMinutes)
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(first, "1.3.6.1.4.1.1916.1.32.1.4.1.9");
    let r = rows(
        &g,
        &[(
            "1.3.6.1.4.1.1916.1.32.1.4.1.9",
            vec![("1", text("7.3")), ("2", text(" 12 "))],
        )],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1".into(), 730), ("2".into(), 1200)]);
    assert!(matches!(
        rows(
            &g,
            &[("1.3.6.1.4.1.1916.1.32.1.4.1.9", vec![("1", text("n/a"))])]
        ),
        Err(ReadError::NotNumber { .. })
    ));
    let (first, _) = gauges(p, CpuWindow::OneMinute).into_iter().next().unwrap();
    assert_eq!(first, "1.3.6.1.4.1.1916.1.32.1.4.1.8");
    // The total (an integer) comes next, then the VOSS objects for VOSS switches on Extreme's tree.
    let rest: Vec<String> = gauges(p, CpuWindow::FiveMinutes)
        .into_iter()
        .skip(1)
        .map(|(o, _)| o)
        .collect();
    assert_eq!(
        rest,
        [
            "1.3.6.1.4.1.1916.1.32.1.2.0",
            "1.3.6.1.4.1.2272.1.85.10.1.1.3",
            "1.3.6.1.4.1.2272.1.1.20.0"
        ]
    );
    let voss = profile(&c, "extreme-voss");
    let g = gauge(voss, "1.3.6.1.4.1.2272.1.85.10.1.1.3");
    let r = rows(
        &g,
        &[(
            "1.3.6.1.4.1.2272.1.85.10.1.1.3",
            vec![("1", Value::Integer(4))],
        )],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1".into(), 400)]);
}

#[test]
fn zte_leaves_out_units_that_are_down() {
    let c = catalog();
    let p = profile(&c, "zte-zxr10");
    for (window, column) in [
        (CpuWindow::OneMinute, "1.3.6.1.4.1.3902.3.3.1.1.11"),
        (CpuWindow::FiveMinutes, "1.3.6.1.4.1.3902.3.3.1.1.12"),
    ] {
        let (first, g) = gauges(p, window).into_iter().next().unwrap();
        assert_eq!(first, column);
        let r = rows(
            &g,
            &[
                (
                    column,
                    vec![
                        ("1", Value::Integer(23)),
                        ("2", Value::Integer(0)),
                        ("3", Value::Integer(41)),
                    ],
                ),
                (
                    "1.3.6.1.4.1.3902.3.3.1.1.2",
                    vec![
                        ("1", Value::Integer(1)),
                        ("2", Value::Integer(0)),
                        ("3", Value::Integer(1)),
                    ],
                ),
            ],
        )
        .unwrap();
        assert_eq!(shown(&r), [("1".into(), 2300), ("3".into(), 4100)]);
    }
}

#[test]
fn alcatel_netgear_and_a10_read_their_objects() {
    let c = catalog();
    let p = profile(&c, "alcatel-omniswitch");
    let order: Vec<String> = gauges(p, CpuWindow::FiveMinutes)
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(
        order,
        [
            "1.3.6.1.4.1.6486.800.1.2.1.16.1.1.1.14.0",
            "1.3.6.1.4.1.6486.801.1.2.1.16.1.1.1.1.1.11.0"
        ]
    );
    assert_eq!(
        order,
        gauges(p, CpuWindow::OneMinute)
            .into_iter()
            .map(|(o, _)| o)
            .collect::<Vec<_>>(),
        "one window only: the same objects whatever the setting"
    );
    let g = gauge(p, "1.3.6.1.4.1.6486.801.1.2.1.16.1.1.1.1.1.11.0");
    assert_eq!(scalar(&g, Value::Integer(33)), Ok(Some(3300)));

    let p = profile(&c, "netgear");
    let cpu = text("    5 Secs (  6.510%)   60 Secs (  7.724%)  300 Secs (  6.3812%)");
    for (window, want) in [(CpuWindow::OneMinute, 772), (CpuWindow::FiveMinutes, 638)] {
        let tried = gauges(p, window);
        // The older tree first, then the newer one.
        assert!(tried[0].0.starts_with("1.3.6.1.4.1.4526.10."));
        assert!(tried
            .iter()
            .any(|(o, _)| o.starts_with("1.3.6.1.4.1.4526.11.")));
        assert_eq!(scalar(&tried[0].1, cpu.clone()), Ok(Some(want)));
    }

    let p = profile(&c, "a10-acos");
    let g = gauge(p, "1.3.6.1.4.1.22610.2.4.1.3.2.1.3");
    let r = rows(
        &g,
        &[(
            "1.3.6.1.4.1.22610.2.4.1.3.2.1.3",
            vec![("1", Value::Integer(3)), ("2", Value::Integer(18))],
        )],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1".into(), 300), ("2".into(), 1800)]);
    assert!(matches!(g.object, Object::Column(_)));
    let g = gauge(p, "1.3.6.1.4.1.22610.2.4.1.3.3.0");
    assert_eq!(scalar(&g, Value::Integer(11)), Ok(Some(1100)));
}

#[test]
fn aruba_cx_reads_present_stack_members_and_names_vsf_members() {
    let c = catalog();
    let p = profile(&c, "aruba-cx");
    let g = gauge(p, "1.3.6.1.4.1.47196.4.1.1.3.15.1.2.1.9");
    let r = rows(
        &g,
        &[
            (
                "1.3.6.1.4.1.47196.4.1.1.3.15.1.2.1.9",
                vec![
                    ("1", Value::Integer(14)),
                    ("2", Value::Integer(9)),
                    ("3", Value::Integer(0)),
                ],
            ),
            (
                "1.3.6.1.4.1.47196.4.1.1.3.15.1.2.1.3",
                vec![
                    ("1", Value::Integer(12)),
                    ("2", Value::Integer(11)),
                    ("3", Value::Integer(10)),
                ],
            ),
        ],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1".into(), 1400), ("2".into(), 900)]);

    let g = gauge(p, "1.3.6.1.4.1.47196.4.1.1.3.10.0.3.1.9");
    let r = rows(
        &g,
        &[
            (
                "1.3.6.1.4.1.47196.4.1.1.3.10.0.3.1.9",
                vec![("1", Value::Integer(21))],
            ),
            (
                "1.3.6.1.4.1.47196.4.1.1.3.10.0.3.1.6",
                vec![("1", text("Aruba JL668A 6300F 24G"))],
            ),
        ],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1 (Aruba JL668A 6300F 24G)".into(), 2100)]);
    assert_eq!(p.sources.last().unwrap().read, Read::HostResources);

    let p = profile(&c, "aruba-controller");
    let g = gauge(p, "1.3.6.1.4.1.14823.2.2.1.2.1.13.1.3");
    let r = rows(
        &g,
        &[
            (
                "1.3.6.1.4.1.14823.2.2.1.2.1.13.1.3",
                vec![("1", Value::Integer(5))],
            ),
            (
                "1.3.6.1.4.1.14823.2.2.1.2.1.13.1.2",
                vec![("1", text("Supervisor Card CPU"))],
            ),
        ],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1 (Supervisor Card CPU)".into(), 500)]);
}

#[test]
fn dell_os9_and_juniper_srx_read_their_tables_named() {
    let c = catalog();
    let p = profile(&c, "dell-os9");
    for (window, s_series, c_series) in [
        (
            CpuWindow::OneMinute,
            "1.3.6.1.4.1.6027.3.10.1.2.9.1.3",
            "1.3.6.1.4.1.6027.3.8.1.3.7.1.4",
        ),
        (
            CpuWindow::FiveMinutes,
            "1.3.6.1.4.1.6027.3.10.1.2.9.1.4",
            "1.3.6.1.4.1.6027.3.8.1.3.7.1.5",
        ),
    ] {
        let order: Vec<String> = gauges(p, window).into_iter().map(|(o, _)| o).collect();
        assert_eq!(order, [s_series, c_series]);
    }
    let g = gauge(p, "1.3.6.1.4.1.6027.3.10.1.2.9.1.4");
    let r = rows(
        &g,
        &[(
            "1.3.6.1.4.1.6027.3.10.1.2.9.1.4",
            vec![("1", Value::Gauge32(47)), ("2", Value::Gauge32(5))],
        )],
    )
    .unwrap();
    assert_eq!(shown(&r), [("1".into(), 4700), ("2".into(), 500)]);

    let p = profile(&c, "juniper-srx");
    let g = gauge(p, "1.3.6.1.4.1.2636.3.39.1.12.1.1.1.4");
    let r = rows(
        &g,
        &[
            (
                "1.3.6.1.4.1.2636.3.39.1.12.1.1.1.4",
                vec![("1", Value::Gauge32(31)), ("9", Value::Gauge32(4))],
            ),
            (
                "1.3.6.1.4.1.2636.3.39.1.12.1.1.1.11",
                vec![("1", text("node0")), ("9", text("node1"))],
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        shown(&r),
        [("1 (node0)".into(), 3100), ("9 (node1)".into(), 400)]
    );
    // Without an SPU table, the Routing Engines as for any Junos device.
    assert_eq!(
        gauges(p, CpuWindow::FiveMinutes)[1].0,
        "1.3.6.1.4.1.2636.3.1.13.1.8"
    );
}
