//! One PDU exchange with an agent under the configured security: v2c with its community, or v3 with USM —
//! engine discovery and key localization once per engine per run (cached, bounded), engine boots/time tracked
//! from authenticated answers, Report PDUs named (usmStats*), `notInTimeWindows` resynchronized and
//! `unknownEngineIDs` rediscovered once.
//!
//! A run has several securities: `[extract.snmp]`'s (number 0) and one per `[extract.snmp.credentials]` set, in
//! name order, each v3 one with its own engine and key caches. A device's extraction runs inside
//! [`with_security`], which says which one its exchanges use (the inventory row's `credentials` column).
//!
//! Long because the v3 exchange is one state machine (discovery, clock sync, report handling, retry) that
//! would only be split across files by its states; v2c is the short first half.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::transport::{Transport, TransportError};
use crate::extract::FailureReason;
use crate::snmp::message::{
    community_pdu, encode_community, HeaderData, FLAG_AUTH, FLAG_REPORTABLE, VERSION_2C,
};
use crate::snmp::usm::{self, EngineState, LocalKeys, UsmUser};
use crate::snmp::{Oid, Pdu, PduKind, ScopedPdu};

/// msgMaxSize we announce: the largest UDP/IPv4 payload.
pub const MAX_MESSAGE_SIZE: u32 = 65_507;
/// usmStats (1.3.6.1.6.3.15.1.1): the prefix of the counters an agent reports.
pub const USM_STATS: &str = "1.3.6.1.6.3.15.1.1";

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// No answer after every attempt; `hint` says what a silent agent may mean (`""` when nothing is known).
    Timeout {
        attempts: u32,
        hint: &'static str,
    },
    /// A v3 Report: the usmStats counter's name, OID, what it means, and the reason label.
    Report(ReportKind, Oid),
    Socket(super::socket_error::SocketError),
}

/// The usmStats reports (RFC 3414 5) and what each means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    UnsupportedSecLevels,
    NotInTimeWindows,
    UnknownUserNames,
    UnknownEngineIds,
    WrongDigests,
    DecryptionErrors,
    Other,
}

impl ReportKind {
    fn of(oid: &Oid) -> ReportKind {
        let base = Oid::parse(USM_STATS).expect("a valid constant");
        if !oid.starts_with(&base) {
            return ReportKind::Other;
        }
        match oid.ids().get(base.ids().len()) {
            Some(1) => ReportKind::UnsupportedSecLevels,
            Some(2) => ReportKind::NotInTimeWindows,
            Some(3) => ReportKind::UnknownUserNames,
            Some(4) => ReportKind::UnknownEngineIds,
            Some(5) => ReportKind::WrongDigests,
            Some(6) => ReportKind::DecryptionErrors,
            _ => ReportKind::Other,
        }
    }

    /// The counter's MIB name (a phrase for an unknown one).
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::UnsupportedSecLevels => "usmStatsUnsupportedSecLevels",
            ReportKind::NotInTimeWindows => "usmStatsNotInTimeWindows",
            ReportKind::UnknownUserNames => "usmStatsUnknownUserNames",
            ReportKind::UnknownEngineIds => "usmStatsUnknownEngineIDs",
            ReportKind::WrongDigests => "usmStatsWrongDigests",
            ReportKind::DecryptionErrors => "usmStatsDecryptionErrors",
            ReportKind::Other => "of an unknown counter",
        }
    }

    /// What the user should check.
    pub fn meaning(self) -> &'static str {
        match self {
            ReportKind::UnsupportedSecLevels => {
                "the agent does not allow this security_level for the user"
            }
            ReportKind::NotInTimeWindows => {
                "the agent's clock did not accept ours, even after resynchronizing"
            }
            ReportKind::UnknownUserNames => "the agent has no such user (extract.snmp.user)",
            ReportKind::UnknownEngineIds => {
                "the agent did not accept its own engine id, even after rediscovery"
            }
            ReportKind::WrongDigests => "wrong auth_password or auth_protocol for this user",
            ReportKind::DecryptionErrors => "wrong priv_password or priv_protocol for this user",
            ReportKind::Other => "the agent reported an error",
        }
    }

    /// The reason failed devices are counted by.
    pub fn reason(self) -> FailureReason {
        match self {
            ReportKind::UnsupportedSecLevels => FailureReason::UnsupportedSecurityLevel,
            ReportKind::NotInTimeWindows => FailureReason::NotInTimeWindow,
            ReportKind::UnknownUserNames => FailureReason::UnknownUser,
            ReportKind::UnknownEngineIds => FailureReason::UnknownEngineId,
            ReportKind::WrongDigests => FailureReason::WrongDigest,
            ReportKind::DecryptionErrors => FailureReason::DecryptionError,
            ReportKind::Other => FailureReason::Report,
        }
    }
}

