//! The device model of the mock SNMP fleet: a pure function from a 127.x.y.z address (and the fleet's shares) to
//! a device — its kind, CPUs, counter rates, uptime offset, processor loads and community — and the device's MIB
//! at a given uptime, as a sorted table of OIDs and values.
//!
//! The formula (also in docs/MOCK.md, "The mock SNMP fleet"): with `h(a, salt)` the splitmix64 finaliser of
//! `u32(a) ^ salt << 32`,
//! - `cpus = 1 + h(a, CPUS) % 8`;
//! - per-field weights `w` in quarter percents that sum to exactly 400: `idle = 160 + h(a, IDLE) % 220`, the other
//!   400 − idle split among user, nice, system, wait, interrupt, softirq and steal in proportion to
//!   `h(a, field) % 16` (+ 8 for user), the rounding remainder going to user;
//! - a tick scale `s = 1 + h(a, SCALE) % 1024` (ticks per centisecond per CPU per quarter percent);
//! - uptime `n` in centiseconds = `h(a, BOOT) % 30 days` + the centiseconds since the fleet started;
//! - raw counter of field f (ssCpuRaw*) = `w_f × cpus × s × n mod 2^32`; sysUpTime = `n mod 2^32`;
//! - `hrProcessorLoad` of processor i (index 196608 + i, as net-snmp numbers them) = `h(a, LOAD + i) % 101`.
//!
//! Every field advances by `w_f × cpus × s` per centisecond, so over any interval in which the uptime moved (and
//! shorter than [`MAX_EXACT_INTERVAL_CS`], about 13 s, within which no counter can wrap twice), a field's delta
//! modulo 2^32 over the sum of the eight deltas is `w_f / 400` exactly: user, nice, system, idle, irq (interrupt +
//! softirq) and utilization (100 − idle) are multiples of 0.25 %, which decimal text and `f64` hold exactly
//! ([`expected_percentages`]). The scale makes the busiest counters wrap every few seconds, so a fleet exercises a
//! reader's modulo-2^32 deltas (in a 10,000-device run with 200 ms between samples, about a hundred devices wrap a
//! counter between their two samples).

use std::net::Ipv4Addr;

use super::vendors;

/// `sysUpTime.0` (TimeTicks).
pub const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// `hrProcessorLoad` (HOST-RESOURCES-MIB), indexed by hrDeviceIndex.
pub const HR_PROCESSOR_LOAD: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2];
/// UCD-SNMP-MIB `systemStats`.
pub const UCD_SYSTEM_STATS: &[u32] = &[1, 3, 6, 1, 4, 1, 2021, 11];
/// hrDeviceIndex of the first processor (net-snmp's numbering: device type 3 × 65536).
pub const HR_FIRST_INDEX: u32 = 196_608;
/// `ssCpuNumCpus` under [`UCD_SYSTEM_STATS`].
pub const UCD_NUM_CPUS: u32 = 67;

/// The raw CPU counters, in table order: (sub-identifier under [`UCD_SYSTEM_STATS`], field).
pub const UCD_FIELDS: [(u32, Field); 8] = [
    (50, Field::User),
    (51, Field::Nice),
    (52, Field::System),
    (53, Field::Idle),
    (54, Field::Wait),
    (56, Field::Interrupt),
    (61, Field::SoftIrq),
    (64, Field::Steal),
];

/// Largest uptime offset of a device at fleet start: 30 days in centiseconds.
const MAX_BOOT_OFFSET_CS: u64 = 30 * 24 * 3600 * 100;
/// Quarter percents of a whole CPU: the weights of a device sum to this.
pub const WEIGHT_TOTAL: u32 = 400;
/// Largest tick scale `s`.
pub const MAX_SCALE: u64 = 1024;
/// Largest weight of one field (idle: 160 + 219).
const MAX_WEIGHT: u64 = 379;
/// Longest interval (centiseconds) over which the deltas give the exact percentages on every device: the fastest
/// counter (weight 379, 8 CPUs, scale 1024) advances by less than 2^32 within it. 13.8 s.
pub const MAX_EXACT_INTERVAL_CS: u64 = (u32::MAX as u64) / (MAX_WEIGHT * 8 * MAX_SCALE);

/// One raw CPU counter of UCD-SNMP-MIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    User,
    Nice,
    System,
    Idle,
    Wait,
    Interrupt,
    SoftIrq,
    Steal,
}

impl Field {
    fn index(self) -> usize {
        self as usize
    }
}

