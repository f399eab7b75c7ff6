//! Serving an event-stream connection without hyper.
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer for every
//! connection as long as it lives, and an event stream lives as long as
//! someone watches. Here the request's head is read into a buffer that is
//! freed once parsed, the router answers it as it answers any request (the
//! same sessions, tokens and handlers), and the answer is written out frame
//! by frame, each frame's buffer freed once written. The connection closes
//! after the one answer (`Connection: close`); `EventSource` opens a new one
//! to reconnect anyway.

use std::io;
use std::time::{Duration, SystemTime};

use axum::body::{Body, HttpBody};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{request, Request, Response, StatusCode, Uri, Version};
use axum::Router;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// A request's head may not be larger (its cookies included).
const MAX_HEAD: usize = 32 * 1024;
/// Most headers a request may carry.
const MAX_HEADERS: usize = 64;
/// How long the rest of the head may take once the first bytes came.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request's head was not read.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("the request's head is larger than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("the request's head is not HTTP/1.x: {0}")]
    Malformed(String),
    #[error("the request's head did not arrive within {HEAD_TIMEOUT:?}")]
    TimedOut,
    #[error("reading the request: {0}")]
    Io(#[from] io::Error),
}

impl HeadError {
    /// What the client is told, if anything.
    fn status(&self) -> Option<StatusCode> {
        match self {
            Self::TooLarge => Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
            Self::Malformed(_) => Some(StatusCode::BAD_REQUEST),
            Self::TimedOut => Some(StatusCode::REQUEST_TIMEOUT),
            Self::Io(_) => None,
        }
    }
}

/// Serves the one request on `io`, whose first bytes (`sniffed`) were read
/// already, through `router`, once `answering` gives it a turn.
///
/// Answering a request takes memory for a moment (its session, the
/// database reads); holding an event stream open takes little. So when a
/// crowd of watchers connects at once (a restart, a deploy everyone
/// watches), each waits for its turn holding only its parsed request, and
/// lets the next one go once its answer's head is written.
pub async fn serve<IO>(mut io: IO, sniffed: &[u8], router: Router, answering: &Semaphore)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let request = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut io, sniffed)).await {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return refuse(&mut io, e).await,
        Err(_) => return refuse(&mut io, HeadError::TimedOut).await,
    };
    let version = request.version();
    let (framing, body) = {
        // Never closed, so always a turn.
        let _turn = answering.acquire().await.ok();
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        };
        let framing = Framing::of(
            version,
            response.status(),
            response.body().size_hint().exact(),
        );
        if let Err(e) = io.write_all(&encode_head(&response, framing)).await {
            tracing::debug!(error = %e, "event stream connection lost before its answer");
            return;
        }
        (framing, response.into_body())
    };
    if let Err(e) = write_body(&mut io, framing, body).await {
        tracing::debug!(error = %e, "event stream connection ended");
    }
}

async fn refuse<IO: AsyncWrite + Unpin>(io: &mut IO, error: HeadError) {
    tracing::debug!(%error, "event stream request refused");
    if let Some(status) = error.status() {
        let mut answer = status_line(status);
        answer.extend_from_slice(b"content-length: 0\r\nconnection: close\r\n\r\n");
        let _ = io.write_all(&answer).await;
    }
}

/// Reads until the head is complete; the body of a GET is not read (the
/// connection closes after the answer).
async fn read_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    sniffed: &[u8],
) -> Result<Request<Body>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    head.extend_from_slice(sniffed);
    loop {
        if let Some(request) = parse_head(&head)? {
            return Ok(request);
        }
        if head.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        head.reserve(1024.min(MAX_HEAD - head.len()));
        if io.read_buf(&mut head).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
    }
}

/// The request in `bytes`, or `None` while its head is incomplete.
fn parse_head(bytes: &[u8]) -> Result<Option<Request<Body>>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let malformed = |what: &dyn std::fmt::Display| HeadError::Malformed(what.to_string());
    match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(malformed(&e)),
    }
    let (Some(method), Some(path), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(malformed(&"incomplete request line"));
    };
    let mut builder = request::Builder::new()
        .method(method)
        .uri(path.parse::<Uri>().map_err(|e| malformed(&e))?)
        .version(if minor == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        });
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|e| malformed(&e))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|e| malformed(&e))?;
        builder = builder.header(name, value);
    }
    builder
        .body(Body::empty())
        .map(Some)
        .map_err(|e| malformed(&e))
}