impl From<TransportError> for SessionError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Timeout { attempts } => SessionError::Timeout { attempts, hint: "" },
            TransportError::Socket(s) => SessionError::Socket(s),
        }
    }
}

/// A map that forgets its oldest entries past `cap` (engines of devices polled long ago).
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }
    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }
    fn insert(&mut self, k: K, v: V) {
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
    fn remove(&mut self, k: &K) {
        if self.map.remove(k).is_some() {
            self.order.retain(|o| o != k);
        }
    }
}

/// An authoritative engine as learnt: id, its user's localized keys, and its clock.
pub struct Engine {
    id: Vec<u8>,
    keys: Rc<LocalKeys>,
    /// (boots, time, when learnt).
    clock: Cell<(u32, u32, Instant)>,
}

impl Engine {
    /// The engine's boots and time now, estimated from when they were learnt.
    fn state(&self) -> EngineState {
        let (boots, time, at) = self.clock.get();
        let elapsed = u32::try_from(at.elapsed().as_secs()).unwrap_or(u32::MAX);
        EngineState {
            id: self.id.clone(),
            boots,
            time: time.saturating_add(elapsed).min(i32::MAX as u32),
        }
    }

    /// Takes boots/time from an authenticated message (RFC 3414 3.2.7 b: only forward).
    fn learn(&self, boots: u32, time: u32) {
        let (b, _, _) = self.clock.get();
        let now = self.state();
        if boots > b || (boots == b && time >= now.time) {
            self.clock.set((boots, time, Instant::now()));
        }
    }

    /// Takes boots/time unconditionally (a notInTimeWindow report, a rediscovery).
    fn resync(&self, boots: u32, time: u32) {
        self.clock.set((boots, time, Instant::now()));
    }
}

/// The v3 side: the user's master keys (made once at start) and the engines met.
pub struct V3 {
    user: UsmUser,
    flags: u8,
    /// Engines by agent address; each cell is filled once by a discovery (concurrent callers wait for it).
    engines: RefCell<Bounded<SocketAddr, Rc<tokio::sync::OnceCell<Rc<Engine>>>>>,
    /// Localized keys by engine id (several addresses may be one engine).
    keys: RefCell<Bounded<Vec<u8>, Rc<LocalKeys>>>,
    salt: Cell<u64>,
    discoveries: Cell<u64>,
}

/// How requests are secured.
pub enum Security {
    V2c { community: Vec<u8> },
    V3(Box<V3>),
}

impl Security {
    /// v3 with `user`; the engine caches keep at most `cache` engines.
    pub fn v3(user: UsmUser, cache: usize) -> Security {
        Security::V3(Box::new(V3 {
            flags: user.flags(),
            user,
            engines: RefCell::new(Bounded::new(cache)),
            keys: RefCell::new(Bounded::new(cache)),
            salt: Cell::new(rand::random()),
            discoveries: Cell::new(0),
        }))
    }
}

tokio::task_local! {
    /// The security of the device being extracted: its number in [`Session`]'s list.
    static DEVICE_SECURITY: u16;
}

