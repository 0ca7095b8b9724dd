//! A small incremental parser for Server-Sent Events: the server reads Anthropic's stream
//! with it, the tests `POST /api/v1/chat`. It holds only the bytes of the event being
//! received, never the whole answer, and a chunk may end anywhere (even mid-character).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// The most one event may hold (its data and the line being read): far above any real
/// event, and a bound on what a hostile stream without line ends or blank lines can make
/// us keep.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

#[derive(Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: String,
    overflowed: bool,
}

impl SseParser {
    /// Feeds a chunk of bytes; returns the events completed by it. Once an event grows past
    /// [`MAX_EVENT_BYTES`] the parser stops: [`Self::overflowed`] says so, and the stream
    /// should be treated as broken.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.push_with(chunk, |event, data| {
            out.push(SseEvent {
                event: event.to_owned(),
                data: data.to_owned(),
            });
        });
        out
    }

    /// As [`Self::push`], handing each completed event (its name, its data) to `on_event`
    /// instead of returning it: the parser's buffers are lent, not given away, so reading
    /// a stream allocates nothing per event or per line.
    pub fn push_with(&mut self, chunk: &[u8], mut on_event: impl FnMut(&str, &str)) {
        let mut rest = chunk;
        // A line at a time (or what there is of it): the bytes are searched (memchr, a
        // word or a vector at a time), not handled one by one.
        while !rest.is_empty() && !self.overflowed {
            let end = memchr::memchr(b'\n', rest);
            let piece = &rest[..end.unwrap_or(rest.len())];
            rest = &rest[end.map_or(rest.len(), |i| i + 1)..];
            if self.line.len() + piece.len() + self.data.len() + self.event.len() > MAX_EVENT_BYTES
            {
                self.overflowed = true;
                self.line = Vec::new();
                self.data = String::new();
                self.event = String::new();
                break;
            }
            self.line.extend_from_slice(piece);
            if end.is_some() {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                // Checked as UTF-8 (fast, and no copy); only a line that is not is
                // decoded lossily.
                match std::str::from_utf8(&line) {
                    Ok(text) => self.line_done(text, &mut on_event),
                    Err(_) => self.line_done(&String::from_utf8_lossy(&line), &mut on_event),
                }
                // The buffer is kept for the next line (unless a long line grew it).
                line.clear();
                if line.capacity() <= KEPT_CAPACITY {
                    self.line = line;
                }
            }
        }
    }

    /// Whether an event grew past [`MAX_EVENT_BYTES`] (nothing more is read).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn line_done(&mut self, line: &str, on_event: &mut impl FnMut(&str, &str)) {
        if line.is_empty() {
            if !self.data.is_empty() || !self.event.is_empty() {
                let event = if self.event.is_empty() {
                    "message"
                } else {
                    &self.event
                };
                on_event(event, &self.data);
                self.event.clear();
                self.data.clear();
                // A big event's buffer is not kept for the small ones after it: a
                // stream holds only what its current event needs.
                if self.data.capacity() > KEPT_CAPACITY {
                    self.data = String::new();
                }
            }
            return;
        }
        if line.starts_with(':') {
            return; // a comment (keep-alive)
        }
        let (field, value) = line
            .split_once(':')
            .map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)))
            .unwrap_or((line, ""));
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
    }
}

/// The most a parser's buffers keep between events.
const KEPT_CAPACITY: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_without_line_ends_or_blank_lines_is_bounded() {
        let mut parser = SseParser::default();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(MAX_EVENT_BYTES / chunk.len() + 2) {
            assert!(parser.push(&chunk).is_empty());
        }
        assert!(parser.overflowed());
        assert!(parser.line.capacity() == 0 && parser.data.is_empty());

        let mut parser = SseParser::default();
        let line = format!("data: {}\n", "y".repeat(1000));
        for _ in 0..(MAX_EVENT_BYTES / 1000 + 2) {
            assert!(parser.push(line.as_bytes()).is_empty());
        }
        assert!(parser.overflowed(), "many data lines without a blank line");
        assert!(
            parser.push(b"\n\ndata: late\n\n").is_empty(),
            "nothing after the cut"
        );
    }

    #[test]
    fn a_big_events_buffers_are_not_kept_for_the_next() {
        let mut parser = SseParser::default();
        let big = format!("data: {}\n\n", "z".repeat(100_000));
        assert_eq!(parser.push(big.as_bytes())[0].data.len(), 100_000);
        assert!(parser.data.capacity() <= KEPT_CAPACITY);
        assert!(parser.line.capacity() <= KEPT_CAPACITY);
        let events = parser.push(b"event: x\ndata: small\n\n");
        assert_eq!(
            (events[0].event.as_str(), events[0].data.as_str()),
            ("x", "small")
        );
    }

    #[test]
    fn parses_events_split_anywhere() {
        let stream = "event: ping\ndata: {\"type\":\"ping\"}\n\n: keep-alive\n\nevent: content_block_delta\r\ndata: {\"t\":\"h\u{e9}llo\"}\r\n\r\n";
        let bytes = stream.as_bytes();
        for split in 0..bytes.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&bytes[..split]);
            events.extend(parser.push(&bytes[split..]));
            assert_eq!(events.len(), 2, "split at {split}");
            assert_eq!(events[0].event, "ping");
            assert_eq!(events[1].event, "content_block_delta");
            assert_eq!(events[1].data, "{\"t\":\"h\u{e9}llo\"}");
        }
    }

    #[test]
    fn joins_multi_line_data() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data: a\ndata: b\n\n");
        assert_eq!(
            events,
            vec![SseEvent {
                event: "message".into(),
                data: "a\nb".into()
            }]
        );
    }

    /// Any bytes, split anywhere: never a panic, and the same events as one whole push.
    #[test]
    fn fuzz_sse_parser_is_split_invariant() {
        const FRAGMENTS: [&str; 14] = [
            "event: ",
            "data: ",
            "data:",
            "event:",
            ": ",
            "\n",
            "\r\n",
            "\n\n",
            "\r",
            "id: 1",
            "retry: 5",
            "{\"type\":\"ping\"}",
            "h\u{e9}llo",
            "content_block_delta",
        ];
        crate::fuzz::run("sse", |g| {
            let mut bytes = g.text(&FRAGMENTS, 40).into_bytes();
            if g.below(4) == 0 {
                bytes.extend(g.bytes(16));
            }
            let whole = SseParser::default().push(&bytes);
            let mut parser = SseParser::default();
            let mut pieces = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let at = 1 + g.below(rest.len());
                pieces.extend(parser.push(&rest[..at]));
                rest = &rest[at..];
            }
            assert_eq!(pieces, whole);
            for event in whole {
                assert!(!event.event.is_empty());
                assert!(!event.event.contains('\n'));
            }
        });
    }
}
