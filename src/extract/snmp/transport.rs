//! The SNMP source's UDP transport: `SOCKETS` sockets per address family shared by every device of an extraction
//! thread (not one per device; each thread has its own transport), one receive task per socket handing each datagram
//! to the request waiting for it by (request id, source address) and one send task sending the requests queued on
//! it (both in batches of datagrams per system call: `datagrams.rs`), at most as many requests in flight per
//! socket as answers fit its receive buffer (pacing: a burst of answers is never dropped by the kernel; the buffer
//! is enlarged first), per-attempt timeout and retries.
//!
//! A reply is delivered only to the request that sent that id to that address; a late, duplicated or unknown
//! reply is dropped and counted, so it can never become another device's answer.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::datagrams::{Receiver, Sender};
use crate::snmp::message::dispatch_id;

/// Sockets per address family.
pub const SOCKETS: usize = 4;
/// Most requests in flight per socket.
pub const MAX_OUTSTANDING: usize = 1024;
/// Fewest requests in flight per socket, however small the receive buffer.
pub const MIN_OUTSTANDING: usize = 64;
/// Receive buffer asked for each socket (the kernel caps it at net.core.rmem_max).
pub const RECV_BUFFER_BYTES: usize = 4 << 20;
/// What one small answer costs in the receive buffer: the kernel counts a datagram's whole buffer (its
/// "truesize", about 1 to 2 KiB for a few hundred bytes of SNMP on Linux), not its payload.
pub const BUFFER_PER_ANSWER: usize = 2048;

/// Requests in flight on a socket whose receive buffer is `rcvbuf` bytes: as many answers as fit in it at
/// once, so a burst of them is never dropped by the kernel, within `MIN_OUTSTANDING..=MAX_OUTSTANDING`.
pub fn outstanding_for(rcvbuf: usize) -> usize {
    (rcvbuf / BUFFER_PER_ANSWER).clamp(MIN_OUTSTANDING, MAX_OUTSTANDING)
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("no answer after {attempts} attempts")]
    Timeout { attempts: u32 },
    #[error("UDP socket: {0}")]
    Socket(#[from] super::socket_error::SocketError),
}

/// Datagrams dropped by the receive tasks.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Answers whose (id, address) no request is waiting for: late (after their request gave up),
    /// duplicated, or never asked for.
    pub unmatched: Cell<u64>,
    /// Datagrams that are not SNMP messages.
    pub garbage: Cell<u64>,
    /// SNMPv3 answers to an authenticated request that were not taken: an unauthenticated Report (anyone can send
    /// one; it decides only if no authenticated answer came in time), an answer below the request's security
    /// level, or one outside the engine's time window.
    pub unauthenticated_reports: Cell<u64>,
    pub wrong_level: Cell<u64>,
    pub outside_window: Cell<u64>,
}

/// Answers a request holds at most before it has looked at them (more are dropped as unmatched).
const MAILBOX: usize = 4;

/// Where the receive task leaves a request's answers: on the transport's thread, so a queue and a waker (a
/// channel per request cost an allocation of about 1 KiB, and atomics, per exchange).
#[derive(Default)]
struct Mailbox {
    answers: RefCell<VecDeque<(i32, Vec<u8>)>>,
    waker: Cell<Option<Waker>>,
}