/// Runs `f` (one device's extraction) with its exchanges under security `k` (0: `[extract.snmp]`'s; k: the k-th
/// credential set). Exchanges outside any such scope use security 0.
///
/// A plain function returning the scope's future, not an `async fn`: an `async fn` would hold `f` twice (as its
/// argument and inside the scope), doubling every in-flight device's future (about 4 KiB at concurrency 8000).
pub fn with_security<F: std::future::Future>(
    k: u16,
    f: F,
) -> impl std::future::Future<Output = F::Output> {
    DEVICE_SECURITY.scope(k, f)
}

/// Exchanges PDUs with agents over the shared transport.
pub struct Session {
    pub transport: Transport,
    /// `[extract.snmp]`'s security, then each credential set's (never empty).
    securities: Vec<Security>,
    attempts: u32,
    timeout: Duration,
}

/// What a v3 answer turned out to be.
enum V3Answer {
    Response(Pdu),
    /// The report, its OID, and the engine's boots and time when the report was authenticated (only then may
    /// the clock be taken from it, RFC 3414 3.2.7).
    Report(ReportKind, Oid, Option<(u32, u32)>),
}

impl Session {
    pub fn new(security: Security, attempts: u32, timeout: Duration) -> Self {
        Self::with_securities(vec![security], attempts, timeout)
    }

    /// A session with several securities: `securities[0]` the default, the others chosen per device by
    /// [`with_security`].
    pub fn with_securities(securities: Vec<Security>, attempts: u32, timeout: Duration) -> Self {
        assert!(!securities.is_empty(), "a session has a default security");
        Session {
            transport: Transport::new(),
            securities,
            attempts,
            timeout,
        }
    }

    /// v3 engine discoveries made so far (one per engine and user per run, unless an agent asked for another).
    pub fn discoveries(&self) -> u64 {
        self.securities
            .iter()
            .map(|s| match s {
                Security::V3(v3) => v3.discoveries.get(),
                Security::V2c { .. } => 0,
            })
            .sum()
    }

    /// The security of the device being extracted (the default outside [`with_security`], or for a number
    /// past the list, which the inventory check rules out).
    fn security(&self) -> &Security {
        let k = DEVICE_SECURITY.try_with(|k| *k).unwrap_or(0);
        self.securities
            .get(usize::from(k))
            .unwrap_or(&self.securities[0])
    }

    /// Sends `pdu` (its request id replaced per attempt) to `to` under the device's security; the Response PDU.
    pub async fn exchange(&self, to: SocketAddr, pdu: &Pdu) -> Result<Pdu, SessionError> {
        match self.security() {
            Security::V2c { community } => self.exchange_v2c(to, community, pdu).await,
            // Boxed: v3's exchange (discovery, clock sync, sealing) is larger than v2c's, and every device in
            // flight would hold its size.
            Security::V3(v3) => Box::pin(self.exchange_v3(to, v3, pdu)).await,
        }
    }

    async fn exchange_v2c(
        &self,
        to: SocketAddr,
        community: &[u8],
        pdu: &Pdu,
    ) -> Result<Pdu, SessionError> {
        let build = |id: i32| encode_community(VERSION_2C, community, pdu, id);
        let accept = |id: i32, bytes: &[u8]| {
            let pdu = community_pdu(bytes, VERSION_2C, community)?;
            (pdu.kind == PduKind::Response && pdu.request_id == id).then_some(pdu)
        };
        self.transport
            .request(to, self.attempts, self.timeout, build, accept)
            .await
            .map_err(|e| match SessionError::from(e) {
                // A v2c agent stays silent for a community it does not know.
                SessionError::Timeout { attempts, .. } => SessionError::Timeout {
                    attempts,
                    hint: " (no answer: no agent, wrong port, or wrong community)",
                },
                other => other,
            })
    }

    /// The engine at `to`: cached, or discovered now (once, however many devices ask at the same time).
    async fn engine(&self, to: SocketAddr, v3: &V3) -> Result<Rc<Engine>, SessionError> {
        let cell = {
            let mut engines = v3.engines.borrow_mut();
            match engines.get(&to) {
                Some(cell) => cell,
                None => {
                    let cell = Rc::new(tokio::sync::OnceCell::new());
                    engines.insert(to, cell.clone());
                    cell
                }
            }
        };
        cell.get_or_try_init(|| self.discover(to, v3))
            .await
            .cloned()
    }

