//! Reading a job's `text/event-stream`: events out of arbitrary chunks, and
//! each log event as the line a terminal shows.

use serde_json::Value;

/// One server-sent event: its id (the event's seq) and its data.
#[derive(Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub data: String,
}

/// Splits a byte stream into events; keeps what is not yet a whole event.
#[derive(Default)]
pub struct SseParser {
    pending: String,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending
            .push_str(&String::from_utf8_lossy(chunk).replace('\r', ""));
        let mut events = Vec::new();
        while let Some(end) = self.pending.find("\n\n") {
            let block: String = self.pending.drain(..end + 2).collect();
            if let Some(event) = parse_block(&block) {
                events.push(event);
            }
        }
        events
    }
}

/// A block's `id:` and `data:` lines; comments (heartbeats) and blocks
/// without data are no event.
fn parse_block(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (!data.is_empty()).then(|| SseEvent {
        id,
        data: data.join("\n"),
    })
}

/// What one event of a job's stream means to the follower.
#[derive(Debug, PartialEq)]
pub enum LogEvent {
    /// A log line to print.
    Line(String),
    /// A host's progress (the page draws it; a terminal skips it).
    Progress,
    /// The job ended: nothing follows.
    End(String),
}

pub fn log_event(data: &str) -> Option<LogEvent> {
    let event: Value = serde_json::from_str(data).ok()?;
    let text = event["text"].as_str().unwrap_or_default().to_owned();
    let level = event["level"].as_str().unwrap_or_default();
    Some(match level {
        "progress" => LogEvent::Progress,
        "end" => LogEvent::End(text),
        _ => {
            let ts = event["ts"].as_str().unwrap_or_default();
            let prefix = match event["host"].as_str() {
                Some(host) => format!("{ts} {host}"),
                None => ts.to_owned(),
            };
            let marker = match level {
                "info" | "" => String::new(),
                other => format!("{other}: "),
            };
            LogEvent::Line(format!("{prefix}  {marker}{text}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_chunks_and_heartbeats_skipped() {
        let mut parser = SseParser::default();
        assert!(parser.push(b": heartbeat\n\nid: 4\nda").is_empty());
        let events = parser.push(b"ta: {\"a\":1}\r\n\r\nid: 5\ndata: x\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent {
                    id: Some(4),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some(5),
                    data: "x".into()
                },
            ]
        );
    }

    #[test]
    fn a_log_event_reads_as_a_line_and_the_end_as_the_end() {
        let line = r#"{"seq":3,"ts":"12:00:01.000","host":"web-1","level":"error","text":"boom"}"#;
        assert_eq!(
            log_event(line),
            Some(LogEvent::Line("12:00:01.000 web-1  error: boom".into()))
        );
        let info = r#"{"seq":4,"ts":"12:00:02.000","host":null,"level":"info","text":"switched"}"#;
        assert_eq!(
            log_event(info),
            Some(LogEvent::Line("12:00:02.000  switched".into()))
        );
        let end = r#"{"seq":9,"ts":"t","host":null,"level":"end","text":"succeeded"}"#;
        assert_eq!(log_event(end), Some(LogEvent::End("succeeded".into())));
        assert_eq!(log_event("not json"), None);
    }
}