/// How an answer's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (204, 304).
    Empty,
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked` (HTTP/1.1).
    Chunked,
    /// The connection's end (HTTP/1.0).
    UntilClose,
}

impl Framing {
    fn of(version: Version, status: StatusCode, exact_len: Option<u64>) -> Self {
        if status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || status.is_informational()
        {
            Self::Empty
        } else if exact_len.is_some() {
            Self::Length
        } else if version == Version::HTTP_10 {
            Self::UntilClose
        } else {
            Self::Chunked
        }
    }

    /// One piece of the body as it goes on the wire.
    fn piece(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Chunked => {
                let size = format!("{:X}\r\n", data.len());
                let mut piece = Vec::with_capacity(size.len() + data.len() + 2);
                piece.extend_from_slice(size.as_bytes());
                piece.extend_from_slice(data);
                piece.extend_from_slice(b"\r\n");
                piece
            }
            Self::Empty | Self::Length | Self::UntilClose => data.to_vec(),
        }
    }

    fn end(self) -> &'static [u8] {
        match self {
            Self::Chunked => b"0\r\n\r\n",
            Self::Empty | Self::Length | Self::UntilClose => b"",
        }
    }
}

fn status_line(status: StatusCode) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes()
}

/// The answer's head: its status and headers, with this connection's own
/// framing, date and `Connection: close`.
fn encode_head(response: &Response<Body>, framing: Framing) -> Vec<u8> {
    let mut head = status_line(response.status());
    for (name, value) in response.headers() {
        if [
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::CONTENT_LENGTH,
        ]
        .contains(name)
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !response.headers().contains_key(header::DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match (framing, response.body().size_hint().exact()) {
        (Framing::Length, Some(len)) => {
            head.extend_from_slice(format!("content-length: {len}\r\n").as_bytes())
        }
        (Framing::Chunked, _) => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

/// What happened first while the answer streams.
enum Step {
    Data(Option<Result<axum::body::Bytes, axum::Error>>),
    ClientSpoke(io::Result<usize>),
}

/// Writes the answer's body, piece by piece as it yields them, until it
/// ends or the client leaves.
async fn write_body<IO>(io: &mut IO, framing: Framing, body: Body) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    if framing == Framing::Empty {
        return io.shutdown().await;
    }
    let mut body = body.into_data_stream();
    // Anything the client sends now is not a request this connection will
    // answer; reading it tells when the client has gone.
    let mut ignored = [0u8; 64];
    loop {
        let step = tokio::select! {
            data = body.next() => Step::Data(data),
            read = io.read(&mut ignored) => Step::ClientSpoke(read),
        };
        match step {
            Step::Data(Some(Ok(data))) if data.is_empty() => {}
            Step::Data(Some(Ok(data))) => io.write_all(&framing.piece(&data)).await?,
            // The answer breaks off without its end, so the client knows.
            Step::Data(Some(Err(e))) => return Err(io::Error::other(e)),
            Step::Data(None) => {
                io.write_all(framing.end()).await?;
                return io.shutdown().await;
            }
            Step::ClientSpoke(Ok(0)) => return Ok(()),
            Step::ClientSpoke(Ok(_)) => {}
            Step::ClientSpoke(Err(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    fn router() -> Router {
        Router::new()
            .route(
                "/events/echo",
                get(|headers: axum::http::HeaderMap| async move {
                    let cookie = headers
                        .get(header::COOKIE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned();
                    let stream = futures::stream::iter(["first ", "second ", "third"])
                        .map(Ok::<_, std::convert::Infallible>);
                    (
                        [(header::CONTENT_TYPE, "text/event-stream")],
                        [(HeaderName::from_static("x-cookie"), cookie)],
                        Body::from_stream(stream),
                    )
                }),
            )
            .route("/events/done", get(|| async { StatusCode::NO_CONTENT }))
            .route("/events/fixed", get(|| async { "fixed" }))
    }

    async fn exchange(request: &[u8]) -> String {
        let (mut client, server) = tokio::io::duplex(4096);
        let sniffed = &request[..request.len().min(12)];
        let serving = tokio::spawn({
            let sniffed = sniffed.to_vec();
            async move { serve(server, &sniffed, router(), &Semaphore::new(1)).await }
        });
        // A refused head is answered before all of it was sent: the rest
        // then meets a closed connection.
        let _ = client.write_all(&request[sniffed.len()..]).await;
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        serving.await.unwrap();
        answer
    }

    #[tokio::test]
    async fn a_streamed_answer_is_chunked_and_closes_the_connection() {
        let answer =
            exchange(b"GET /events/echo HTTP/1.1\r\nHost: x\r\nCookie: id=abc\r\n\r\n").await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: text/event-stream"),
            "{head}"
        );
        assert!(head.contains("\r\nx-cookie: id=abc"), "{head}");
        assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
        assert_eq!(
            body,
            "6\r\nfirst \r\n7\r\nsecond \r\n5\r\nthird\r\n0\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn http_1_0_gets_the_body_until_the_connection_closes() {
        let answer = exchange(b"GET /events/echo HTTP/1.0\r\n\r\n").await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert_eq!(body, "first second third");
    }

    #[tokio::test]
    async fn a_known_length_and_no_content_are_framed_as_such() {
        let fixed = exchange(b"GET /events/fixed HTTP/1.1\r\n\r\n").await;
        assert!(fixed.contains("\r\ncontent-length: 5\r\n"), "{fixed}");
        assert!(fixed.ends_with("\r\n\r\nfixed"), "{fixed}");
        let done = exchange(b"GET /events/done HTTP/1.1\r\n\r\n").await;
        assert!(done.starts_with("HTTP/1.1 204 No Content\r\n"), "{done}");
        assert!(done.ends_with("connection: close\r\n\r\n"), "{done}");
    }

    #[tokio::test]
    async fn an_unknown_path_gets_the_routers_answer() {
        let answer = exchange(b"GET /events/nothing HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    }

    #[tokio::test]
    async fn a_malformed_head_is_a_bad_request() {
        let answer = exchange(b"GET /events/echo HTTP/1.1\r\nno colon here\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_head_too_large_is_refused() {
        let mut request = b"GET /events/echo HTTP/1.1\r\nCookie: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        request.extend_from_slice(b"\r\n\r\n");
        let answer = exchange(&request).await;
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn the_stream_ends_when_the_client_leaves() {
        let (mut client, server) = tokio::io::duplex(4096);
        let router = Router::new().route(
            "/events/forever",
            get(|| async {
                Body::from_stream(futures::stream::pending::<
                    Result<String, std::convert::Infallible>,
                >())
            }),
        );
        let serving = tokio::spawn(async move {
            serve(server, b"GET /events/", router, &Semaphore::new(1)).await
        });
        client.write_all(b"forever HTTP/1.1\r\n\r\n").await.unwrap();
        let mut head = [0u8; 12];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .expect("the connection's task ends once the client has gone")
            .unwrap();
    }
}
