//! The HTTP listening socket, tuned for a dashboard that many browsers
//! hold open streams to.

use std::io;
use std::net::SocketAddr;

use axum::serve::{Listener, ListenerExt};
use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel queues before `accept`: when a restart drops
/// every event stream, the browsers all reconnect at once, and a short
/// queue (tokio's default is 1,024) turns the surplus into one-second SYN
/// retries. The kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// Listens on `addr`, with `TCP_NODELAY` on every accepted connection
/// (pages stream out in several writes; with Nagle's algorithm the second
/// waits for the client's delayed ACK, 40 ms on Linux).
pub fn bind(addr: SocketAddr) -> io::Result<impl Listener<Addr = SocketAddr>> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener: TcpListener = socket.listen(BACKLOG)?;
    Ok(listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
        }
    }))
}
