//! The devices the reader hands to the run: `Device`, and `DeviceChunk`s of them built by a `ChunkBuilder` (names
//! in one arena, checked to be UTF-8 once per chunk).

use std::net::IpAddr;

/// How a device is reached, from the inventory's optional `credentials` and `port` columns: its credential set
/// (0: `[extract.snmp]`'s own keys; k: the k-th `[extract.snmp.credentials]` set in name order) and its port (0:
/// `extract.snmp.port`). A row without those columns has the default, all zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Via {
    pub credentials: u16,
    pub port: u16,
}

impl Via {
    pub fn is_default(self) -> bool {
        self == Via::default()
    }
}

/// One valid inventory row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub line: u64,
    pub ip: IpAddr,
    pub name: String,
    pub via: Via,
}

/// A device borrowed from a `DeviceChunk`, with the stable hash of its name (made once, by the reader thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    pub line: u64,
    pub ip: IpAddr,
    pub name: &'a str,
    pub hash: u64,
    pub via: Via,
}

impl DeviceRef<'_> {
    pub fn to_device(self) -> Device {
        Device {
            line: self.line,
            ip: self.ip,
            name: self.name.to_string(),
            via: self.via,
        }
    }
}

/// Devices read in one go, their names in one string: handed from the reader thread to the supervisor as one
/// allocation (freeing many small strings on another thread than the one that made them is slow). Made by a
/// [`ChunkBuilder`].
#[derive(Debug, Default)]
pub struct DeviceChunk {
    names: String,
    /// `(line, address, end of the name in names, the name's stable_hash, how it is reached)`.
    entries: Vec<(u64, IpAddr, u32, u64, Via)>,
}

/// A [`DeviceChunk`] being filled: names as the reader hands them, checked to be UTF-8 once for the whole chunk.
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    names: Vec<u8>,
    entries: Vec<(u64, IpAddr, u32, u64, Via)>,
}

impl ChunkBuilder {
    pub fn with_capacity(devices: usize) -> Self {
        ChunkBuilder {
            names: Vec::with_capacity(devices * 16),
            entries: Vec::with_capacity(devices),
        }
    }
    /// Appends a device: its name (UTF-8, as the reader hands it) goes into the chunk's one buffer, beside the
    /// name's `stable_hash`.
    pub fn push_parts(&mut self, line: u64, ip: IpAddr, name: &[u8], hash: u64, via: Via) {
        self.names.extend_from_slice(name);
        let end = u32::try_from(self.names.len()).expect("a chunk's names are far below 4 GiB");
        self.entries.push((line, ip, end, hash, via));
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The chunk, its names checked to be UTF-8 (at once for all: the reader checks each row's, so only a fault,
    /// such as a damaged temporary file, fails this); else the line of the first name that is not.
    pub fn finish(self) -> Result<DeviceChunk, u64> {
        match String::from_utf8(self.names) {
            Ok(names) => Ok(DeviceChunk {
                names,
                entries: self.entries,
            }),
            Err(e) => {
                let bad = e.utf8_error().valid_up_to();
                let entry = self
                    .entries
                    .iter()
                    .find(|&&(_, _, end, _, _)| end as usize > bad);
                Err(entry.map_or(0, |&(line, ..)| line))
            }
        }
    }
}

impl DeviceChunk {
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The devices, borrowed from the chunk (`to_device` makes an owned one where it must outlive it).
    pub fn devices(&self) -> impl Iterator<Item = DeviceRef<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |&(line, ip, end, hash, via)| {
            let name = &self.names[start..end as usize];
            start = end as usize;
            DeviceRef {
                line,
                ip,
                name,
                hash,
                via,
            }
        })
    }
}