    /// Engine discovery (RFC 3414 4): an unauthenticated request with no engine id and no user; the agent's
    /// Report carries its engine id, boots and time.
    async fn discover(&self, to: SocketAddr, v3: &V3) -> Result<Rc<Engine>, SessionError> {
        v3.discoveries.set(v3.discoveries.get() + 1);
        let build = |id: i32| {
            let scoped = ScopedPdu {
                context_engine_id: Vec::new(),
                context_name: Vec::new(),
                pdu: Pdu::get(id, &[]),
            };
            let header = HeaderData::usm(id, MAX_MESSAGE_SIZE, FLAG_REPORTABLE);
            usm::seal(&header, b"", &EngineState::default(), None, &scoped, 0)
                .expect("an unauthenticated message needs no keys")
        };
        let accept = |_id: i32, bytes: &[u8]| {
            let opened = usm::open(bytes, None).ok()?;
            (opened.scoped.pdu.kind == PduKind::Report && !opened.usm.engine_id.is_empty())
                .then_some(opened.usm)
        };
        let found = self
            .transport
            .request(to, self.attempts, self.timeout, build, accept)
            .await?;
        let keys = {
            let mut cache = v3.keys.borrow_mut();
            match cache.get(&found.engine_id) {
                Some(k) => k,
                None => {
                    let k = Rc::new(v3.user.localize(&found.engine_id));
                    cache.insert(found.engine_id.clone(), k.clone());
                    k
                }
            }
        };
        log::debug!(
            "[SNMP] {to}: engine {} (boots {}, time {})",
            hex(&found.engine_id),
            found.engine_boots,
            found.engine_time
        );
        Ok(Rc::new(Engine {
            id: found.engine_id,
            keys,
            clock: Cell::new((found.engine_boots, found.engine_time, Instant::now())),
        }))
    }

    async fn exchange_v3(&self, to: SocketAddr, v3: &V3, pdu: &Pdu) -> Result<Pdu, SessionError> {
        let mut engine = self.engine(to, v3).await?;
        let mut recovered = false;
        loop {
            let answer = self.send_v3(to, v3, &engine, pdu).await.map_err(|e| match e {
                // The engine answered its discovery, then nothing: net-snmp drops what it cannot decrypt.
                SessionError::Timeout { attempts, .. } if v3.user.privacy.is_some() => {
                    SessionError::Timeout {
                        attempts,
                        hint: " (wrong priv_password or priv_protocol? the agent answered discovery, then nothing)",
                    }
                }
                other => other,
            })?;
            match answer {
                V3Answer::Response(pdu) => return Ok(pdu),
                V3Answer::Report(ReportKind::NotInTimeWindows, _, Some((boots, time)))
                    if !recovered =>
                {
                    log::debug!("[SNMP] {to}: not in time window; resynchronized, retrying once");
                    engine.resync(boots, time);
                    recovered = true;
                }
                V3Answer::Report(ReportKind::UnknownEngineIds, _, _) if !recovered => {
                    log::debug!("[SNMP] {to}: unknown engine id; discovering again, retrying once");
                    v3.engines.borrow_mut().remove(&to);
                    engine = self.engine(to, v3).await?;
                    recovered = true;
                }
                V3Answer::Report(kind, oid, _) => return Err(SessionError::Report(kind, oid)),
            }
        }
    }

