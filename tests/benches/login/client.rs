//! A small keep-alive HTTP/1.1 load generator: N connections, each sends one
//! request, reads the whole response, then sends the next (no pipelining).
//! Records per-request latency, status codes and Set-Cookie headers.
//! Runs on a current-thread tokio runtime (one core for the client, the other
//! for the one-worker server). Only ever connects to 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default, Debug, Clone)]
pub struct LoadResult {
    pub requests: u64,
    /// latencies in nanoseconds, sorted
    pub latencies: Vec<u64>,
    pub elapsed: Duration,
    pub set_cookies: u64,
    pub unexpected_status: u64,
    pub last_status: u16,
    pub reconnects: u64,
}

impl LoadResult {
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let idx = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[idx] as f64 / 1000.0
    }
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

pub struct Response {
    pub status: u16,
    /// all `Set-Cookie` header values
    pub set_cookies: Vec<String>,
    pub body: Vec<u8>,
}

/// Builds the raw request bytes for `GET path` with an optional Cookie header.
pub fn request_bytes(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: login-bench\r\n");
    if let Some(c) = cookie {
        r.push_str(&format!("Cookie: {c}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

pub struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { addr, stream, buf: Vec::with_capacity(8192) })
    }

    async fn reconnect(&mut self) -> std::io::Result<()> {
        *self = Conn::connect(self.addr).await?;
        Ok(())
    }

    /// One request/response exchange. `want_headers` collects Set-Cookie values
    /// (only counts them otherwise).
    pub async fn exchange(&mut self, req: &[u8], want_body: bool) -> std::io::Result<Response> {
        self.stream.write_all(req).await?;
        loop {
            if let Some((resp, used)) = parse(&self.buf, want_body)? {
                self.buf.drain(..used);
                return Ok(resp);
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "server closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Parses one complete response from `buf`; `None` if more bytes are needed.
fn parse(buf: &[u8], want_body: bool) -> std::io::Result<Option<(Response, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let hlen = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_length = None;
    let mut chunked = false;
    let mut set_cookies = Vec::new();
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("set-cookie") {
            set_cookies.push(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    let body_range;
    let total;
    if let Some(cl) = content_length {
        if buf.len() < hlen + cl {
            return Ok(None);
        }
        body_range = hlen..hlen + cl;
        total = hlen + cl;
    } else if chunked {
        // Small bodies only: find the terminating zero-size chunk.
        let rest = &buf[hlen..];
        let end = if rest.starts_with(b"0\r\n\r\n") {
            Some(5)
        } else {
            rest.windows(7).position(|w| w == b"\r\n0\r\n\r\n").map(|p| p + 7)
        };
        match end {
            Some(e) => {
                body_range = hlen..hlen + e;
                total = hlen + e;
            }
            None => return Ok(None),
        }
    } else {
        // No body framing: 1xx/204/304 or an empty response.
        body_range = hlen..hlen;
        total = hlen;
    }
    let body = if want_body { buf[body_range].to_vec() } else { Vec::new() };
    Ok(Some((Response { status, set_cookies, body }, total)))
}

/// Single request on a fresh connection (used for login and sanity checks).
pub async fn one(addr: SocketAddr, path: &str, cookie: Option<&str>) -> std::io::Result<Response> {
    let mut c = Conn::connect(addr).await?;
    c.exchange(&request_bytes(addr, path, cookie), true).await
}

/// Drive `reqs` on `conns` keep-alive connections until `duration` elapsed or
/// `max_requests` were completed (whichever comes first). Each connection cycles through
/// `reqs` (the same route with different sessions), starting at its own offset.
pub async fn drive(
    addr: SocketAddr,
    reqs: Vec<Vec<u8>>,
    expect_status: fn(u16) -> bool,
    conns: usize,
    duration: Duration,
    max_requests: u64,
) -> std::io::Result<LoadResult> {
    let start = Instant::now();
    let deadline = start + duration;
    let per_conn_max = max_requests.div_ceil(conns as u64);
    assert!(!reqs.is_empty(), "drive needs at least one request");
    let reqs = std::rc::Rc::new(reqs);
    let local = tokio::task::LocalSet::new();
    let results = local
        .run_until(async move {
            let mut handles = Vec::new();
            for conn in 0..conns {
                let reqs = reqs.clone();
                handles.push(tokio::task::spawn_local(async move {
                    let mut r = LoadResult::default();
                    let mut c = Conn::connect(addr).await?;
                    r.latencies.reserve(1 << 16);
                    while r.requests < per_conn_max && Instant::now() < deadline {
                        let t0 = Instant::now();
                        let req = &reqs[(conn + r.requests as usize) % reqs.len()];
                        let resp = match c.exchange(req, false).await {
                            Ok(resp) => resp,
                            Err(e)
                                if e.kind() == std::io::ErrorKind::UnexpectedEof
                                    || e.kind() == std::io::ErrorKind::ConnectionReset
                                    || e.kind() == std::io::ErrorKind::BrokenPipe =>
                            {
                                r.reconnects += 1;
                                if r.reconnects > 1000 {
                                    return Err(e);
                                }
                                c.reconnect().await?;
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        r.latencies.push(t0.elapsed().as_nanos() as u64);
                        r.requests += 1;
                        r.set_cookies += resp.set_cookies.len() as u64;
                        r.last_status = resp.status;
                        if !expect_status(resp.status) {
                            r.unexpected_status += 1;
                        }
                    }
                    Ok::<_, std::io::Error>(r)
                }));
            }
            let mut all = Vec::new();
            for h in handles {
                all.push(h.await.expect("client task panicked")?);
            }
            Ok::<_, std::io::Error>(all)
        })
        .await?;
    let elapsed = start.elapsed();
    let mut total = LoadResult { elapsed, ..Default::default() };
    for r in results {
        total.requests += r.requests;
        total.set_cookies += r.set_cookies;
        total.unexpected_status += r.unexpected_status;
        total.reconnects += r.reconnects;
        total.last_status = r.last_status;
        total.latencies.extend(r.latencies);
    }
    total.latencies.sort_unstable();
    Ok(total)
}

/// `name=value` pairs of the Set-Cookie headers, joined as a Cookie header.
/// `keep` filters cookie names (None = keep all); removal cookies (empty
/// value / Max-Age=0) are dropped.
pub fn cookie_header(set_cookies: &[String], keep: Option<&[&str]>) -> Option<String> {
    let pairs: Vec<&str> = set_cookies
        .iter()
        .filter(|c| {
            let l = c.to_ascii_lowercase();
            !l.contains("max-age=0")
        })
        .filter_map(|c| c.split(';').next())
        .map(str::trim)
        .filter(|p| p.split_once('=').is_some_and(|(n, v)| !n.is_empty() && !v.is_empty()))
        .filter(|p| match keep {
            None => true,
            Some(names) => names.iter().any(|n| p.split_once('=').unwrap().0 == *n),
        })
        .collect();
    if pairs.is_empty() { None } else { Some(pairs.join("; ")) }
}
