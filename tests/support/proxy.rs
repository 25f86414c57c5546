//! A TCP proxy on loopback that a test can switch between forwarding, black-holing (connections
//! stay open, nothing is answered: a paused server) and refusing (every connection closed: a
//! server that is down), counting what the app sends meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass everything through.
    Forward,
    /// Accept and read, answer nothing.
    Blackhole,
    /// Close every connection, open or new.
    Refuse,
}

/// A running proxy to `upstream`.
pub struct Proxy {
    /// `127.0.0.1:port` to connect to instead of the upstream.
    pub addr: std::net::SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicU64>,
    bytes_from_client: Arc<AtomicU64>,
}

impl Proxy {
    /// Starts a proxy forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Forward);
        let accepted = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let (acc, by) = (accepted.clone(), bytes.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let rx = rx.clone();
                let upstream = upstream.clone();
                let by = by.clone();
                tokio::spawn(async move { pipe(client, &upstream, rx, by).await });
            }
        });
        Self {
            addr,
            mode,
            accepted,
            bytes_from_client: bytes,
        }
    }

    /// Switches the mode (open connections follow at once).
    pub fn set(&self, mode: Mode) {
        let _ = self.mode.send(mode);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Bytes the app sent so far (forwarded or swallowed).
    pub fn bytes_from_client(&self) -> u64 {
        self.bytes_from_client.load(Ordering::SeqCst)
    }
}

async fn pipe(
    mut client: TcpStream,
    upstream: &str,
    mut mode: watch::Receiver<Mode>,
    bytes: Arc<AtomicU64>,
) {
    if *mode.borrow() == Mode::Refuse {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut sbuf = vec![0u8; 16 * 1024];
    loop {
        let current = *mode.borrow();
        if current == Mode::Refuse {
            return;
        }
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            n = cr.read(&mut cbuf) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                bytes.fetch_add(n as u64, Ordering::SeqCst);
                if *mode.borrow() == Mode::Forward && sw.write_all(&cbuf[..n]).await.is_err() {
                    return;
                }
            }
            n = sr.read(&mut sbuf), if current == Mode::Forward => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                if cw.write_all(&sbuf[..n]).await.is_err() { return; }
            }
        }
    }
}
