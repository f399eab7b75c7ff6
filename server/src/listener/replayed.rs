//! A connection whose first bytes were already read: they are read again
//! before the socket's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::sniff::SNIFF_LEN;

/// `io` with the `SNIFF_LEN` or fewer bytes read off it to choose who
/// serves it put back in front, so hyper reads the request whole.
pub struct Replayed<IO> {
    sniffed: [u8; SNIFF_LEN],
    len: usize,
    replayed: usize,
    io: IO,
}

impl<IO> Replayed<IO> {
    pub fn new(sniffed: &[u8], io: IO) -> Self {
        let mut bytes = [0; SNIFF_LEN];
        let len = sniffed.len().min(SNIFF_LEN);
        bytes[..len].copy_from_slice(&sniffed[..len]);
        Self {
            sniffed: bytes,
            len,
            replayed: 0,
            io,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Replayed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.len {
            let rest = &this.sniffed[this.replayed..this.len];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Replayed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn reads_the_sniffed_bytes_then_the_rest() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"T / HTTP/1.1\r\n\r\n").await.unwrap();
        drop(client);
        let mut replayed = Replayed::new(b"GE", server);
        let mut whole = String::new();
        replayed.read_to_string(&mut whole).await.unwrap();
        assert_eq!(whole, "GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn a_small_read_buffer_takes_the_sniffed_bytes_in_turns() {
        let (_client, server) = tokio::io::duplex(64);
        let mut replayed = Replayed::new(b"GET /", server);
        let mut two = [0u8; 2];
        replayed.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"GE");
        replayed.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"T ");
        let mut one = [0u8; 1];
        replayed.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"/");
    }
}
