//! The opt-in PROXY-protocol listener (`proxy_protocol_bind`). Every connection on it must begin with
//! a PROXY protocol header, version 1 (text) or 2 (binary), parsed by the `ppp` crate; the source
//! address it names becomes the client for the rate limiter, counted whole and against that
//! listener's own limit. With Tor's `HiddenServiceExportCircuitID haproxy` the source is
//! `fc00:dead:beef:4dad::` plus the circuit id, so each circuit gets its own bucket instead of every
//! onion visitor sharing 127.0.0.1's. The address lives in the connection's extensions (RAM) only and,
//! like every address, reaches nothing but the limiter.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::rt::net::TcpStream;
use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The client address a connection's PROXY header named, kept in the connection's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proxied(pub IpAddr);

/// A version 1 header is at most 107 bytes; a version 2 header from Tor or HAProxy carries few TLVs.
const MAX_HEADER: usize = 2048;
/// A sender that has not finished its header by then is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection after its PROXY header: any bytes read past the header are served first.
pub struct Stream {
    rest: Vec<u8>,
    pos: usize,
    inner: TcpStream,
    /// None for `PROXY UNKNOWN`, a v2 `LOCAL` command or a non-IP family.
    pub source: Option<IpAddr>,
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.rest.len() {
            let n = buf.remaining().min(this.rest.len() - this.pos);
            buf.put_slice(&this.rest[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.rest.len() {
                this.rest = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// The header's length and the source address it names, once `buf` holds a whole header.
fn parse(buf: &[u8]) -> io::Result<Option<(usize, Option<IpAddr>)>> {
    let result = HeaderResult::parse(buf);
    if result.is_incomplete() {
        return if buf.len() >= MAX_HEADER { Err(invalid("PROXY header too long")) } else { Ok(None) };
    }
    Ok(Some(match result {
        HeaderResult::V1(Ok(h)) => {
            let source = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(IpAddr::V4(a.source_address)),
                v1::Addresses::Tcp6(a) => Some(IpAddr::V6(a.source_address)),
                v1::Addresses::Unknown => None,
            };
            (h.header.len(), source)
        }
        HeaderResult::V2(Ok(h)) => {
            let source = match (h.command, h.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => Some(IpAddr::V4(a.source_address)),
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => Some(IpAddr::V6(a.source_address)),
                _ => None,
            };
            (h.len(), source)
        }
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => return Err(invalid("no valid PROXY header")),
    }))
}

/// Read the PROXY header off a new connection. The peer handed on to HTTP is the header's source
/// (or, without one, the proxy itself, so that such clients share the listener's one bucket).
pub async fn accept(mut io: TcpStream) -> io::Result<(Stream, Option<SocketAddr>)> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    let (len, source) = loop {
        let n = actix_web::rt::time::timeout(HEADER_TIMEOUT, io.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY header in time"))??;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(found) = parse(&buf)? {
            break found;
        }
    };
    let peer = match source {
        Some(ip) => Some(SocketAddr::new(ip, 0)),
        None => io.peer_addr().ok(),
    };
    let rest = buf.split_off(len);
    let source = source.or_else(|| peer.map(|p| p.ip()));
    Ok((Stream { rest, pos: 0, inner: io, source }, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_headers_name_their_source() {
        let v1 = b"PROXY TCP6 fc00:dead:beef:4dad::7 ::1 65535 80\r\nGET / HTTP/1.1\r\n";
        let (len, source) = parse(v1).unwrap().unwrap();
        assert_eq!(&v1[len..len + 3], b"GET");
        assert_eq!(source, Some("fc00:dead:beef:4dad::7".parse().unwrap()));
        assert!(parse(b"PROXY TCP4 192.0.2.1 ").unwrap().is_none(), "incomplete: read more");
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n").is_err(), "a bare HTTP request is refused");
        let v2 = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (SocketAddr::from(([198, 51, 100, 7], 4000)), SocketAddr::from(([127, 0, 0, 1], 80))),
        )
        .build()
        .unwrap();
        let (len, source) = parse(&v2).unwrap().unwrap();
        assert_eq!(len, v2.len());
        assert_eq!(source, Some(IpAddr::from([198, 51, 100, 7])));
        assert!(parse(&v2[..10]).unwrap().is_none());
    }
}
