//! A record's series as a chunk of the supervisor's stage holds them until the loader forms their batch: the
//! record's labels and timestamp once, then each sample's indicator (its index in the table of the transform's
//! indicators, or its name) and value — about 70 bytes instead of the ~500 of its five `TimeSeries`. The loader
//! expands a batch's records into its `WriteRequest` as it joins them ([`expand`]), so the series are written
//! once, straight into the request.
//!
//! ```text
//! record    = u32 cpu length, cpu, u32 device length, device, i64 timestamp (ms), u8 samples, sample*
//! sample    = u8 indicator (index, or 255 then u32 name length and name), f64 value     (little-endian)
//! ```

use super::{protobuf, series, Scratch, NAME_FIELDS};
use crate::load::sinks::fields::Fields;

/// The index of an unnamed indicator: its name follows.
const NAMED: u8 = 255;

fn put_text(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&s[..s.len().min(u32::MAX as usize)]);
}

/// Appends `r` in the compact form. A value that is not finite has no sample.
pub fn write<R: Fields>(out: &mut Vec<u8>, r: &R) {
    put_text(out, r.cpu().as_bytes());
    put_text(out, r.device().as_bytes());
    out.extend_from_slice(&r.seconds().saturating_mul(1000).to_le_bytes());
    let count = out.len();
    out.push(0);
    let names = &*NAME_FIELDS;
    let mut n = 0u8;
    for (i, (indicator, value)) in r.indicators().enumerate() {
        let Some(value) = value else { continue };
        // The transform's indicators come in the table's order.
        match names
            .get(i)
            .filter(|(name, _)| *name == indicator)
            .map(|_| i)
            .or_else(|| names.iter().position(|(name, _)| *name == indicator))
        {
            Some(index) => out.push(index as u8),
            None => {
                out.push(NAMED);
                put_text(out, indicator.as_bytes());
            }
        }
        out.extend_from_slice(&value.to_le_bytes());
        n = n
            .checked_add(1)
            .expect("a record has at most 255 indicators");
    }
    out[count] = n;
}

/// A reader over records in the compact form (written by [`write`] in this process, so well formed).
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        head
    }
    fn u32(&mut self) -> usize {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes")) as usize
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
    fn text(&mut self) -> &'a [u8] {
        let n = self.u32();
        self.take(n)
    }
}

/// Appends the series of the records in `run` (the compact form of records one after another) to a
/// `WriteRequest` being written in `out`: byte for byte what `write_record` writes for the same records.
pub fn expand(run: &[u8], out: &mut Vec<u8>, shared: &mut Scratch) {
    let names = &*NAME_FIELDS;
    let mut r = Reader { b: run };
    let mut other = Vec::new();
    while !r.b.is_empty() {
        let cpu = r.text();
        let device = r.text();
        let ts = r.u64() as i64;
        shared.set(&[("cpu", cpu), ("device", device)], ts);
        let n = r.take(1)[0];
        out.reserve(usize::from(n) * shared.series_len(names[0].1.len()));
        for _ in 0..n {
            let index = r.take(1)[0];
            let name: &[u8] = match names.get(usize::from(index)) {
                Some((_, field)) => field,
                None => {
                    let indicator = String::from_utf8_lossy(r.text()).into_owned();
                    other.clear();
                    protobuf::label_field(&mut other, "__name__", series::metric_name(&indicator));
                    &other
                }
            };
            let value = f64::from_bits(r.u64());
            shared.write_series(out, name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::sinks::prometheus_remote_write::write_record;

    #[test]
    fn expanded_records_are_the_series_written_directly() {
        let mut rs = crate::transform::transform_all(crate::extract::simulated::device_stats(
            "edge 1,é",
            4,
            1_700_000_000,
        ))
        .unwrap();
        rs[1].indicators[2].value = f64::NAN;
        rs[2].indicators[0].name = "soft irq";
        rs[2].indicators.swap(1, 3);
        rs[3].timestamp = -7;
        let (mut compact, mut direct, mut expanded) = (Vec::new(), Vec::new(), Vec::new());
        let mut shared = Scratch::default();
        for r in &rs {
            write(&mut compact, r);
            write_record(&mut direct, &mut shared, r);
        }
        assert!(
            compact.len() * 4 < direct.len(),
            "{} {}",
            compact.len(),
            direct.len()
        );
        expand(&compact, &mut expanded, &mut shared);
        assert_eq!(expanded, direct);
        let series = protobuf::read_write_request(&expanded).unwrap();
        assert_eq!(series.len(), 4 * 5 - 1);
        assert!(series
            .iter()
            .any(|s| s.labels[0].1 == "appliance_cpu_soft_irq_percent"));
    }
}
