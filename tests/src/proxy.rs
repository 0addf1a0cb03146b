//! A loopback TCP proxy between an MQTT client and the broker that can blackhole, delay and
//! duplicate frames, controlled while it runs. It reads MQTT's fixed header to cut the byte
//! stream into packets, so a duplicated PUBLISH is a whole packet (and the broker's second
//! PUBACK for it is swallowed, so the client sees a clean session while the far side sees the
//! message twice).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What the proxy does to traffic right now.
#[derive(Debug, Default)]
struct Faults {
    /// Accept and read, forward nothing (no RST): a dead link that looks alive.
    blackhole: AtomicBool,
    /// Hold each packet this long before forwarding.
    delay_ms: AtomicU64,
    /// Send every N-th client PUBLISH twice (0: never).
    duplicate_every: AtomicU64,
}

/// Byte and packet counts.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Bytes from the client to the broker (forwarded, duplicates included).
    pub upstream_bytes: AtomicU64,
    /// Bytes from the broker to the client.
    pub downstream_bytes: AtomicU64,
    /// PUBLISH packets from the client.
    pub publishes: AtomicU64,
    /// PUBLISH packets sent twice.
    pub duplicated: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

/// A running proxy. Stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    counters: Arc<ProxyCounters>,
    generation: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let faults = Arc::new(Faults::default());
        let counters = Arc::new(ProxyCounters::default());
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let thread = {
            let (faults, counters, generation, stop) = (
                faults.clone(),
                counters.clone(),
                generation.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    loop {
                        let accepted = tokio::select! {
                            () = stop.cancelled() => break,
                            accepted = listener.accept() => accepted,
                        };
                        let Ok((client, _)) = accepted else { continue };
                        counters.connections.fetch_add(1, Ordering::Relaxed);
                        let cancel = generation.lock().expect("generation").child_token();
                        let (faults, counters) = (faults.clone(), counters.clone());
                        tokio::spawn(async move {
                            let Ok(server) = TcpStream::connect(upstream).await else {
                                return;
                            };
                            pipe(client, server, faults, counters, cancel).await;
                        });
                    }
                });
            })
        };
        Self {
            addr,
            faults,
            counters,
            generation,
            stop,
            thread: Some(thread),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Blackhole on or off.
    pub fn blackhole(&self, on: bool) {
        self.faults.blackhole.store(on, Ordering::Relaxed);
    }

    /// Delay each packet by `delay`.
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.faults.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Send every `n`-th client PUBLISH twice (0 turns it off).
    pub fn duplicate_every(&self, n: u64) {
        self.faults.duplicate_every.store(n, Ordering::Relaxed);
    }

    /// Back to a clean pipe.
    pub fn heal(&self) {
        self.blackhole(false);
        self.delay(Duration::ZERO);
        self.duplicate_every(0);
    }

    /// Closes every open connection (the clients see a reset and reconnect).
    pub fn cut(&self) {
        let mut generation = self.generation.lock().expect("generation");
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// The counters.
    pub fn counters(&self) -> &ProxyCounters {
        &self.counters
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    faults: Arc<Faults>,
    counters: Arc<ProxyCounters>,
    cancel: CancellationToken,
) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // PUBACK packet ids to swallow once (the broker's answer to a duplicated PUBLISH).
    let swallow = Arc::new(Mutex::new(HashMap::<u16, u8>::new()));
    let up = forward(
        client_read,
        server_write,
        Direction::Up,
        faults.clone(),
        counters.clone(),
        swallow.clone(),
    );
    let down = forward(
        server_read,
        client_write,
        Direction::Down,
        faults,
        counters,
        swallow,
    );
    tokio::select! {
        () = cancel.cancelled() => {}
        _ = up => {}
        _ = down => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// Reads whole MQTT packets from `from` and writes them to `to`, applying the faults.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    direction: Direction,
    faults: Arc<Faults>,
    counters: Arc<ProxyCounters>,
    swallow: Arc<Mutex<HashMap<u16, u8>>>,
) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        if faults.blackhole.load(Ordering::Relaxed) {
            buffer.clear();
            continue;
        }
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(len) = packet_len(&buffer) {
            let packet: Vec<u8> = buffer.drain(..len).collect();
            let delay = faults.delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let kind = packet[0] >> 4;
            let mut copies = 1;
            if direction == Direction::Up && kind == 3 {
                let count = counters.publishes.fetch_add(1, Ordering::Relaxed) + 1;
                let every = faults.duplicate_every.load(Ordering::Relaxed);
                let qos = (packet[0] >> 1) & 3;
                if every > 0
                    && count.is_multiple_of(every)
                    && qos == 1
                    && let Some(pkid) = publish_pkid(&packet)
                {
                    copies = 2;
                    swallow.lock().expect("swallow").insert(pkid, 2);
                    counters.duplicated.fetch_add(1, Ordering::Relaxed);
                }
            }
            if direction == Direction::Down && kind == 4 && packet.len() >= 4 {
                let pkid = u16::from_be_bytes([packet[2], packet[3]]);
                let mut swallow = swallow.lock().expect("swallow");
                match swallow.get(&pkid).copied() {
                    Some(2) => {
                        swallow.insert(pkid, 1);
                    }
                    Some(_) => {
                        swallow.remove(&pkid);
                        continue;
                    }
                    None => {}
                }
            }
            for _ in 0..copies {
                to.write_all(&packet).await?;
                let counter = match direction {
                    Direction::Up => &counters.upstream_bytes,
                    Direction::Down => &counters.downstream_bytes,
                };
                counter.fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

/// The length of the first whole packet in `buffer`, if it is all there.
fn packet_len(buffer: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    let mut shift = 0;
    for (i, byte) in buffer.iter().skip(1).take(4).enumerate() {
        remaining |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            let total = 1 + i + 1 + remaining;
            return (buffer.len() >= total).then_some(total);
        }
    }
    None
}

/// The packet id of an MQTT 3.1.1 QoS>0 PUBLISH.
fn publish_pkid(packet: &[u8]) -> Option<u16> {
    let mut header = 1;
    while packet.get(header)? & 0x80 != 0 {
        header += 1;
    }
    let body = &packet[header + 1..];
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let at = 2 + topic_len;
    Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_packets_and_reads_publish_ids() {
        // PUBLISH QoS1, topic "a/b", pkid 0x0102, payload "x".
        let publish = [0x32, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x02, b'x'];
        assert_eq!(packet_len(&publish), Some(10));
        assert_eq!(packet_len(&publish[..9]), None);
        assert_eq!(publish_pkid(&publish), Some(0x0102));
        let long = [0x30, 0x80, 0x01];
        assert_eq!(packet_len(&long), None, "128-byte body not there yet");
    }
}
