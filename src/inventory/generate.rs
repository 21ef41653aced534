//! Inventories of `n` loopback devices, the one generator of the tests, the benchmarks and the scripts (through
//! `app generate-inventory`): row K (from 1) is `127.a.b.c,{prefix}device-K`, the address 127.0.0.1 + (K − 1)
//! inside 127.0.0.0/8, wrapping after 16,777,214 devices, so an address may repeat but never leaves loopback.

use std::io::{self, Write};
use std::net::Ipv4Addr;

/// Addresses in 127.0.0.1 ..= 127.255.255.254.
const SPAN: u64 = (1 << 24) - 2;

/// The address of device `k` (from 1).
pub fn address(k: u64) -> Ipv4Addr {
    let a = (k.saturating_sub(1) % SPAN + 1) as u32;
    Ipv4Addr::from(0x7f00_0000 | a)
}

/// Writes the rows of devices `1..=n` to `out`.
pub fn write(n: u64, prefix: &str, out: &mut impl Write) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    for k in 1..=n {
        let a = address(k).octets();
        writeln!(
            buf,
            "{}.{}.{}.{},{prefix}device-{k}",
            a[0], a[1], a[2], a[3]
        )?;
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}

/// The rows of devices `1..=n`, as bytes.
pub fn text(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 24);
    write(n, "", &mut out).expect("writing to a Vec cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_up_from_127_0_0_1_and_stay_in_loopback() {
        assert_eq!(address(1), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(address(255), Ipv4Addr::new(127, 0, 0, 255));
        assert_eq!(address(256), Ipv4Addr::new(127, 0, 1, 0));
        assert_eq!(address(SPAN), Ipv4Addr::new(127, 255, 255, 254));
        assert_eq!(address(SPAN + 1), Ipv4Addr::new(127, 0, 0, 1));
        for k in [1, 2, 1000, SPAN - 1, SPAN, SPAN + 7, u64::MAX] {
            assert!(address(k).is_loopback(), "{k}");
        }
    }

    #[test]
    fn every_generated_row_reads_back_as_its_device() {
        let text = text(3000);
        let reader = crate::inventory::InventoryReader::from_reader(
            std::path::Path::new("gen.csv"),
            Box::new(io::Cursor::new(text)),
        );
        let mut n = 0;
        for row in reader {
            match row.expect("readable") {
                crate::inventory::Row::Device(d) => {
                    n += 1;
                    assert_eq!(d.name, format!("device-{n}"));
                    assert_eq!(d.ip, std::net::IpAddr::V4(address(n)));
                }
                other => panic!("not a device: {other:?}"),
            }
        }
        assert_eq!(n, 3000);
    }
}
