//! The mock SNMP fleet of `app mock-server` (`mock.snmp_port`, `--snmp-port`) and `app demo --source snmp`: one
//! UDP socket that is a distinct v2c agent at EVERY 127.x.y.z address, answering GET, GETNEXT and GETBULK for
//! sysUpTime, UCD-SNMP-MIB systemStats and HOST-RESOURCES hrProcessorLoad from the address it was asked at, with
//! values an ETL can check exactly, and faults injected as for `/load`.
//!
//! Devices have personalities (`mock.snmp_vendor_share`): net-snmp (UCD), host-resources only, Cisco, Juniper,
//! Huawei and Fortinet, each answering sysObjectID.0/sysDescr.0 like the real vendor (`vendors`).
//!
//! Layout: `fleet` is the device model (address → device → MIB table; the formula is documented there and
//! [`expected_percentages`] gives what an ETL must compute), `agent` answers one datagram, `socket` is the
//! `IP_PKTINFO` socket and the loopback filter, `faults` the drop/delay/duplicate decisions and the timer queue,
//! `server` the loop on its thread, `counters` what `/stats` and `/metrics` show. Its keys (`mock.snmp_*`) are
//! checked with the rest of the configuration (`config/validate.rs`).

pub mod agent;
pub mod counters;
pub mod faults;
pub mod fleet;
pub mod server;
pub mod socket;
pub mod vendors;

pub use counters::{SnmpCounters, SnmpStats};
pub use fleet::{expected_percentages, expected_processor_loads, Percentages};
pub use server::{start, SnmpFleet};
