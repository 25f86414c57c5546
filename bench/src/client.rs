//! A minimal keep-alive HTTP/1.1 client for load (as wrk's and pgbench's are): one connection per
//! simulated client, requests written in one go, answers read by `content-length` or chunked
//! encoding. A general-purpose client (reqwest, hyper's pool) costs several times more CPU per
//! request, and on this 2-core machine the client shares the cores with the servers it measures.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// One keep-alive connection to `url`'s host.
pub struct Conn {
    stream: tokio::io::BufStream<tokio::net::TcpStream>,
    host: String,
    path: String,
    head: Vec<u8>,
}

impl Conn {
    /// Connects to the host and port of `url`; requests go to its path.
    pub async fn open(url: &str) -> std::io::Result<Self> {
        let u = url::Url::parse(url).map_err(std::io::Error::other)?;
        let host = format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port_or_known_default().unwrap_or(80)
        );
        let tcp = tokio::net::TcpStream::connect(&host).await?;
        tcp.set_nodelay(true)?;
        Ok(Self {
            stream: tokio::io::BufStream::with_capacity(64 * 1024, 16 * 1024, tcp),
            host,
            path: u.path().to_owned(),
            head: Vec::with_capacity(512),
        })
    }

    /// POSTs a JSON `body` with `authorization`; returns the status and writes the answer's body
    /// into `out` (cleared first).
    pub async fn post(
        &mut self,
        authorization: &str,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> std::io::Result<u16> {
        use std::io::Write as _;
        self.head.clear();
        write!(
            self.head,
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nauthorization: {authorization}\r\ncontent-length: {}\r\n\r\n",
            self.path,
            self.host,
            body.len()
        )?;
        self.stream.write_all(&self.head).await?;
        self.stream.write_all(body).await?;
        self.stream.flush().await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("transfer-encoding")
                    && v.trim().eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                }
            }
        }
        out.clear();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(std::io::Error::other)?;
                let start = out.len();
                out.resize(start + size, 0);
                self.stream.read_exact(&mut out[start..]).await?;
                line.clear();
                self.stream.read_line(&mut line).await?;
                if size == 0 {
                    break;
                }
            }
        } else {
            out.resize(length, 0);
            self.stream.read_exact(out).await?;
        }
        Ok(status)
    }
}
