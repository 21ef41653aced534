//! The fleet's UDP socket: bound to 0.0.0.0:port with `IP_PKTINFO`, it learns the destination address of every
//! datagram from its control message and replies with `sendmsg` + `IP_PKTINFO` (`ipi_spec_dst`) FROM that address,
//! so one socket is every 127.x.y.z agent (net-snmp's trick). [`is_fleet_datagram`] is the filter: a datagram
//! for any address outside 127.0.0.0/8, or from one, is dropped unread.
//!
//! Why 0.0.0.0 and not 127.0.0.0/8: a socket binds one address; catching a whole range on one socket needs
//! `IP_TRANSPARENT` plus a TPROXY rule, both `CAP_NET_ADMIN` (tried: a socket bound to 127.0.0.0 with
//! `IP_FREEBIND` or `IP_TRANSPARENT` does not receive a datagram sent to 127.0.0.5). Binding the wildcard needs no
//! privilege, and the filter keeps the fleet on loopback. Raw `libc` calls, because std's `UdpSocket` has no `recvmsg`/`sendmsg`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Receive and send buffers asked for (the kernel caps them at `net.core.rmem_max` / `wmem_max`).
const BUFFER_BYTES: libc::c_int = 8 << 20;

/// Whether a datagram for `dst` is served: only destinations in 127.0.0.0/8 are devices of the fleet; a datagram
/// whose destination is unknown (no `IP_PKTINFO`) is not served either.
pub fn is_fleet_destination(dst: Option<Ipv4Addr>) -> bool {
    dst.is_some_and(|a| a.is_loopback())
}

/// Whether a datagram from `from` to `dst` is served: the destination is a fleet device
/// ([`is_fleet_destination`]) and the sender is in 127.0.0.0/8 too. A host with `net.ipv4.conf.*.route_localnet
/// = 1` (kube-proxy sets it) routes packets from outside to 127.x addresses; answering them would make the fleet a
/// reflector towards whatever source address they claim.
pub fn is_fleet_datagram(from: SocketAddrV4, dst: Option<Ipv4Addr>) -> bool {
    from.ip().is_loopback() && is_fleet_destination(dst)
}

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// The sender.
    pub from: SocketAddrV4,
    /// The address it was sent to (`IP_PKTINFO`'s `ipi_addr`).
    pub dst: Option<Ipv4Addr>,
    /// The kernel's running count of datagrams dropped for a full receive buffer (`SO_RXQ_OVFL`), when given.
    pub kernel_drops: Option<u32>,
}

/// A non-blocking IPv4 UDP socket with `IP_PKTINFO` (and `SO_RXQ_OVFL`) on.
#[derive(Debug)]
pub struct PktinfoSocket {
    fd: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn set_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sa
}

impl PktinfoSocket {
    /// Binds 0.0.0.0:`port` (0: a free port; see [`PktinfoSocket::port`]).
    pub fn bind(port: u16) -> io::Result<PktinfoSocket> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = check(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        set_int(raw, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
        // Best effort: a smaller buffer still works, it only overflows sooner (and `kernel_drops` says so).
        let _ = set_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, BUFFER_BYTES);
        let _ = set_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, BUFFER_BYTES);
        let sa = sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        // SAFETY: `sa` is a valid sockaddr_in of the size passed.
        check(unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        })?;
        Ok(PktinfoSocket { fd })
    }

    /// The port bound.
    pub fn port(&self) -> io::Result<u16> {
        // SAFETY: getsockname(2) writes at most `len` bytes into `sa`.
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        check(unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in).cast(),
                &mut len,
            )
        })?;
        Ok(u16::from_be(sa.sin_port))
    }

    /// Waits until a datagram can be read or `timeout` passed; true when readable.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            n if n > 0 => Ok(true),
            0 => Ok(false),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Reads one datagram into `buf` (truncated to its length); `None` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        // SAFETY: sockaddr_in, iovec, msghdr are plain data; all-zero is valid.
        let mut from: libc::sockaddr_in = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64 for the alignment cmsghdr needs; room for IP_PKTINFO and SO_RXQ_OVFL.
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>() as _;
        // SAFETY: every pointer in `msg` points at a live buffer of the length given.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let mut dst = None;
        let mut kernel_drops = None;
        // SAFETY: the CMSG_* walk stays within `msg_controllen`, which the kernel set.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
                if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                    let info: libc::in_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                } else if level == libc::SOL_SOCKET && kind == libc::SO_RXQ_OVFL {
                    kernel_drops = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(Datagram {
            len: (n as usize).min(buf.len()),
            from: SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr)),
                u16::from_be(from.sin_port),
            ),
            dst,
            kernel_drops,
        }))
    }

    /// Sends `bytes` to `to` with source address `from` (`IP_PKTINFO`'s `ipi_spec_dst`).
    pub fn send_from(&self, bytes: &[u8], to: SocketAddrV4, from: Ipv4Addr) -> io::Result<()> {
        let mut sa = sockaddr(to);
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; the control buffer is large and aligned enough for one in_pktinfo.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut sa as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        unsafe {
            msg.msg_controllen = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::IPPROTO_IP;
            (*c).cmsg_type = libc::IP_PKTINFO;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(from).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
        }
        // SAFETY: every pointer in `msg` points at a live buffer of the length given.
        let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn only_loopback_destinations_are_served() {
        assert!(is_fleet_destination(Some(Ipv4Addr::new(127, 0, 0, 1))));
        assert!(is_fleet_destination(Some(Ipv4Addr::new(
            127, 255, 255, 254
        ))));
        assert!(!is_fleet_destination(Some(Ipv4Addr::new(128, 0, 0, 1))));
        assert!(!is_fleet_destination(Some(Ipv4Addr::new(
            126, 255, 255, 255
        ))));
        assert!(!is_fleet_destination(Some(Ipv4Addr::UNSPECIFIED)));
        assert!(!is_fleet_destination(Some(Ipv4Addr::BROADCAST)));
        assert!(!is_fleet_destination(None));
        let (lo, fleet) = (
            Some(Ipv4Addr::new(127, 0, 0, 9)),
            SocketAddrV4::new(Ipv4Addr::new(127, 3, 2, 1), 40000),
        );
        assert!(is_fleet_datagram(fleet, lo));
        for outside in [
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(192, 0, 2, 7),
            Ipv4Addr::UNSPECIFIED,
        ] {
            assert!(
                !is_fleet_datagram(SocketAddrV4::new(outside, 40000), lo),
                "{outside}"
            );
        }
        assert!(!is_fleet_datagram(fleet, Some(Ipv4Addr::new(10, 0, 0, 1))));
    }

    #[test]
    fn a_reply_leaves_from_the_address_the_request_was_sent_to() {
        let s = PktinfoSocket::bind(0).unwrap();
        let port = s.port().unwrap();
        assert_ne!(port, 0);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for dst in [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 9, 8, 7)] {
            client.send_to(b"ping", (dst, port)).unwrap();
            assert!(s.wait_readable(Duration::from_secs(10)).unwrap());
            let mut buf = [0u8; 64];
            let d = s.recv(&mut buf).unwrap().expect("a datagram");
            assert_eq!(&buf[..d.len], b"ping");
            assert_eq!(d.dst, Some(dst));
            assert_eq!(
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, client.local_addr().unwrap().port()),
                d.from
            );
            s.send_from(b"pong", d.from, dst).unwrap();
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"pong");
            assert_eq!(from, std::net::SocketAddr::from((dst, port)));
        }
        assert_eq!(s.recv(&mut [0u8; 8]).unwrap(), None, "nothing waiting");
    }
}