    async fn send_v3(
        &self,
        to: SocketAddr,
        v3: &V3,
        engine: &Engine,
        pdu: &Pdu,
    ) -> Result<V3Answer, SessionError> {
        let authenticated = v3.flags & FLAG_AUTH != 0;
        // An unauthenticated Report to an authenticated request (anyone on the path can send one): kept, and the
        // answer only if nothing authenticated comes before the attempts' time is out.
        let unauthenticated_report = RefCell::new(None);
        let stats = self.transport.stats();
        let build = |id: i32| {
            let mut p = pdu.clone();
            p.request_id = id;
            let scoped = ScopedPdu {
                context_engine_id: engine.id.clone(),
                context_name: Vec::new(),
                pdu: p,
            };
            let salt = v3.salt.get().wrapping_add(1);
            v3.salt.set(salt);
            let header = HeaderData::usm(id, MAX_MESSAGE_SIZE, v3.flags);
            usm::seal(
                &header,
                &v3.user.name,
                &engine.state(),
                Some(&engine.keys),
                &scoped,
                salt,
            )
            .expect("the keys were made for this security level")
        };
        let accept = |id: i32, bytes: &[u8]| {
            // A datagram that does not open with our keys (corrupt, forged, another user's) is ignored.
            let opened = usm::open(bytes, Some(&engine.keys)).ok()?;
            let pdu = opened.scoped.pdu;
            match pdu.kind {
                PduKind::Report => {
                    let oid = pdu.varbinds.first().map(|(o, _)| o.clone())?;
                    if authenticated && !opened.authenticated {
                        stats
                            .unauthenticated_reports
                            .set(stats.unauthenticated_reports.get() + 1);
                        log::debug!("[SNMP] {to}: unauthenticated report {oid}; waiting for an authenticated answer");
                        *unauthenticated_report.borrow_mut() = Some((ReportKind::of(&oid), oid));
                        return None;
                    }
                    let clock = opened
                        .authenticated
                        .then_some((opened.usm.engine_boots, opened.usm.engine_time));
                    Some(V3Answer::Report(ReportKind::of(&oid), oid, clock))
                }
                PduKind::Response if pdu.request_id == id => {
                    if !usm::same_level(opened.header.flags, v3.flags) {
                        stats.wrong_level.set(stats.wrong_level.get() + 1);
                        log::debug!(
                            "[SNMP] {to}: an answer below the request's security level, ignored"
                        );
                        return None;
                    }
                    if opened.authenticated {
                        let (boots, time, _) = engine.clock.get();
                        let got = (opened.usm.engine_boots, opened.usm.engine_time);
                        if !usm::in_time_window((boots, time), got) {
                            stats.outside_window.set(stats.outside_window.get() + 1);
                            log::debug!("[SNMP] {to}: an answer outside the time window (boots/time {got:?}, latest ({boots}, {time})), ignored");
                            return None;
                        }
                        engine.learn(opened.usm.engine_boots, opened.usm.engine_time);
                    }
                    Some(V3Answer::Response(pdu))
                }
                _ => None,
            }
        };
        match self
            .transport
            .request(to, self.attempts, self.timeout, build, accept)
            .await
        {
            Ok(answer) => Ok(answer),
            Err(TransportError::Timeout { .. }) if unauthenticated_report.borrow().is_some() => {
                let (kind, oid) = unauthenticated_report.take().expect("checked");
                Ok(V3Answer::Report(kind, oid, None))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_named_from_their_oid() {
        let k = |s: &str| ReportKind::of(&Oid::parse(s).unwrap());
        assert_eq!(k("1.3.6.1.6.3.15.1.1.3.0"), ReportKind::UnknownUserNames);
        assert_eq!(k("1.3.6.1.6.3.15.1.1.5.0"), ReportKind::WrongDigests);
        assert_eq!(k("1.3.6.1.6.3.15.1.1.6.0"), ReportKind::DecryptionErrors);
        assert_eq!(k("1.3.6.1.6.3.15.1.1.2.0"), ReportKind::NotInTimeWindows);
        assert_eq!(k("1.3.6.1.6.3.15.1.1.4.0"), ReportKind::UnknownEngineIds);
        assert_eq!(
            k("1.3.6.1.6.3.15.1.1.1.0"),
            ReportKind::UnsupportedSecLevels
        );
        assert_eq!(k("1.3.6.1.6.3.11.2.1.1.0"), ReportKind::Other);
        assert_eq!(ReportKind::WrongDigests.name(), "usmStatsWrongDigests");
        assert_eq!(
            ReportKind::UnknownUserNames.reason().label(),
            "unknown_user"
        );
    }

    #[test]
    fn the_bounded_map_forgets_the_oldest() {
        let mut m = Bounded::new(2);
        m.insert(1, 'a');
        m.insert(2, 'b');
        m.insert(3, 'c');
        assert_eq!(
            (m.get(&1), m.get(&2), m.get(&3)),
            (None, Some('b'), Some('c'))
        );
        m.remove(&2);
        m.insert(4, 'd');
        assert_eq!((m.get(&3), m.get(&4)), (Some('c'), Some('d')));
    }

    #[test]
    fn the_engine_clock_moves_forward_only_when_learning() {
        let e = Engine {
            id: vec![1],
            keys: Rc::new(UsmUser::new(b"u", None, None).unwrap().localize(&[1])),
            clock: Cell::new((3, 100, Instant::now())),
        };
        e.learn(3, 50);
        assert_eq!(e.state().time, 100);
        e.learn(3, 200);
        assert_eq!(e.state().time, 200);
        e.learn(2, 900);
        assert_eq!(e.state().boots, 3);
        e.resync(1, 5);
        assert_eq!((e.state().boots, e.state().time), (1, 5));
    }

    /// A fake v3 agent on a loopback socket: answers discovery, then each request as `script` says, for `n`
    /// datagrams; hands back the (boots, time) each authenticated request carried.
    fn fake_agent(
        socket: std::net::UdpSocket,
        n: usize,
        script: impl Fn(usize, &usm::Opened) -> (u32, u32, Pdu) + Send + 'static,
    ) -> std::thread::JoinHandle<Vec<(u32, u32)>> {
        use crate::snmp::message::FLAG_PRIV;
        fake_agent_flags(socket, n, script, |_, pdu| {
            if pdu.kind == PduKind::Report {
                FLAG_AUTH
            } else {
                FLAG_AUTH | FLAG_PRIV
            }
        })
    }

    /// [`fake_agent`] whose answer to the i-th authenticated request is sent with `flags(i, pdu)` (without
    /// FLAG_AUTH: unauthenticated, sealed without keys).
    fn fake_agent_flags(
        socket: std::net::UdpSocket,
        n: usize,
        script: impl Fn(usize, &usm::Opened) -> (u32, u32, Pdu) + Send + 'static,
        flags: impl Fn(usize, &Pdu) -> u8 + Send + 'static,
    ) -> std::thread::JoinHandle<Vec<(u32, u32)>> {
        use crate::snmp::message::FLAG_REPORTABLE;
        std::thread::spawn(move || {
            let engine_id = b"\x80\x00\x1f\x88\x04fake".to_vec();
            let user = UsmUser::new(
                b"alice",
                Some((usm::AuthProtocol::Sha1, b"password1")),
                Some((usm::PrivProtocol::Aes128, b"password2")),
            )
            .unwrap();
            let keys = user.localize(&engine_id);
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let mut authenticated = 0;
            for _ in 0..n {
                let (len, from) = socket.recv_from(&mut buf).unwrap();
                let request = usm::open(&buf[..len], Some(&keys)).unwrap();
                let id = request.header.msg_id;
                let reply = if !request.authenticated {
                    // Discovery: an unauthenticated report with the engine id.
                    let report = Pdu {
                        kind: PduKind::Report,
                        ..Pdu::response(
                            request.scoped.pdu.request_id,
                            0,
                            0,
                            vec![(
                                Oid::parse("1.3.6.1.6.3.15.1.1.4.0").unwrap(),
                                crate::snmp::Value::Counter32(1),
                            )],
                        )
                    };
                    let scoped = ScopedPdu {
                        context_engine_id: engine_id.clone(),
                        context_name: vec![],
                        pdu: report,
                    };
                    let state = EngineState {
                        id: engine_id.clone(),
                        boots: 5,
                        time: 100,
                    };
                    usm::seal(
                        &HeaderData::usm(id, 65507, 0),
                        b"",
                        &state,
                        None,
                        &scoped,
                        0,
                    )
                    .unwrap()
                } else {
                    seen.push((request.usm.engine_boots, request.usm.engine_time));
                    let (boots, time, mut pdu) = script(authenticated, &request);
                    let flags = flags(authenticated, &pdu);
                    authenticated += 1;
                    pdu.request_id = request.scoped.pdu.request_id;
                    let scoped = ScopedPdu {
                        context_engine_id: engine_id.clone(),
                        context_name: vec![],
                        pdu,
                    };
                    let state = EngineState {
                        id: engine_id.clone(),
                        boots,
                        time,
                    };
                    let signed = flags & FLAG_AUTH != 0;
                    usm::seal(
                        &HeaderData::usm(id, 65507, flags & !FLAG_REPORTABLE),
                        if signed { b"alice" } else { b"" },
                        &state,
                        signed.then_some(&keys),
                        &scoped,
                        9,
                    )
                    .unwrap()
                };
                socket.send_to(&reply, from).unwrap();
            }
            seen
        })
    }

    fn report(oid: &str) -> Pdu {
        Pdu {
            kind: PduKind::Report,
            ..Pdu::response(
                0,
                0,
                0,
                vec![(Oid::parse(oid).unwrap(), crate::snmp::Value::Counter32(1))],
            )
        }
    }

    fn uptime_response() -> Pdu {
        Pdu::response(
            0,
            0,
            0,
            vec![(
                Oid::parse("1.3.6.1.2.1.1.3.0").unwrap(),
                crate::snmp::Value::TimeTicks(42),
            )],
        )
    }

    fn session() -> Session {
        let user = UsmUser::new(
            b"alice",
            Some((usm::AuthProtocol::Sha1, b"password1")),
            Some((usm::PrivProtocol::Aes128, b"password2")),
        )
        .unwrap();
        Session::new(Security::v3(user, 16), 1, Duration::from_secs(5))
    }

    #[test]
    fn not_in_time_window_resynchronizes_once_and_the_engine_is_discovered_once() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        // Discovery, then: the first GET is out of the window (the agent rebooted: boots 6, time 50); the rest
        // are answered.
        let agent = fake_agent(socket, 4, |i, _| match i {
            0 => (6, 50, report("1.3.6.1.6.3.15.1.1.2.0")),
            _ => (6, 60, uptime_response()),
        });
        let session = session();
        actix_rt::System::new().block_on(async {
            let get = Pdu::get(0, &[Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()]);
            for _ in 0..2 {
                let answer = session.exchange(to, &get).await.unwrap();
                assert_eq!(answer.varbinds, uptime_response().varbinds);
            }
        });
        let seen = agent.join().unwrap();
        assert_eq!(session.discoveries(), 1);
        assert_eq!(
            seen[0],
            (5, 100),
            "the first request uses the discovered clock"
        );
        assert_eq!(seen[1].0, 6, "the retry uses the report's boots");
        assert!((50..52).contains(&seen[1].1), "and its time: {seen:?}");
        assert!(
            (60..62).contains(&seen[2].1),
            "then the time the answer carried: {seen:?}"
        );
    }

    #[test]
    fn a_report_that_persists_after_the_one_retry_is_the_error() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let agent = fake_agent(socket, 3, |_, _| (5, 100, report("1.3.6.1.6.3.15.1.1.2.0")));
        let session = session();
        let result = actix_rt::System::new().block_on(async {
            let get = Pdu::get(0, &[Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()]);
            session.exchange(to, &get).await
        });
        agent.join().unwrap();
        assert_eq!(
            result,
            Err(SessionError::Report(
                ReportKind::NotInTimeWindows,
                Oid::parse("1.3.6.1.6.3.15.1.1.2.0").unwrap()
            ))
        );
    }

    fn v3_session(attempts: u32, timeout_ms: u64) -> Session {
        let user = UsmUser::new(
            b"alice",
            Some((usm::AuthProtocol::Sha1, b"password1")),
            Some((usm::PrivProtocol::Aes128, b"password2")),
        )
        .unwrap();
        Session::new(
            Security::v3(user, 16),
            attempts,
            Duration::from_millis(timeout_ms),
        )
    }

    fn get_once(session: &Session, to: SocketAddr) -> Result<Pdu, SessionError> {
        actix_rt::System::new().block_on(async {
            let get = Pdu::get(0, &[Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()]);
            session.exchange(to, &get).await
        })
    }

    /// An authPriv session takes only encrypted answers: an authNoPriv Response (correctly signed, but readable
    /// by anyone on the path, or a downgrade) is ignored, and the encrypted one that follows is taken.
    #[test]
    fn an_unencrypted_answer_to_an_authpriv_request_is_ignored() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let plain = |_: usize, _: &Pdu| FLAG_AUTH;
        let agent = fake_agent_flags(socket, 2, |_, _| (5, 100, uptime_response()), plain);
        let session = v3_session(1, 300);
        let result = get_once(&session, to);
        agent.join().unwrap();
        assert!(
            matches!(result, Err(SessionError::Timeout { .. })),
            "{result:?}"
        );
        assert_eq!(session.transport.stats().wrong_level.get(), 1);
        // The same agent answering encrypted is taken.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let agent = fake_agent(socket, 2, |_, _| (5, 100, uptime_response()));
        assert!(get_once(&v3_session(1, 300), to).is_ok());
        agent.join().unwrap();
    }

