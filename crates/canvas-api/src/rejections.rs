//! hyper answers a request head it cannot read (400), one too large (431)
//! or a URI too long (414) itself, with an empty body, before any handler
//! runs. This wrapper around a connection's stream rewrites exactly those
//! answers — a response head with `content-length: 0` and one of those
//! statuses, where our own answers always carry a `{State, Msg}` body — into
//! the same `{State, Msg}` JSON every other answer has.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub(crate) struct JsonRejections<T> {
    inner: T,
    /// A rewritten answer not yet all written.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonRejections<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonRejections<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonRejections<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonRejections<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if let Some(answer) = json_answer(buf) {
            this.pending = answer;
            // Written now or by the flush hyper makes next.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// What hyper says in its own words, said as every answer says it.
fn message(status: u16) -> Option<&'static str> {
    match status {
        400 => Some(
            "the request could not be read: its request line or a header is not valid HTTP/1.1",
        ),
        414 => Some("the request's URI is too long"),
        431 => Some("the request's headers are too large"),
        _ => None,
    }
}

/// `buf` rewritten with a `{State, Msg}` body, when it is exactly one of
/// hyper's own empty-bodied rejections.
fn json_answer(buf: &[u8]) -> Option<Vec<u8>> {
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.")?
        .get(2..5)?
        .parse()
        .ok()?;
    let msg = message(status)?;
    let headers: Vec<&str> = lines.collect();
    let empty = |l: &&str| l.eq_ignore_ascii_case("content-length: 0");
    if !headers.iter().any(empty) || headers.iter().any(|l| l.is_empty()) {
        return None;
    }
    let body = serde_json::json!({ "State": status, "Msg": msg }).to_string();
    let mut out = format!("{status_line}\r\n");
    for line in headers.iter().filter(|l| !empty(l)) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_rejections_are_rewritten() {
        let hyper =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(json_answer(hyper).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(out.contains("date: x\r\n") && !out.contains("content-length: 0\r\n"));
        assert!(out.ends_with(r#"{"State":431,"Msg":"the request's headers are too large"}"#));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(json_answer(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(json_answer(ok), None);
    }
}