impl Mailbox {
    /// Leaves an answer and wakes the request; false when its mailbox is full.
    fn deliver(&self, id: i32, datagram: &[u8]) -> bool {
        {
            let mut answers = self.answers.borrow_mut();
            if answers.len() >= MAILBOX {
                return false;
            }
            answers.push_back((id, datagram.to_vec()));
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        true
    }

    /// The next answer, waiting for it.
    async fn recv(&self) -> (i32, Vec<u8>) {
        std::future::poll_fn(|cx| match self.answers.borrow_mut().pop_front() {
            Some(answer) => Poll::Ready(answer),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// The waiting table's hasher (FxHash's mixing). Its keys are this transport's own requests, each with a request
/// id drawn at random per attempt, so they spread without SipHash (HashMap's default, for keys an attacker
/// chooses), which cost more than the rest of the lookup; a datagram from the network is only looked up, never
/// inserted.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u64(u64::from(n as u32));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Waiters =
    RefCell<HashMap<(i32, SocketAddr), Rc<Mailbox>, std::hash::BuildHasherDefault<IdHasher>>>;

struct Socket {
    udp: tokio::net::UdpSocket,
    waiting: Waiters,
    slots: Semaphore,
    /// Requests to send (id, datagram, agent), by the socket's send task (`send`), in order.
    outbox: RefCell<Vec<(i32, Vec<u8>, SocketAddr)>>,
    /// The send task, waiting for the outbox to fill.
    sender: Cell<Option<Waker>>,
}

impl Socket {
    /// Queues a request; the send task sends it in this turn of the thread's tasks, with the others queued.
    fn send(&self, id: i32, datagram: Vec<u8>, to: SocketAddr) {
        self.outbox.borrow_mut().push((id, datagram, to));
        if let Some(waker) = self.sender.take() {
            waker.wake();
        }
    }
}

/// Sends what the socket's outbox holds whenever it fills, forever (`datagrams::Sender`: `sendmmsg`). A datagram
/// whose request has ended in the meantime (the device's deadline, a stop) is not sent. A datagram refused is
/// logged and its request waits for its timeout, as a datagram lost; one larger than the path's MTU with DF set is
/// sent again with fragments allowed.
async fn send(socket: Rc<Socket>) {
    let mut sender = Sender::new();
    let mut batch = Vec::new();
    loop {
        std::future::poll_fn(|cx| {
            if socket.outbox.borrow().is_empty() {
                socket.sender.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        {
            let waiting = socket.waiting.borrow();
            let mut outbox = socket.outbox.borrow_mut();
            let queued = outbox.drain(..).filter(|(id, _, to)| {
                waiting.contains_key(&(*id, *to)) // still waited for
            });
            batch.extend(queued.map(|(_, datagram, to)| (datagram, to)));
        }
        let mut too_big = Vec::new();
        sender
            .send(&socket.udp, &batch, |datagram, to, e| {
                if goes_again_with_fragments(&e, datagram, to) {
                    too_big.push((datagram.to_vec(), to));
                } else {
                    log::debug!("[SNMP] send to {to}: {e}");
                }
            })
            .await;
        for (datagram, to) in too_big {
            if let Err(e) = send_with_fragments(&socket.udp, &datagram, to).await {
                log::debug!("[SNMP] send to {to}: {e}");
            }
        }
        batch.clear();
    }
}

/// The shared sockets of one extraction thread. Not `Send`: it lives on its `DeviceExtractor`'s arbiter with the
/// source.
pub struct Transport {
    v4: RefCell<Option<Vec<Rc<Socket>>>>,
    v6: RefCell<Option<Vec<Rc<Socket>>>>,
    next_socket: Cell<usize>,
    stats: Rc<TransportStats>,
    tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
}

impl Default for Transport {
    fn default() -> Self {
        Transport::new()
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        for task in self.tasks.borrow().iter() {
            task.abort();
        }
    }
}

/// A bound, non-blocking socket, and the requests it may have in flight (`outstanding_for` its buffer).
fn bind(v6: bool) -> std::io::Result<(tokio::net::UdpSocket, usize)> {
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let raw = RawSocket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: an unprivileged process gets at most net.core.rmem_max.
    let _ = raw.set_recv_buffer_size(RECV_BUFFER_BYTES);
    let any: SocketAddr = if v6 {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    if !v6 {
        set_dont_fragment(&raw, true);
    }
    raw.bind(&any.into())?;
    raw.set_nonblocking(true)?;
    let outstanding = outstanding_for(raw.recv_buffer_size().unwrap_or(0));
    Ok((tokio::net::UdpSocket::from_std(raw.into())?, outstanding))
}

/// IPv4 requests with Don't Fragment set by the socket (`IP_PMTUDISC_DO`), or back to the kernel's default
/// (`IP_PMTUDISC_WANT`). Set, the kernel gives such a datagram IP id 0 (RFC 6864: an atomic datagram needs no id)
/// instead of drawing one from its shared per-destination generator for each datagram (`__ip_select_ident`: a
/// hash, random numbers and atomics over a table the ETL's 100,000 destinations spread over: 7 % of its CPU in a
/// profile of a first run). On the wire nothing else changes: the default already sets DF on a datagram within the path's MTU,
/// and the requests are a few hundred bytes; one larger than a path's MTU gets `EMSGSIZE`, and the send task then puts
/// the socket back to the default and sends it again (fragmented, as before). Best effort.
fn set_dont_fragment(raw: &socket2::Socket, on: bool) {
    use std::os::fd::AsRawFd;
    let value: libc::c_int = if on {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_WANT
    };
    // SAFETY: `value` lives across the call and its size is passed.
    let _ = unsafe {
        libc::setsockopt(
            raw.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Reads datagrams forever (the queued ones in one system call: `datagrams.rs`), handing each to its waiting
/// request.
async fn receive(socket: Rc<Socket>, stats: Rc<TransportStats>) {
    let mut receiver = Receiver::new();
    loop {
        let got = receiver
            .next(&socket.udp, |datagram, from| {
                let Some(id) = dispatch_id(datagram) else {
                    stats.garbage.set(stats.garbage.get() + 1);
                    return;
                };
                let delivered = match socket.waiting.borrow().get(&(id, from)) {
                    Some(mailbox) => mailbox.deliver(id, datagram),
                    None => false,
                };
                if !delivered {
                    stats.unmatched.set(stats.unmatched.get() + 1);
                }
            })
            .await;
        if let Err(e) = got {
            // ICMP port unreachable and the like surface here on some systems: not fatal. A pause so that an
            // error that repeats does not spin.
            log::trace!("[SNMP] receive: {e}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Transport {
    pub fn new() -> Self {
        Transport {
            v4: RefCell::new(None),
            v6: RefCell::new(None),
            next_socket: Cell::new(0),
            stats: Rc::new(TransportStats::default()),
            tasks: RefCell::new(Vec::new()),
        }
    }

    pub fn stats(&self) -> &TransportStats {
        &self.stats
    }

    /// A request id (also the v3 msgID): random for each attempt, from 1 to 2^31 - 1, so that one id seen on the
    /// path predicts nothing (the thread's generator is a CSPRNG). `request` draws again while the id is in use
    /// for the same agent.
    pub fn next_id(&self) -> i32 {
        (rand::random::<u32>() & 0x7fff_ffff).max(1) as i32
    }

    /// The socket for the next request to `to` (the family's sockets in turn, bound on first use).
    fn socket(&self, to: SocketAddr) -> Result<Rc<Socket>, TransportError> {
        let family = if to.is_ipv6() { &self.v6 } else { &self.v4 };
        let mut family = family.borrow_mut();
        if family.is_none() {
            // Every socket bound before any task starts: a bind that fails leaves nothing behind.
            let bound = (0..SOCKETS)
                .map(|_| bind(to.is_ipv6()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TransportError::Socket(e.into()))?;
            let mut sockets = Vec::with_capacity(SOCKETS);
            for (udp, outstanding) in bound {
                log::debug!(
                    "[SNMP] socket {:?}: {outstanding} requests in flight at most",
                    udp.local_addr()
                );
                let socket = Rc::new(Socket {
                    udp,
                    waiting: RefCell::new(HashMap::default()),
                    slots: Semaphore::new(outstanding),
                    outbox: RefCell::new(Vec::new()),
                    sender: Cell::new(None),
                });
                let mut tasks = self.tasks.borrow_mut();
                tasks.push(actix_rt::spawn(receive(socket.clone(), self.stats.clone())));
                tasks.push(actix_rt::spawn(send(socket.clone())));
                sockets.push(socket);
            }
            *family = Some(sockets);
        }
        let sockets = family.as_ref().expect("bound above");
        let i = self.next_socket.get();
        self.next_socket.set(i.wrapping_add(1));
        Ok(sockets[i % sockets.len()].clone())
    }

    /// Sends `build(id)` to `to` and waits up to `timeout` for a datagram from `to` with that id that `accept`
    /// takes (`Some`); `attempts` times, each with a new id (an answer to an earlier attempt that arrives late is
    /// still taken). `accept` gets the id the answer carries and the datagram; `None` means: not a valid answer,
    /// keep waiting.
    pub async fn request<T>(
        &self,
        to: SocketAddr,
        attempts: u32,
        timeout: Duration,
        mut build: impl FnMut(i32) -> Vec<u8>,
        mut accept: impl FnMut(i32, &[u8]) -> Option<T>,
    ) -> Result<T, TransportError> {
        let socket = self.socket(to)?;
        let _slot = socket
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mailbox = Rc::new(Mailbox::default());
        // Unregisters every id of this request however it ends (answer, timeout, or the task dropped).
        let registered = Unregister {
            socket: &socket,
            to,
            ids: RefCell::new(Vec::with_capacity(attempts as usize)),
        };
        let attempts = attempts.max(1);
        for _ in 0..attempts {
            let mut id = self.next_id();
            while socket.waiting.borrow().contains_key(&(id, to)) {
                id = self.next_id();
            }
            registered.ids.borrow_mut().push(id);
            socket
                .waiting
                .borrow_mut()
                .insert((id, to), mailbox.clone());
            socket.send(id, build(id), to);
            let deadline = tokio::time::Instant::now() + timeout;
            while let Ok((id, bytes)) = tokio::time::timeout_at(deadline, mailbox.recv()).await {
                if let Some(answer) = accept(id, &bytes) {
                    return Ok(answer);
                }
            }
        }
        Err(TransportError::Timeout { attempts })
    }
}

/// Whether a datagram the kernel refused is sent again with fragments allowed: refused for being larger than the
/// path's MTU (`EMSGSIZE`) with DF set, over IPv4, and small enough for UDP at all.
fn goes_again_with_fragments(e: &std::io::Error, datagram: &[u8], to: SocketAddr) -> bool {
    e.raw_os_error() == Some(libc::EMSGSIZE) && to.is_ipv4() && datagram.len() <= MAX_UDP_V4
}

/// The largest UDP payload over IPv4.
const MAX_UDP_V4: usize = 65_507;

/// Sends one datagram with fragments allowed, then sets DF again: the socket's other datagrams keep skipping the
/// kernel's IP-id generator.
async fn send_with_fragments(
    udp: &tokio::net::UdpSocket,
    datagram: &[u8],
    to: SocketAddr,
) -> std::io::Result<usize> {
    let raw = socket2::SockRef::from(udp);
    set_dont_fragment(&raw, false);
    let sent = udp.send_to(datagram, to).await;
    set_dont_fragment(&raw, true);
    sent
}

/// Removes a request's ids from its socket's table when dropped.
struct Unregister<'a> {
    socket: &'a Socket,
    to: SocketAddr,
    ids: RefCell<Vec<i32>>,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        let mut waiting = self.socket.waiting.borrow_mut();
        for id in self.ids.borrow().iter() {
            waiting.remove(&(*id, self.to));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::{CommunityMessage, Oid, Pdu, Value};

    #[test]
    fn request_ids_are_random_per_attempt_not_a_sequence() {
        let t = Transport::new();
        let ids: Vec<i32> = (0..2000).map(|_| t.next_id()).collect();
        assert!(ids.iter().all(|id| *id >= 1));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert!(distinct.len() > 1990, "{} distinct of 2000", distinct.len());
        // One id predicts nothing: the next is not the one after it, nor near it.
        let near = ids
            .windows(2)
            .filter(|w| (i64::from(w[1]) - i64::from(w[0])).abs() < 1000)
            .count();
        assert!(near < 5, "{near} of 1999 ids follow the one before");
        // Spread over the whole range, both halves.
        assert!(ids.iter().any(|id| *id > 1 << 30) && ids.iter().any(|id| *id < 1 << 30));
    }

    fn oid() -> Oid {
        Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()
    }

    /// A v2c Response to request `id` whose value names the id.
    fn answer(id: i32) -> Vec<u8> {
        let pdu = Pdu::response(
            id,
            0,
            0,
            vec![(oid(), Value::OctetString(format!("for {id}").into_bytes()))],
        );
        CommunityMessage::v2c(b"c", pdu).encode()
    }

    /// What a request takes: the value of a Response to its own id.
    fn accept(id: i32, bytes: &[u8]) -> Option<String> {
        let msg = CommunityMessage::decode(bytes).ok()?;
        (msg.pdu.request_id == id).then(|| match &msg.pdu.varbinds[0].1 {
            Value::OctetString(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn in_flight_requests_follow_the_receive_buffer() {
        assert_eq!(outstanding_for(0), MIN_OUTSTANDING);
        // Linux's default net.core.rmem_max (212992), doubled by the kernel.
        assert_eq!(outstanding_for(425_984), 208);
        assert_eq!(outstanding_for(8 << 20), MAX_OUTSTANDING);
    }

    /// `n` GETs to `to` at once, one attempt each (10 s): each answer, with the id its request was sent with.
    async fn ask_all(transport: &Rc<Transport>, to: SocketAddr, n: usize) -> Vec<(i32, String)> {
        let requests = (0..n).map(|_| {
            let t = transport.clone();
            async move {
                let mut sent = 0;
                let got = t
                    .request(
                        to,
                        1,
                        Duration::from_secs(10),
                        |id| {
                            sent = id;
                            CommunityMessage::v2c(b"c", Pdu::get(id, &[oid()])).encode()
                        },
                        accept,
                    )
                    .await
                    .unwrap();
                (sent, got)
            }
        });
        futures_util::future::join_all(requests).await
    }

    #[test]
    fn an_ipv6_agent_gets_its_requests_and_its_answers_reach_them() {
        // The IPv6 sockets (bound without DF) and the sender's address read back from recvmmsg's IPv6 names: a
        // wrong port or address there would leave every answer unmatched.
        let Ok(agent) = std::net::UdpSocket::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here: skipped");
            return;
        };
        let to = agent.local_addr().unwrap();
        const N: usize = 20;
        let server = std::thread::spawn(move || {
            agent
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = [0u8; 1500];
            for _ in 0..N {
                let (n, from) = agent.recv_from(&mut buf).unwrap();
                agent
                    .send_to(&answer(dispatch_id(&buf[..n]).unwrap()), from)
                    .unwrap();
            }
        });
        actix_rt::System::new().block_on(async move {
            let transport = Rc::new(Transport::new());
            for (sent, got) in ask_all(&transport, to, N).await {
                assert_eq!(got, format!("for {sent}"));
            }
            assert_eq!(transport.stats.unmatched.get(), 0);
        });
        server.join().unwrap();
    }

    #[test]
    fn answers_reach_their_own_request_only_and_strays_are_dropped() {
        let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Another loopback address: an answer with the right id from the wrong address must not be taken.
        let impostor = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        let to = agent.local_addr().unwrap();
        const N: usize = 50;
        let server = std::thread::spawn(move || {
            agent
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = [0u8; 1500];
            let mut asked = Vec::new();
            for _ in 0..N {
                let (n, from) = agent.recv_from(&mut buf).unwrap();
                asked.push((dispatch_id(&buf[..n]).unwrap(), from));
            }
            // Answered in reverse order, each preceded by a stray id and an impostor, and duplicated.
            for (id, from) in asked.iter().rev() {
                agent
                    .send_to(&answer(id.wrapping_add(7_777)), from)
                    .unwrap();
                impostor.send_to(&answer(*id), from).unwrap();
                agent.send_to(&answer(*id), from).unwrap();
                agent.send_to(&answer(*id), from).unwrap();
            }
            agent.send_to(b"not snmp", asked[0].1).unwrap();
            // One more request, answered late: after its only attempt gave up.
            let (n, from) = agent.recv_from(&mut buf).unwrap();
            let id = dispatch_id(&buf[..n]).unwrap();
            std::thread::sleep(Duration::from_millis(400));
            agent.send_to(&answer(id), from).unwrap();
        });
        actix_rt::System::new().block_on(async move {
            let transport = Rc::new(Transport::new());
            for (sent, got) in ask_all(&transport, to, N).await {
                assert_eq!(got, format!("for {sent}"));
            }
            let late = transport
                .request(
                    to,
                    1,
                    Duration::from_millis(100),
                    |id| CommunityMessage::v2c(b"c", Pdu::get(id, &[oid()])).encode(),
                    accept,
                )
                .await;
            assert_eq!(late, Err(TransportError::Timeout { attempts: 1 }));
            tokio::time::sleep(Duration::from_millis(600)).await;
            let stats = transport.stats();
            // Each request: a stray id and an impostor at least; the late answer; the garbage datagram.
            assert!(stats.unmatched.get() > 2 * N as u64, "{stats:?}");
            assert_eq!(stats.garbage.get(), 1);
            assert!(
                transport
                    .v4
                    .borrow()
                    .as_ref()
                    .unwrap()
                    .iter()
                    .all(|s| s.waiting.borrow().is_empty()),
                "every request unregistered its ids"
            );
        });
        server.join().unwrap();
    }

    #[test]
    fn a_request_that_ends_before_its_datagram_goes_out_sends_nothing() {
        let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = agent.local_addr().unwrap();
        let (dropped, kept) = actix_rt::System::new().block_on(async move {
            let transport = Transport::new();
            let get = |id| CommunityMessage::v2c(b"c", Pdu::get(id, &[oid()])).encode();
            // Polled once, the request queues its datagram and waits; it ends before the send task runs.
            let dropped = Cell::new(0);
            let mut request = Box::pin(transport.request(
                to,
                1,
                Duration::from_secs(5),
                |id| {
                    dropped.set(id);
                    get(id)
                },
                accept,
            ));
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(std::future::Future::poll(request.as_mut(), &mut cx).is_pending());
            drop(request);
            // One that waits for its timeout: its datagram goes out.
            let kept = Cell::new(0);
            let timed_out = transport
                .request(
                    to,
                    1,
                    Duration::from_millis(100),
                    |id| {
                        kept.set(id);
                        get(id)
                    },
                    accept,
                )
                .await;
            assert_eq!(timed_out, Err(TransportError::Timeout { attempts: 1 }));
            (dropped.get(), kept.get())
        });
        agent
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1500];
        let mut received = Vec::new();
        while let Ok((n, _)) = agent.recv_from(&mut buf) {
            received.push(dispatch_id(&buf[..n]).unwrap());
        }
        assert_ne!(dropped, 0);
        assert_eq!(
            received,
            vec![kept],
            "the ended request's {dropped} is not sent"
        );
    }

    #[test]
    fn a_datagram_too_big_for_df_goes_again_with_fragments_and_df_is_set_again() {
        let too_big = std::io::Error::from_raw_os_error(libc::EMSGSIZE);
        let v4: SocketAddr = "127.0.0.1:161".parse().unwrap();
        let v6: SocketAddr = "[::1]:161".parse().unwrap();
        assert!(goes_again_with_fragments(&too_big, &[0; 1500], v4));
        assert!(
            !goes_again_with_fragments(&too_big, &[0; 1500], v6),
            "IPv6 has no DF to clear"
        );
        assert!(
            !goes_again_with_fragments(&too_big, &vec![0; MAX_UDP_V4 + 1], v4),
            "too big for UDP"
        );
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert!(!goes_again_with_fragments(&refused, &[0; 100], v4));

        let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = agent.local_addr().unwrap();
        let df = |udp: &tokio::net::UdpSocket| {
            use std::os::fd::AsRawFd;
            let (mut value, mut len): (libc::c_int, libc::socklen_t) = (0, 4);
            // SAFETY: `value` and `len` live across the call, `len` is `value`'s size.
            let r = unsafe {
                libc::getsockopt(
                    udp.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    (&mut value as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            assert_eq!(r, 0);
            value
        };
        actix_rt::System::new().block_on(async move {
            let (udp, _) = bind(false).unwrap();
            assert_eq!(df(&udp), libc::IP_PMTUDISC_DO, "DF set when bound");
            send_with_fragments(&udp, b"again", to).await.unwrap();
            assert_eq!(df(&udp), libc::IP_PMTUDISC_DO, "DF set again after");
        });
        let mut buf = [0u8; 16];
        let (n, _) = agent.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"again");
    }
}
