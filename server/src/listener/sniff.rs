//! Telling an event-stream request from any other by its first bytes.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Requests for a path under `/events/` are long-lived event streams.
const EVENT_STREAM: &[u8] = b"GET /events/";

/// At most this many bytes are read to decide.
pub const SNIFF_LEN: usize = EVENT_STREAM.len();

/// Who serves a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its first request asks for an event stream.
    EventStream,
    /// Anything else: hyper serves it.
    Other,
}

/// The verdict on a connection's first bytes, or `None` while they are
/// still a beginning of an event-stream request.
pub fn classify(first: &[u8]) -> Option<Verdict> {
    let n = first.len().min(SNIFF_LEN);
    if first[..n] != EVENT_STREAM[..n] {
        Some(Verdict::Other)
    } else if n == SNIFF_LEN {
        Some(Verdict::EventStream)
    } else {
        None
    }
}

/// Reads a connection's first bytes (never more than [`SNIFF_LEN`]) until
/// they decide. `None` when the client closed the connection first.
pub async fn sniff<IO: AsyncRead + Unpin>(
    io: &mut IO,
) -> io::Result<Option<(Verdict, [u8; SNIFF_LEN], usize)>> {
    let mut first = [0; SNIFF_LEN];
    let mut len = 0;
    loop {
        let n = io.read(&mut first[len..]).await?;
        if n == 0 {
            return Ok(None);
        }
        len += n;
        if let Some(verdict) = classify(&first[..len]) {
            return Ok(Some((verdict, first, len)));
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[test]
    fn an_event_stream_request_is_known_by_its_path() {
        assert_eq!(
            classify(b"GET /events/jobs/7 HTTP/1.1"),
            Some(Verdict::EventStream)
        );
        assert_eq!(classify(b"GET /events/"), Some(Verdict::EventStream));
    }

    #[test]
    fn every_other_request_is_hypers() {
        for first in [
            &b"GET / HTTP/1.1"[..],
            b"GET /api/jobs/7",
            b"POST /events/jobs/7",
            b"HEAD /events/jobs/7",
            b"PRI * HTTP/2.0",
            b"GET /eventsx",
            b"\x16\x03\x01",
        ] {
            assert_eq!(classify(first), Some(Verdict::Other), "{first:?}");
        }
    }

    #[test]
    fn a_beginning_of_the_path_is_undecided() {
        assert_eq!(classify(b""), None);
        assert_eq!(classify(b"GE"), None);
        assert_eq!(classify(b"GET /even"), None);
    }

    #[tokio::test]
    async fn bytes_that_arrive_one_by_one_are_read_until_they_decide() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let sniffing = tokio::spawn(async move { sniff(&mut server).await });
        for byte in b"GET /events/" {
            client.write_all(&[*byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        let (verdict, first, len) = sniffing.await.unwrap().unwrap().unwrap();
        assert_eq!(verdict, Verdict::EventStream);
        assert_eq!(&first[..len], b"GET /events/");
    }

    #[tokio::test]
    async fn a_closed_connection_has_no_verdict() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET").await.unwrap();
        drop(client);
        assert!(sniff(&mut server).await.unwrap().is_none());
    }
}
