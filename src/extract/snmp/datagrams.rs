//! The datagrams queued on one of the transport's UDP sockets, read in one system call: `recvmmsg`, up to `BATCH`
//! at a time (a `recvfrom` per datagram, and one more each time it found the queue empty, were half the ETL's system
//! calls on a first run).
//!
//! A batch that comes back short of `BATCH` found the queue empty, so the socket is marked not readable without
//! asking the kernel again: the runtime's epoll registration is edge-triggered, and every datagram queued after
//! that point raises a new edge.
//!
//! The requests are sent the same way: those queued on a socket during one turn of its thread's tasks go out in
//! `sendmmsg` calls of up to `BATCH` (`Sender`), instead of a `sendto` each.

use std::io;
use std::net::SocketAddr;

/// Most datagrams read per system call.
pub const BATCH: usize = 16;
/// The room given to each datagram: the largest a UDP socket can hand over, so none is ever truncated.
const SLOT: usize = 65_535;

/// The buffers of one socket's receive task.
pub struct Receiver {
    inner: raw::Batch,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::new()
    }
}

impl Receiver {
    pub fn new() -> Receiver {
        Receiver {
            inner: raw::Batch::new(),
        }
    }

    /// Waits for `udp` to have datagrams, then hands each one queued (at most `BATCH`) to `each` with its sender.
    pub async fn next(
        &mut self,
        udp: &tokio::net::UdpSocket,
        mut each: impl FnMut(&[u8], SocketAddr),
    ) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        // Clearing the readiness below after a short batch is right on a current-thread runtime only.
        debug_assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let fd = udp.as_raw_fd();
        let batch = &mut self.inner;
        let n = udp
            .async_io(Interest::READABLE, || batch.receive(fd))
            .await?;
        for i in 0..n {
            if let Some((datagram, from)) = batch.get(i) {
                each(datagram, from);
            }
        }
        if n < BATCH {
            // The queue was empty when the kernel stopped: readable again at the next datagram's edge, without a
            // recvmmsg that would only say EAGAIN. No edge is lost: the runtime is this thread's alone (an actix
            // arbiter's current-thread runtime), so its driver reads the edges of datagrams queued since the
            // recvmmsg only after this clear, and tokio clears only the readiness of the event it read.
            let _ = udp.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
        Ok(())
    }
}

