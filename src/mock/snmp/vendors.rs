//! The vendor personalities of the mock fleet: what each answers for sysObjectID.0 and sysDescr.0 (the real
//! vendors' enterprise OIDs and description styles) and its vendor CPU tables, with loads from the address hash.
//!
//! - Cisco (IOS-XE Catalyst stack): `cpmCPUTotalTable` (CISCO-PROCESS-MIB), one row per stack member (1 to 4),
//!   each with `cpmCPUTotalPhysicalIndex` pointing at an `entPhysicalName` ("Switch K - CPU"), the 5-second,
//!   1-minute and 5-minute loads (`…Rev` columns 6, 7, 8);
//! - Juniper (MX960): `jnxOperatingTable` with `jnxOperatingDescr`, `jnxOperatingCPU` and `jnxOperatingMemory` for
//!   the midplane, a fan tray, a power supply (CPU and memory 0: rows to filter out), FPCs and Routing Engines;
//! - Huawei (S5720, VRP): `hwEntityCpuUsage` and `hwEntityMemSize` (HUAWEI-ENTITY-EXTENT-MIB) per entity, with
//!   `entPhysicalName` and `entPhysicalClass`: the MPU boards (class module) and the chassis, fans and power supplies
//!   (CPU and memory 0: rows to filter out);
//! - Fortinet (FortiGate): `fgSysCpuUsage.0` and `fgProcessorUsage` per core.
//!
//! The net-snmp (UCD) and host-resources-only devices of `fleet.rs` answer sysObjectID.0/sysDescr.0 too (net-snmp
//! Linux, and an Arista switch, which publishes its CPU in HOST-RESOURCES only).

use std::net::Ipv4Addr;

use super::fleet::{hash, Kind, Value};

/// sysDescr.0
pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
/// sysObjectID.0
pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
/// entPhysicalClass (ENTITY-MIB), indexed by entPhysicalIndex.
pub const ENT_PHYSICAL_CLASS: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 5];
/// entPhysicalName, indexed by entPhysicalIndex.
pub const ENT_PHYSICAL_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 7];
/// cpmCPUTotalEntry (CISCO-PROCESS-MIB): column 2 the physical index, 6/7/8 the 5 s / 1 min / 5 min loads.
pub const CPM_CPU_TOTAL_ENTRY: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 109, 1, 1, 1, 1];
/// jnxOperatingEntry (JUNIPER-MIB): column 5 the description, 8 the CPU, 15 the memory (MB).
pub const JNX_OPERATING_ENTRY: &[u32] = &[1, 3, 6, 1, 4, 1, 2636, 3, 1, 13, 1];
/// hwEntityCpuUsage (HUAWEI-ENTITY-EXTENT-MIB), indexed by entPhysicalIndex.
pub const HW_ENTITY_CPU_USAGE: &[u32] = &[1, 3, 6, 1, 4, 1, 2011, 5, 25, 31, 1, 1, 1, 1, 5];
/// hwEntityMemSize (HUAWEI-ENTITY-EXTENT-MIB), indexed by entPhysicalIndex.
pub const HW_ENTITY_MEM_SIZE: &[u32] = &[1, 3, 6, 1, 4, 1, 2011, 5, 25, 31, 1, 1, 1, 1, 9];
/// fgSysCpuUsage.0 (FORTINET-FORTIGATE-MIB).
pub const FG_SYS_CPU_USAGE: &[u32] = &[1, 3, 6, 1, 4, 1, 12356, 101, 4, 1, 3, 0];
/// fgProcessorUsage, indexed by the core's number (1-based).
pub const FG_PROCESSOR_USAGE: &[u32] = &[1, 3, 6, 1, 4, 1, 12356, 101, 4, 4, 2, 1, 2];

