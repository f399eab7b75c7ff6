//! The HTTP listening socket, tuned for a dashboard that many browsers
//! hold open streams to.
//!
//! Every connection's first bytes choose who serves it: a request for an
//! event stream (`GET /events/…`) is served by [`direct`], which holds far
//! less memory per connection while the stream stays open; every other
//! connection goes to hyper (through `axum::serve`) with those bytes put
//! back in front.

mod direct;
mod replayed;
mod sniff;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::{Listener, ListenerExt};
use axum::Router;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

pub use replayed::Replayed;
use sniff::Verdict;

/// Connections the kernel queues before `accept`: when a restart drops
/// every event stream, the browsers all reconnect at once, and a short
/// queue (tokio's default is 1,024) turns the surplus into one-second SYN
/// retries. The kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// Sniffed connections waiting for hyper to take them.
const HANDOVER_QUEUE: usize = 1024;

/// Event-stream requests answered at once (see [`direct::serve`]); on two
/// cores more would only wait for the database and hold memory meanwhile.
const ANSWERING_AT_ONCE: usize = 32;

/// Listens on `addr`, with `TCP_NODELAY` on every accepted connection
/// (pages stream out in several writes; with Nagle's algorithm the second
/// waits for the client's delayed ACK, 40 ms on Linux). Event streams are
/// answered by `router` directly; the rest is for `axum::serve`.
pub fn bind(
    addr: SocketAddr,
    router: Router,
) -> io::Result<impl Listener<Io = Replayed<TcpStream>, Addr = SocketAddr>> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener: TcpListener = socket.listen(BACKLOG)?;
    let tcp = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
        }
    });
    let (handover, handed) = mpsc::channel(HANDOVER_QUEUE);
    Ok(SplitListener {
        tcp,
        router,
        answering: Arc::new(Semaphore::new(ANSWERING_AT_ONCE)),
        handover,
        handed,
    })
}

/// Accepts connections, sniffs each on a task of its own, serves event
/// streams and hands the rest on.
struct SplitListener<L> {
    tcp: L,
    router: Router,
    answering: Arc<Semaphore>,
    handover: mpsc::Sender<(Replayed<TcpStream>, SocketAddr)>,
    handed: mpsc::Receiver<(Replayed<TcpStream>, SocketAddr)>,
}

impl<L> Listener for SplitListener<L>
where
    L: Listener<Io = TcpStream, Addr = SocketAddr>,
{
    type Io = Replayed<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                Some(handed) = self.handed.recv() => return handed,
                (tcp, peer) = self.tcp.accept() => {
                    let direct = (self.router.clone(), self.answering.clone());
                    tokio::spawn(route(tcp, peer, direct, self.handover.clone()));
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `tcp` if its first request asks for an event stream, else hands
/// it to hyper.
async fn route(
    mut tcp: TcpStream,
    peer: SocketAddr,
    (router, answering): (Router, Arc<Semaphore>),
    handover: mpsc::Sender<(Replayed<TcpStream>, SocketAddr)>,
) {
    let (verdict, first, len) = match sniff::sniff(&mut tcp).await {
        Ok(Some(sniffed)) => sniffed,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "connection lost before its first request");
            return;
        }
    };
    match verdict {
        Verdict::EventStream => {
            direct::serve(tcp, &first[..len], router, &answering)
                .instrument(tracing::debug_span!("event stream connection", %peer))
                .await
        }
        // Fails only once the server stopped accepting: the connection closes.
        Verdict::Other => {
            let _ = handover
                .send((Replayed::new(&first[..len], tcp), peer))
                .await;
        }
    }
}