    /// An authenticated answer outside RFC 3414's time window (an old answer replayed: its engine time more than
    /// 150 s behind the latest one) is ignored.
    #[test]
    fn an_authenticated_answer_outside_the_time_window_is_ignored() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        // Discovered at (5, 100); the answer says (5, 1), 99 s behind: inside; then (4, 100): an earlier boot.
        let agent = fake_agent(socket, 3, |i, _| match i {
            0 => (5, 1, uptime_response()),
            _ => (4, 100, uptime_response()),
        });
        let session = v3_session(1, 300);
        let (first, result) = actix_rt::System::new().block_on(async {
            let get = Pdu::get(0, &[Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()]);
            (
                session.exchange(to, &get).await,
                session.exchange(to, &get).await,
            )
        });
        agent.join().unwrap();
        assert!(first.is_ok(), "{first:?}");
        assert!(
            matches!(result, Err(SessionError::Timeout { .. })),
            "{result:?}"
        );
        assert_eq!(session.transport.stats().outside_window.get(), 1);
    }

    /// An unauthenticated Report (anyone on the path can send one) does not fail the device at once: the
    /// authenticated answer to the next attempt wins; alone, it is the error once the attempts' time is out.
    #[test]
    fn an_unauthenticated_report_waits_for_the_authenticated_answer() {
        use crate::snmp::message::FLAG_PRIV;
        let unknown_user = || report("1.3.6.1.6.3.15.1.1.3.0");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let agent = fake_agent_flags(
            socket,
            3,
            move |i, _| match i {
                0 => (5, 100, unknown_user()),
                _ => (5, 100, uptime_response()),
            },
            |i, _| if i == 0 { 0 } else { FLAG_AUTH | FLAG_PRIV },
        );
        let session = v3_session(2, 300);
        let answer = get_once(&session, to);
        agent.join().unwrap();
        assert_eq!(answer.unwrap().varbinds, uptime_response().varbinds);
        assert_eq!(session.transport.stats().unauthenticated_reports.get(), 1);

        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let agent = fake_agent_flags(socket, 2, move |_, _| (5, 100, unknown_user()), |_, _| 0);
        let session = v3_session(1, 400);
        let started = Instant::now();
        let result = get_once(&session, to);
        agent.join().unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(390),
            "the report alone decided only after the attempt's time: {:?}",
            started.elapsed()
        );
        assert!(
            matches!(
                result,
                Err(SessionError::Report(ReportKind::UnknownUserNames, _))
            ),
            "{result:?}"
        );
    }
}