/// What the device says it is: sysObjectID and sysDescr.
pub fn identity(kind: Kind) -> (&'static [u32], &'static str) {
    match kind {
        // NET-SNMP-MIB netSnmpAgentOIDs.linux
        Kind::Ucd => (
            &[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10],
            "Linux mock-host 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 x86_64",
        ),
        Kind::HostResources => (
            &[1, 3, 6, 1, 4, 1, 30065, 1, 3011, 7048, 427, 3648],
            "Arista Networks EOS version 4.28.3M running on an Arista Networks DCS-7048T-A",
        ),
        Kind::Cisco => (
            &[1, 3, 6, 1, 4, 1, 9, 1, 2066],
            "Cisco IOS Software [Fuji], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 16.9.4, RELEASE SOFTWARE (fc2)\r\nTechnical Support: http://www.cisco.com/techsupport",
        ),
        Kind::Juniper => (
            &[1, 3, 6, 1, 4, 1, 2636, 1, 1, 1, 2, 21],
            "Juniper Networks, Inc. mx960 internet router, kernel JUNOS 18.4R3-S4.2, Build date: 2020-06-25 00:51:27 UTC Copyright (c) 1996-2020 Juniper Networks, Inc.",
        ),
        Kind::Huawei => (
            &[1, 3, 6, 1, 4, 1, 2011, 2, 23, 276],
            "S5720-28X-LI-AC\r\nHuawei Versatile Routing Platform Software\r\nVRP (R) software, Version 5.170 (S5720 V200R011C10SPC500)\r\nCopyright (C) 2000-2018 HUAWEI TECH Co., Ltd",
        ),
        Kind::Fortinet => (&[1, 3, 6, 1, 4, 1, 12356, 101, 1, 3004], "FortiGate-300D"),
    }
}

/// A load, 0..=100, of CPU row `row` of the device at `addr` (`window`: 0 the shortest, 2 the 5-minute one).
pub fn load(addr: Ipv4Addr, row: u32, window: u32) -> u32 {
    (hash(
        addr,
        SALT_VENDOR_LOAD + u64::from(row) * 4 + u64::from(window),
    ) % 101) as u32
}

const SALT_VENDOR_LOAD: u64 = 1 << 20;

/// Juniper's jnxOperatingTable rows: (index container.L1.L2.L3, description, whether it has a CPU).
pub const JUNIPER_ROWS: [([u32; 4], &str, bool); 7] = [
    ([1, 1, 0, 0], "midplane", false),
    ([2, 1, 0, 0], "PEM 0", false),
    ([4, 1, 0, 0], "Top Fan Tray", false),
    ([7, 1, 0, 0], "FPC: MPC7E 3D 40XGE @ 0/*/*", true),
    ([7, 2, 0, 0], "FPC: MPC7E 3D 40XGE @ 1/*/*", true),
    ([9, 1, 0, 0], "Routing Engine 0", true),
    ([9, 2, 0, 0], "Routing Engine 1", true),
];

/// Huawei's entities: (entPhysicalIndex, entPhysicalName, entPhysicalClass, whether it has a CPU).
pub const HUAWEI_ENTITIES: [(u32, &str, i32, bool); 5] = [
    (67_108_867, "S5720-28X-LI-AC 0", 3, false),
    (67_108_873, "MPU Board 0", 9, true),
    (67_108_874, "MPU Board 1", 9, true),
    (67_371_017, "FAN 1", 7, false),
    (67_437_569, "PWR 1", 6, false),
];

/// The stack members of a Cisco device (1 to 4) and the cores of a Fortinet one (1 to 8).
pub fn rows(addr: Ipv4Addr, kind: Kind) -> u32 {
    match kind {
        Kind::Cisco => 1 + (hash(addr, SALT_VENDOR_LOAD - 1) % 4) as u32,
        Kind::Fortinet => 1 + (hash(addr, SALT_VENDOR_LOAD - 2) % 8) as u32,
        _ => 0,
    }
}

/// The Cisco member `k`'s (1 to 4) entPhysicalIndex (1000 × k, as Catalyst stacks number them) and name.
pub fn cisco_member(k: u32) -> (u32, &'static str) {
    const NAMES: [&str; 4] = [
        "Switch 1 - CPU",
        "Switch 2 - CPU",
        "Switch 3 - CPU",
        "Switch 4 - CPU",
    ];
    (1000 * k, NAMES[(k as usize - 1) % 4])
}

fn with(prefix: &[u32], index: &[u32]) -> Vec<u32> {
    [prefix, index].concat()
}

