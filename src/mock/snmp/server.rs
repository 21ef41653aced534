//! The fleet's socket loop, on a thread of its own: read datagrams in batches, filter by destination, let the
//! agent answer, apply the faults, send now or park in the timer queue, release what is due. It never sleeps on a
//! delayed reply: `poll` waits until the next datagram or the next due reply, whichever is first.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::agent::{Agent, Outcome};
use super::counters::SnmpCounters;
use super::faults::{Fate, Faults, Pending, TimerQueue};
use super::fleet::Shares;
use super::socket::{is_fleet_datagram, PktinfoSocket};
use crate::config::MockSettings;

/// Datagrams read before the timer queue is looked at again.
const BATCH: usize = 64;
/// Longest `poll` while idle: how soon a stop request is noticed.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Largest datagram read (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// A running fleet: its port, and the thread that serves it until stopped (or dropped).
#[derive(Debug)]
pub struct SnmpFleet {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SnmpFleet {
    /// `udp://0.0.0.0:PORT`, what `mock-server` prints.
    pub fn url(&self) -> String {
        format!("udp://0.0.0.0:{}", self.port)
    }

    /// Stops the loop and waits for it (within [`IDLE_POLL`] plus the batch in hand).
    pub fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SnmpFleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `port` (0: a free one) and serves the fleet described by `settings`, counting into `counters`.
pub fn start(
    settings: &MockSettings,
    port: u16,
    counters: Arc<SnmpCounters>,
) -> io::Result<SnmpFleet> {
    let socket = PktinfoSocket::bind(port)?;
    let port = socket.port()?;
    let agent = Agent::new(
        settings.snmp_community.expose(),
        Shares {
            vendors: settings.snmp_vendor_share,
            host_resources: settings.snmp_host_resources_share,
            wrong_community: settings.snmp_wrong_community_share,
        },
    );
    let faults = Faults::new(settings);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("snmp-fleet".into())
        .spawn(move || {
            let mut lp = Loop {
                socket,
                agent,
                faults,
                counters,
                queue: TimerQueue::default(),
                started: Instant::now(),
            };
            if let Err(e) = lp.run(&flag) {
                log::error!(target: "mock", "SNMP fleet stopped: {e}");
            }
        })?;
    Ok(SnmpFleet {
        port,
        stop,
        thread: Some(thread),
    })
}

struct Loop {
    socket: PktinfoSocket,
    agent: Agent,
    faults: Faults,
    counters: Arc<SnmpCounters>,
    queue: TimerQueue,
    started: Instant,
}

impl Loop {
    fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while !stop.load(Relaxed) {
            let wait = self.queue.next_due().map_or(IDLE_POLL, |due| {
                due.saturating_duration_since(Instant::now()).min(IDLE_POLL)
            });
            // Round up: poll counts whole milliseconds, and 0 would spin until the reply is due.
            let wait = if wait.is_zero() {
                wait
            } else {
                wait.max(Duration::from_millis(1))
            };
            if self.socket.wait_readable(wait)? {
                for _ in 0..BATCH {
                    match self.socket.recv(&mut buf) {
                        Ok(Some(d)) => {
                            if let Some(n) = d.kernel_drops {
                                self.counters.kernel_drops.store(u64::from(n), Relaxed);
                            }
                            if !is_fleet_datagram(d.from, d.dst) {
                                SnmpCounters::bump(&self.counters.not_loopback);
                                continue;
                            }
                            let dst = d.dst.expect("checked by is_fleet_datagram");
                            SnmpCounters::bump(&self.counters.requests);
                            let elapsed_cs = (self.started.elapsed().as_millis() / 10) as u64;
                            match self.agent.answer(dst, &buf[..d.len], elapsed_cs) {
                                Outcome::Reply(bytes) => self.dispatch(Pending {
                                    to: d.from,
                                    from: dst,
                                    bytes,
                                    copies: 1,
                                }),
                                Outcome::BadCommunity => {
                                    SnmpCounters::bump(&self.counters.bad_community)
                                }
                                Outcome::Unsupported => {
                                    SnmpCounters::bump(&self.counters.unsupported)
                                }
                                Outcome::Malformed => SnmpCounters::bump(&self.counters.malformed),
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // A transient error on one datagram (e.g. an ICMP error queued): keep serving.
                            log::debug!(target: "mock", "SNMP fleet recvmsg: {e}");
                            break;
                        }
                    }
                }
            }
            let now = Instant::now();
            while let Some(p) = self.queue.pop_due(now) {
                self.send(&p);
            }
        }
        Ok(())
    }

    /// Applies the faults to a reply: drop it, send it now, or park it.
    fn dispatch(&mut self, mut p: Pending) {
        match self.faults.decide() {
            Fate::Drop => SnmpCounters::bump(&self.counters.dropped),
            Fate::Send { after, copies } => {
                p.copies = copies;
                if after.is_zero() {
                    return self.send(&p);
                }
                SnmpCounters::bump(&self.counters.delayed);
                if let Err(p) = self.queue.push(Instant::now() + after, p) {
                    self.send(&p);
                }
            }
        }
    }

    fn send(&self, p: &Pending) {
        for copy in 0..p.copies {
            match self.socket.send_from(&p.bytes, p.to, p.from) {
                Ok(()) if copy == 0 => SnmpCounters::bump(&self.counters.replies),
                Ok(()) => SnmpCounters::bump(&self.counters.duplicated),
                Err(e) => {
                    SnmpCounters::bump(&self.counters.send_errors);
                    log::debug!(target: "mock", "SNMP fleet sendmsg to {}: {e}", p.to);
                }
            }
        }
    }
}