/// Which MIBs a device has: its personality (`vendors.rs` holds the vendors' objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UCD-SNMP-MIB systemStats and HOST-RESOURCES hrProcessorLoad (a Linux box running net-snmp).
    Ucd,
    /// HOST-RESOURCES hrProcessorLoad only (`noSuchObject` for UCD), like many routers and firewalls (an Arista).
    HostResources,
    /// A Cisco Catalyst stack: cpmCPUTotalTable, one row per member, named through entPhysicalName.
    Cisco,
    /// A Juniper MX960: jnxOperatingTable, with rows (midplane, fans, power) to filter out.
    Juniper,
    /// A Huawei S5720: hwEntityCpuUsage per entity, fans and power supplies among them.
    Huawei,
    /// A FortiGate: fgSysCpuUsage and fgProcessorUsage per core.
    Fortinet,
}

/// The vendor personalities, in the order the address hash picks them.
pub const VENDORS: [Kind; 4] = [Kind::Cisco, Kind::Juniper, Kind::Huawei, Kind::Fortinet];

/// The fleet-wide parameters the device model depends on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Shares {
    /// Share of addresses with a vendor personality ([`VENDORS`], a quarter each), decided first.
    pub vendors: f64,
    /// Share of the other addresses of [`Kind::HostResources`].
    pub host_resources: f64,
    /// Share of addresses whose community is not the fleet's.
    pub wrong_community: f64,
}

/// One device of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub addr: Ipv4Addr,
    pub kind: Kind,
    pub cpus: u32,
    /// Quarter percents per field, in [`Field`] order; they sum to [`WEIGHT_TOTAL`].
    pub weights: [u32; 8],
    /// Ticks per centisecond per CPU per quarter percent, 1..=[`MAX_SCALE`].
    pub scale: u32,
    /// Uptime at fleet start, centiseconds.
    pub boot_offset_cs: u64,
    /// Whether the device answers the fleet's community (the others answer a community nobody sends).
    pub community_ok: bool,
}

/// The percentages an ETL computes for a UCD device over any interval: exact multiples of 0.25.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentages {
    pub utilization: f64,
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    /// interrupt + softirq.
    pub irq: f64,
}

// Salts of the address hash, one per decision.
const SALT_KIND: u64 = 1;
const SALT_COMMUNITY: u64 = 2;
const SALT_CPUS: u64 = 3;
const SALT_IDLE: u64 = 4;
const SALT_BOOT: u64 = 5;
const SALT_SCALE: u64 = 6;
const SALT_VENDOR: u64 = 7;
const SALT_FIELD: u64 = 16;
const SALT_LOAD: u64 = 1 << 16;