/// The vendor objects of the device at `addr` of `kind` (unsorted): its CPU tables and the entity rows they name.
pub fn objects(addr: Ipv4Addr, kind: Kind) -> Vec<(Vec<u32>, Value)> {
    let mut t = Vec::new();
    let gauge = |v: u32| Value::Gauge32(v);
    match kind {
        Kind::Cisco => {
            for k in 1..=rows(addr, kind) {
                let (phys, name) = cisco_member(k);
                let e = |col: u32| with(CPM_CPU_TOTAL_ENTRY, &[col, k]);
                t.push((e(2), Value::Integer(phys as i32)));
                for (w, col) in [6, 7, 8].into_iter().enumerate() {
                    t.push((e(col), gauge(load(addr, k, w as u32))));
                }
                t.push((with(ENT_PHYSICAL_NAME, &[phys]), Value::Text(name)));
            }
        }
        Kind::Juniper => {
            for (k, (index, descr, cpu)) in JUNIPER_ROWS.iter().enumerate() {
                let e = |col: u32| with(JNX_OPERATING_ENTRY, &[&[col][..], &index[..]].concat());
                t.push((e(5), Value::Text(descr)));
                let value = if *cpu { load(addr, k as u32, 2) } else { 0 };
                t.push((e(8), gauge(value)));
                // jnxOperatingMemory (MB): the components with a CPU have memory, the others none.
                t.push((e(15), Value::Integer(if *cpu { 2048 } else { 0 })));
            }
        }
        Kind::Huawei => {
            for (k, (phys, name, class, cpu)) in HUAWEI_ENTITIES.iter().enumerate() {
                t.push((with(ENT_PHYSICAL_CLASS, &[*phys]), Value::Integer(*class)));
                t.push((with(ENT_PHYSICAL_NAME, &[*phys]), Value::Text(name)));
                let value = if *cpu { load(addr, k as u32, 2) } else { 0 };
                t.push((
                    with(HW_ENTITY_CPU_USAGE, &[*phys]),
                    Value::Integer(value as i32),
                ));
                // hwEntityMemSize (bytes): the boards with a CPU have memory, fans and power supplies none.
                let memory = if *cpu { 1 << 30 } else { 0 };
                t.push((with(HW_ENTITY_MEM_SIZE, &[*phys]), Value::Integer(memory)));
            }
        }
        Kind::Fortinet => {
            t.push((FG_SYS_CPU_USAGE.to_vec(), gauge(load(addr, 0, 0))));
            for k in 1..=rows(addr, kind) {
                t.push((with(FG_PROCESSOR_USAGE, &[k]), gauge(load(addr, k, 0))));
            }
        }
        Kind::Ucd | Kind::HostResources => {}
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_the_vendors_enterprise_oids() {
        let enterprise = |k| identity(k).0[6];
        assert_eq!(enterprise(Kind::Cisco), 9);
        assert_eq!(enterprise(Kind::Juniper), 2636);
        assert_eq!(enterprise(Kind::Huawei), 2011);
        assert_eq!(enterprise(Kind::Fortinet), 12356);
        assert_eq!(enterprise(Kind::Ucd), 8072);
        assert_eq!(enterprise(Kind::HostResources), 30065);
    }

    #[test]
    fn tables_hold_loads_and_rows_to_filter_out() {
        let a = Ipv4Addr::new(127, 0, 9, 9);
        let cisco = objects(a, Kind::Cisco);
        let members = rows(a, Kind::Cisco) as usize;
        assert_eq!(cisco.len(), members * 5);
        assert!(cisco
            .iter()
            .any(|(o, v)| o.starts_with(ENT_PHYSICAL_NAME) && *v == Value::Text("Switch 1 - CPU")));
        let juniper = objects(a, Kind::Juniper);
        let zero = juniper
            .iter()
            .filter(|(o, v)| {
                o.starts_with(&[JNX_OPERATING_ENTRY, &[8]].concat()) && *v == Value::Gauge32(0)
            })
            .count();
        assert!(zero >= 3, "midplane, PEM and fan tray read 0");
        for k in [Kind::Cisco, Kind::Juniper, Kind::Huawei, Kind::Fortinet] {
            for (_, v) in objects(a, k) {
                if let Value::Gauge32(x) = v {
                    assert!(x <= 100);
                }
            }
        }
    }
}