/// The headers of one socket's send task.
#[derive(Default)]
pub struct Sender {
    names: Vec<socket2::SockAddr>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl Sender {
    pub fn new() -> Sender {
        Sender::default()
    }

    /// Sends `datagrams` in order, `BATCH` per system call, waiting while the socket's send buffer is full. A
    /// datagram the kernel refuses is handed to `refused` with the error (it decides whether to try again), and the
    /// ones after it are sent.
    pub async fn send(
        &mut self,
        udp: &tokio::net::UdpSocket,
        datagrams: &[(Vec<u8>, SocketAddr)],
        mut refused: impl FnMut(&[u8], SocketAddr, io::Error),
    ) {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        let fd = udp.as_raw_fd();
        let mut at = 0;
        while at < datagrams.len() {
            let chunk = &datagrams[at..datagrams.len().min(at + BATCH)];
            match udp
                .async_io(Interest::WRITABLE, || self.send_chunk(fd, chunk))
                .await
            {
                Ok(n) => at += n.max(1),
                Err(e) => {
                    // The first of the chunk was refused (sendmmsg reports an error only when nothing was sent).
                    let (datagram, to) = &datagrams[at];
                    refused(datagram, *to, e);
                    at += 1;
                }
            }
        }
    }

    /// One `sendmmsg` of `chunk` without waiting: how many were sent (at least one), or the error of the first.
    fn send_chunk(
        &mut self,
        fd: libc::c_int,
        chunk: &[(Vec<u8>, SocketAddr)],
    ) -> io::Result<usize> {
        self.names.clear();
        self.names
            .extend(chunk.iter().map(|(_, to)| socket2::SockAddr::from(*to)));
        self.iovecs.clear();
        self.iovecs.extend(chunk.iter().map(|(d, _)| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        }));
        self.headers.clear();
        for i in 0..chunk.len() {
            // SAFETY: a plain C struct, all-zero is a valid value.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = self.names[i].as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = self.names[i].len();
            h.msg_hdr.msg_iov = &mut self.iovecs[i];
            h.msg_hdr.msg_iovlen = 1;
            self.headers.push(h);
        }
        // SAFETY: each header names an address and one iovec over a datagram, all alive across the call; sendmmsg
        // only reads them (and writes msg_len).
        let n = unsafe {
            libc::sendmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

mod raw {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

    use super::{BATCH, SLOT};

    /// `BATCH` message headers, each naming its slot of `buf` and its sender's address.
    pub struct Batch {
        /// `BATCH * SLOT` bytes of capacity, never initialized by us: the kernel writes a datagram at the start of
        /// its slot and only those bytes are read, so only the pages datagrams reach are ever touched (no 1 MiB
        /// memset per socket).
        buf: Vec<u8>,
        names: Box<[libc::sockaddr_storage; BATCH]>,
        /// Read by the kernel only (through `headers`).
        _iovecs: Box<[libc::iovec; BATCH]>,
        headers: Box<[libc::mmsghdr; BATCH]>,
        /// Datagrams of the last `receive`.
        received: usize,
    }

    impl Batch {
        pub fn new() -> Batch {
            let mut buf: Vec<u8> = Vec::with_capacity(BATCH * SLOT);
            // SAFETY: plain C structs, all-zero is a valid value of each.
            let mut names: Box<[libc::sockaddr_storage; BATCH]> = Box::new(unsafe { zeroed() });
            let mut iovecs: Box<[libc::iovec; BATCH]> = Box::new(unsafe { zeroed() });
            let mut headers: Box<[libc::mmsghdr; BATCH]> = Box::new(unsafe { zeroed() });
            let base = buf.as_mut_ptr();
            for i in 0..BATCH {
                // SAFETY: slot i lies within the capacity allocated above.
                iovecs[i].iov_base = unsafe { base.add(i * SLOT) }.cast();
                iovecs[i].iov_len = SLOT;
            }
            for i in 0..BATCH {
                let h = &mut headers[i].msg_hdr;
                h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                h.msg_iov = &mut iovecs[i];
                h.msg_iovlen = 1;
            }
            // The boxes and the vector's heap block do not move when `Batch` does: the pointers stay valid.
            Batch {
                buf,
                names,
                _iovecs: iovecs,
                headers,
                received: 0,
            }
        }

        /// One `recvmmsg` of `fd` without waiting: the datagrams read (at least one), or `WouldBlock`.
        pub fn receive(&mut self, fd: libc::c_int) -> io::Result<usize> {
            self.received = 0;
            for h in self.headers.iter_mut() {
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_hdr.msg_flags = 0;
                h.msg_len = 0;
            }
            // SAFETY: `headers` holds BATCH valid headers whose names, iovecs and slots live as long as `self`.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            self.received = n as usize;
            Ok(self.received)
        }

        /// Datagram `i` of the last `receive` and its sender (`None` for an address of another family).
        pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
            if i >= self.received {
                return None;
            }
            let h = &self.headers[i];
            let len = (h.msg_len as usize).min(SLOT);
            let from = address(&self.names[i], h.msg_hdr.msg_namelen)?;
            // SAFETY: the kernel wrote `len` bytes at the start of slot i (within the capacity).
            let datagram =
                unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(i * SLOT), len) };
            Some((datagram, from))
        }
    }

    /// The socket address the kernel wrote in `name` (`len` bytes).
    fn address(name: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match libc::c_int::from(name.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: an AF_INET address of this size is a sockaddr_in.
                let a: &libc::sockaddr_in =
                    unsafe { &*(name as *const libc::sockaddr_storage).cast() };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: an AF_INET6 address of this size is a sockaddr_in6.
                let a: &libc::sockaddr_in6 =
                    unsafe { &*(name as *const libc::sockaddr_storage).cast() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_datagram_is_handed_back_and_the_ones_after_it_are_sent_in_order() {
        let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        agent
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let to = agent.local_addr().unwrap();
        // Three chunks' worth; too large for UDP: one in the middle of the first chunk (sendmmsg sends the ones
        // before it, then the rest resumes after it) and the first of the second chunk.
        let mut datagrams: Vec<(Vec<u8>, SocketAddr)> = (0..(2 * BATCH + 3) as u8)
            .map(|i| (vec![i; 8], to))
            .collect();
        let refused_at = [5, BATCH];
        for i in refused_at {
            datagrams[i].0 = vec![0; 70_000];
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let refused = runtime.block_on(async {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut refused = Vec::new();
            Sender::new()
                .send(&udp, &datagrams, |datagram, at, e| {
                    refused.push((datagram.len(), at, e.raw_os_error()))
                })
                .await;
            refused
        });
        assert_eq!(
            refused,
            [
                (70_000, to, Some(libc::EMSGSIZE)),
                (70_000, to, Some(libc::EMSGSIZE))
            ]
        );
        let mut buf = [0u8; 64];
        for (i, (datagram, _)) in datagrams.iter().enumerate() {
            if refused_at.contains(&i) {
                continue;
            }
            let (n, _) = agent.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &datagram[..], "datagram {i}, in order");
        }
    }
}