/// The splitmix64 finaliser of `u32(addr) ^ salt << 32`: the only source of per-device variety.
pub fn hash(addr: Ipv4Addr, salt: u64) -> u64 {
    let mut z = (u64::from(u32::from(addr)) ^ (salt << 32)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// True for a share `p` of addresses, decided by `hash(addr, salt)`.
fn in_share(addr: Ipv4Addr, salt: u64, p: f64) -> bool {
    // The top 53 bits as a uniform number in [0, 1).
    ((hash(addr, salt) >> 11) as f64 / (1u64 << 53) as f64) < p
}

/// The device at `addr` (pure).
pub fn device(addr: Ipv4Addr, shares: Shares) -> Device {
    let kind = if in_share(addr, SALT_VENDOR, shares.vendors) {
        VENDORS[(hash(addr, SALT_VENDOR + 1) % 4) as usize]
    } else if in_share(addr, SALT_KIND, shares.host_resources) {
        Kind::HostResources
    } else {
        Kind::Ucd
    };
    Device {
        addr,
        kind,
        cpus: 1 + (hash(addr, SALT_CPUS) % 8) as u32,
        weights: weights(addr),
        scale: 1 + (hash(addr, SALT_SCALE) % MAX_SCALE) as u32,
        boot_offset_cs: hash(addr, SALT_BOOT) % MAX_BOOT_OFFSET_CS,
        community_ok: !in_share(addr, SALT_COMMUNITY, shares.wrong_community),
    }
}

/// Quarter-percent weights of `addr`, in [`Field`] order, summing to [`WEIGHT_TOTAL`].
fn weights(addr: Ipv4Addr) -> [u32; 8] {
    let idle = 160 + (hash(addr, SALT_IDLE) % 220) as u32;
    let rest = WEIGHT_TOTAL - idle;
    let mut parts = [0u32; 8];
    for (i, p) in parts.iter_mut().enumerate() {
        if i != Field::Idle.index() {
            *p = (hash(addr, SALT_FIELD + i as u64) % 16) as u32;
        }
    }
    parts[Field::User.index()] += 8;
    let sum: u32 = parts.iter().sum();
    let mut w = [0u32; 8];
    for (i, p) in parts.iter().enumerate() {
        w[i] = rest * p / sum;
    }
    w[Field::Idle.index()] = idle;
    let given: u32 = w.iter().sum();
    w[Field::User.index()] += WEIGHT_TOTAL - given;
    w
}

/// What an ETL reading UCD at `addr` over any interval computes (pure; host-resources shares do not matter).
pub fn expected_percentages(addr: Ipv4Addr) -> Percentages {
    let w = weights(addr);
    let pct = |f: Field| f64::from(w[f.index()]) / 4.0;
    Percentages {
        utilization: 100.0 - pct(Field::Idle),
        user: pct(Field::User),
        nice: pct(Field::Nice),
        system: pct(Field::System),
        idle: pct(Field::Idle),
        irq: pct(Field::Interrupt) + pct(Field::SoftIrq),
    }
}

/// `hrProcessorLoad` of processor `i` (0-based) of the device at `addr`, 0..=100.
pub fn processor_load(addr: Ipv4Addr, i: u32) -> i32 {
    (hash(addr, SALT_LOAD + u64::from(i)) % 101) as i32
}

/// The loads of every processor of the device at `addr`, in index order (what a host-resources walk reads).
pub fn expected_processor_loads(addr: Ipv4Addr) -> Vec<i32> {
    let cpus = device(
        addr,
        Shares {
            vendors: 0.0,
            host_resources: 0.0,
            wrong_community: 0.0,
        },
    )
    .cpus;
    (0..cpus).map(|i| processor_load(addr, i)).collect()
}

/// A value of the mock's MIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    TimeTicks(u32),
    Counter32(u32),
    Gauge32(u32),
    Integer(i32),
    Text(&'static str),
    ObjectId(&'static [u32]),
}

impl Device {
    /// The uptime in centiseconds `elapsed_cs` after the fleet started.
    pub fn uptime_cs(&self, elapsed_cs: u64) -> u64 {
        self.boot_offset_cs + elapsed_cs
    }

    /// The raw counter of `field` at uptime `n` centiseconds, modulo 2^32.
    pub fn counter(&self, field: Field, n: u64) -> u32 {
        let rate =
            u64::from(self.weights[field.index()]) * u64::from(self.cpus) * u64::from(self.scale);
        rate.wrapping_mul(n) as u32
    }

    /// Whether the device is a vendor's ([`VENDORS`]): its CPU is in its vendor's MIB, not in UCD.
    pub fn is_vendor(&self) -> bool {
        VENDORS.contains(&self.kind)
    }

    /// The device's MIB at uptime `n`, sorted by OID (what GETNEXT and GETBULK walk).
    pub fn table(&self, n: u64) -> Vec<(Vec<u32>, Value)> {
        let mut t = Vec::with_capacity(4 + self.cpus as usize + UCD_FIELDS.len());
        let (object_id, descr) = vendors::identity(self.kind);
        t.push((vendors::SYS_DESCR.to_vec(), Value::Text(descr)));
        t.push((vendors::SYS_OBJECT_ID.to_vec(), Value::ObjectId(object_id)));
        t.push((SYS_UPTIME.to_vec(), Value::TimeTicks(n as u32)));
        if self.is_vendor() {
            // hrProcessorLoad stays (vendors often publish it too); the vendor's objects, sorted in.
            for i in 0..self.cpus {
                let mut oid = HR_PROCESSOR_LOAD.to_vec();
                oid.push(HR_FIRST_INDEX + i);
                t.push((oid, Value::Integer(processor_load(self.addr, i))));
            }
            t.extend(vendors::objects(self.addr, self.kind));
            t.sort_by(|a, b| a.0.cmp(&b.0));
            return t;
        }
        for i in 0..self.cpus {
            let mut oid = HR_PROCESSOR_LOAD.to_vec();
            oid.push(HR_FIRST_INDEX + i);
            t.push((oid, Value::Integer(processor_load(self.addr, i))));
        }
        if self.kind == Kind::Ucd {
            for (sub, field) in UCD_FIELDS {
                t.push((ucd_oid(sub), Value::Counter32(self.counter(field, n))));
            }
            t.push((ucd_oid(UCD_NUM_CPUS), Value::Integer(self.cpus as i32)));
        }
        t
    }

    /// The value at `oid` at uptime `n`: the table's entry, found without building the table (what GET reads).
    pub fn get(&self, oid: &[u32], n: u64) -> Option<Value> {
        if oid == SYS_UPTIME {
            return Some(Value::TimeTicks(n as u32));
        }
        if oid.starts_with(&SYS_UPTIME[..SYS_UPTIME.len() - 2]) {
            let (object_id, descr) = vendors::identity(self.kind);
            return match oid {
                _ if oid == vendors::SYS_OBJECT_ID => Some(Value::ObjectId(object_id)),
                _ if oid == vendors::SYS_DESCR => Some(Value::Text(descr)),
                _ => None,
            };
        }
        if self.is_vendor() && !oid.starts_with(HR_PROCESSOR_LOAD) {
            // A vendor's few objects: looked up in the list they come in (a few dozen entries).
            return vendors::objects(self.addr, self.kind)
                .into_iter()
                .find(|(o, _)| o == oid)
                .map(|(_, v)| v);
        }
        if let Some(&[index]) = oid.strip_prefix(HR_PROCESSOR_LOAD) {
            let i = index.checked_sub(HR_FIRST_INDEX)?;
            return (i < self.cpus).then(|| Value::Integer(processor_load(self.addr, i)));
        }
        let &[sub, 0] = oid.strip_prefix(UCD_SYSTEM_STATS)? else {
            return None;
        };
        if self.kind != Kind::Ucd {
            return None;
        }
        if sub == UCD_NUM_CPUS {
            return Some(Value::Integer(self.cpus as i32));
        }
        let (_, field) = UCD_FIELDS.iter().find(|(s, _)| *s == sub)?;
        Some(Value::Counter32(self.counter(*field, n)))
    }

    /// The objects (OIDs without their instance) this device has: a GET below one of them that is not in the
    /// table is `noSuchInstance`, anything else `noSuchObject`.
    pub fn has_object(&self, oid: &[u32]) -> bool {
        let sys_uptime_object = &SYS_UPTIME[..SYS_UPTIME.len() - 1];
        let system = |o: &[u32]| oid.starts_with(&o[..o.len() - 1]);
        if oid.starts_with(sys_uptime_object)
            || oid.starts_with(HR_PROCESSOR_LOAD)
            || system(vendors::SYS_DESCR)
            || system(vendors::SYS_OBJECT_ID)
        {
            return true;
        }
        if self.is_vendor() {
            // An object of the vendor's: a column (or scalar) one of its entries is in.
            return oid.len() > 1
                && vendors::objects(self.addr, self.kind)
                    .iter()
                    .any(|(o, _)| o.len() > 1 && oid.starts_with(&o[..o.len() - 1]));
        }
        self.kind == Kind::Ucd
            && oid.len() > UCD_SYSTEM_STATS.len()
            && oid.starts_with(UCD_SYSTEM_STATS)
            && (oid[UCD_SYSTEM_STATS.len()] == UCD_NUM_CPUS
                || UCD_FIELDS
                    .iter()
                    .any(|(sub, _)| *sub == oid[UCD_SYSTEM_STATS.len()]))
    }
}

/// `1.3.6.1.4.1.2021.11.<sub>.0`.
pub fn ucd_oid(sub: u32) -> Vec<u32> {
    let mut oid = UCD_SYSTEM_STATS.to_vec();
    oid.extend([sub, 0]);
    oid
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Shares = Shares {
        vendors: 0.0,
        host_resources: 0.0,
        wrong_community: 0.0,
    };

    fn addrs(n: u32) -> impl Iterator<Item = Ipv4Addr> {
        (1..=n).map(|k| Ipv4Addr::from(0x7f00_0000 + k))
    }

    #[test]
    fn a_get_reads_what_the_table_holds() {
        let shares = Shares {
            vendors: 0.0,
            host_resources: 0.3,
            wrong_community: 0.0,
        };
        for a in addrs(300) {
            let d = device(a, shares);
            let n = d.uptime_cs(12_345);
            let table = d.table(n);
            for (oid, value) in &table {
                assert_eq!(d.get(oid, n), Some(*value), "{a} {oid:?}");
            }
            let mut absent = vec![
                ucd_oid(55),
                ucd_oid(UCD_NUM_CPUS)[..UCD_SYSTEM_STATS.len() + 1].to_vec(),
                SYS_UPTIME[..SYS_UPTIME.len() - 1].to_vec(),
                HR_PROCESSOR_LOAD.to_vec(),
                [HR_PROCESSOR_LOAD, &[HR_FIRST_INDEX + d.cpus]].concat(),
                [HR_PROCESSOR_LOAD, &[HR_FIRST_INDEX - 1]].concat(),
                [&ucd_oid(50)[..], &[0]].concat(),
            ];
            if d.kind == Kind::HostResources {
                absent.push(ucd_oid(50));
            }
            for oid in absent {
                assert!(table.iter().all(|(t, _)| *t != oid), "{oid:?}");
                assert_eq!(d.get(&oid, n), None, "{a} {oid:?}");
            }
        }
    }

    #[test]
    fn weights_sum_to_a_whole_cpu_and_vary_by_address() {
        let mut seen = std::collections::HashSet::new();
        for a in addrs(20_000) {
            let d = device(a, NONE);
            assert_eq!(d.weights.iter().sum::<u32>(), WEIGHT_TOTAL, "{a}");
            assert!((1..=8).contains(&d.cpus));
            assert!(d.boot_offset_cs < MAX_BOOT_OFFSET_CS);
            seen.insert(d.weights);
        }
        assert!(seen.len() > 15_000, "devices differ: {}", seen.len());
    }

    #[test]
    fn deltas_over_any_interval_give_the_expected_percentages() {
        for a in addrs(2_000) {
            let d = device(a, NONE);
            let e = expected_percentages(a);
            for (start, len) in [
                (0u64, 1u64),
                (12_345, 7),
                (1 << 33, 500),
                (u64::from(u32::MAX), 3),
                (77, MAX_EXACT_INTERVAL_CS),
            ] {
                let (n0, n1) = (d.uptime_cs(start), d.uptime_cs(start + len));
                let delta = |f| d.counter(f, n1).wrapping_sub(d.counter(f, n0));
                let deltas: Vec<u32> = UCD_FIELDS.iter().map(|(_, f)| delta(*f)).collect();
                let total: u64 = deltas.iter().map(|&x| u64::from(x)).sum();
                let pct = |f: Field| 100.0 * f64::from(delta(f)) / total as f64;
                assert_eq!(pct(Field::User), e.user, "{a}");
                assert_eq!(pct(Field::Nice), e.nice, "{a}");
                assert_eq!(pct(Field::System), e.system, "{a}");
                assert_eq!(100.0 - pct(Field::Idle), e.utilization, "{a}");
                assert_eq!(pct(Field::Interrupt) + pct(Field::SoftIrq), e.irq, "{a}");
                assert_eq!((e.user * 4.0).fract(), 0.0);
            }
        }
    }

    #[test]
    fn counters_wrap_within_seconds_on_part_of_the_fleet() {
        // Over 200 ms windows, a share of devices sees a counter go back (mod 2^32) between two samples.
        let wrapped = addrs(10_000)
            .filter(|a| {
                let d = device(*a, NONE);
                let (n0, n1) = (d.uptime_cs(500), d.uptime_cs(520));
                UCD_FIELDS
                    .iter()
                    .any(|(_, f)| d.counter(*f, n1) < d.counter(*f, n0))
            })
            .count();
        assert!((20..1_000).contains(&wrapped), "{wrapped}");
        const { assert!(MAX_EXACT_INTERVAL_CS >= 1_300) };
    }

    #[test]
    fn shares_are_close_to_what_was_asked_and_stable() {
        let shares = Shares {
            vendors: 0.0,
            host_resources: 0.25,
            wrong_community: 0.1,
        };
        let (mut hr, mut bad) = (0, 0);
        for a in addrs(40_000) {
            let d = device(a, shares);
            assert_eq!(d, device(a, shares), "pure");
            hr += usize::from(d.kind == Kind::HostResources);
            bad += usize::from(!d.community_ok);
        }
        assert!((9_000..11_000).contains(&hr), "{hr}");
        assert!((3_500..4_500).contains(&bad), "{bad}");
    }

    #[test]
    fn the_table_is_sorted_and_ucd_only_where_the_kind_says() {
        for a in addrs(200) {
            for hr in [0.0, 1.0] {
                let d = device(
                    a,
                    Shares {
                        vendors: 0.0,
                        host_resources: hr,
                        wrong_community: 0.0,
                    },
                );
                let t = d.table(d.uptime_cs(100));
                assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
                let ucd = t
                    .iter()
                    .filter(|(o, _)| o.starts_with(UCD_SYSTEM_STATS))
                    .count();
                assert_eq!(ucd, if hr == 0.0 { 9 } else { 0 });
                let loads: Vec<i32> = t
                    .iter()
                    .filter(|(o, _)| o.starts_with(HR_PROCESSOR_LOAD))
                    .map(|(_, v)| match v {
                        Value::Integer(x) => *x,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(loads, expected_processor_loads(a));
                assert!(loads.iter().all(|l| (0..=100).contains(l)));
                assert_eq!(d.has_object(&ucd_oid(50)), hr == 0.0);
                assert!(d.has_object(SYS_UPTIME));
                assert!(!d.has_object(&[1, 3, 6, 1, 2, 1, 1, 5, 0]));
            }
        }
    }
}
