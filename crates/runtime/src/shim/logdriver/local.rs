//! Docker's `local` log format: each entry a protobuf `LogEntry` (moby's
//! `api/types/plugins/logdriver/entry.proto`) between two copies of its
//! length, 4 bytes big-endian, so a reader can walk the file backwards from
//! its end for `--tail`. The line is stored without its newline; a reader
//! adds it back unless the entry is a piece of a longer line that is not
//! the last one, as dockerd's decoder does.

use super::Message;

/// Bytes of each of the two lengths around an entry.
pub const LEN_BYTES: usize = 4;
/// dockerd refuses to decode larger entries (its `maxMsgLen`).
pub const MAX_ENTRY: usize = 1_000_000;

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogEntry {
    #[prost(string, tag = "1")]
    pub source: String,
    #[prost(int64, tag = "2")]
    pub time_nano: i64,
    #[prost(bytes = "vec", tag = "3")]
    pub line: Vec<u8>,
    #[prost(bool, tag = "4")]
    pub partial: bool,
    #[prost(message, optional, tag = "5")]
    pub partial_log_metadata: Option<PartialLogEntryMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialLogEntryMetadata {
    #[prost(bool, tag = "1")]
    pub last: bool,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(int32, tag = "3")]
    pub ordinal: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("log message is too large ({0} > {MAX_ENTRY})")]
    TooLarge(usize),
    #[error("log message header and footer indicate different message sizes")]
    Mismatch,
    #[error("error unmarshalling log entry: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// The length a frame's first (or last) 4 bytes give.
pub fn entry_len(len_bytes: &[u8]) -> usize {
    let mut b = [0u8; LEN_BYTES];
    b.copy_from_slice(&len_bytes[..LEN_BYTES]);
    u32::from_be_bytes(b) as usize
}

/// Decodes one whole frame (both lengths included).
pub fn decode_frame(frame: &[u8]) -> Result<LogEntry, FrameError> {
    let len = entry_len(frame);
    if len > MAX_ENTRY {
        return Err(FrameError::TooLarge(len));
    }
    if frame.len() != len + 2 * LEN_BYTES || entry_len(&frame[LEN_BYTES + len..]) != len {
        return Err(FrameError::Mismatch);
    }
    Ok(<LogEntry as prost::Message>::decode(
        &frame[LEN_BYTES..LEN_BYTES + len],
    )?)
}

impl LogEntry {
    /// Appends the entry's frame to `out`.
    pub fn frame(&self, out: &mut Vec<u8>) {
        use prost::Message as _;
        let len = self.encoded_len();
        let len_bytes = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
        out.reserve(len + 2 * LEN_BYTES);
        out.extend_from_slice(&len_bytes);
        // Encoding into a Vec cannot run out of room.
        let _ = self.encode(out);
        out.extend_from_slice(&len_bytes);
    }

    /// The line as `docker logs` shows it: with its newline unless it is a
    /// piece that more of the line follows.
    pub fn into_line(self) -> Vec<u8> {
        let mut line = self.line;
        let cut = self.partial && !self.partial_log_metadata.is_some_and(|p| p.last);
        if !cut {
            line.push(b'\n');
        }
        line
    }
}

/// Encodes messages into frames, reusing one entry's buffers.
#[derive(Default)]
pub struct Encoder {
    entry: LogEntry,
}

impl Encoder {
    /// Appends `msg`'s frame to `out`.
    pub fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) {
        let e = &mut self.entry;
        e.source.clear();
        e.source.push_str(msg.stream.name());
        e.time_nano = msg.time.timestamp_nanos_opt().unwrap_or_default();
        e.line.clear();
        e.line.extend_from_slice(msg.text());
        e.partial = msg.partial.is_some();
        e.partial_log_metadata = msg.partial.as_ref().map(|p| PartialLogEntryMetadata {
            last: p.last,
            id: p.id.clone(),
            ordinal: i32::try_from(p.ordinal).unwrap_or(i32::MAX),
        });
        e.frame(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Partial;
    use super::*;
    use crate::shim::StdStream;

    #[test]
    fn frames_round_trip_with_the_wire_bytes_of_moby() {
        let time = chrono::DateTime::from_timestamp(1, 5).unwrap();
        let mut out = Vec::new();
        let mut enc = Encoder::default();
        enc.encode(
            &Message {
                stream: StdStream::Stdout,
                time,
                line: b"hi\n",
                partial: None,
            },
            &mut out,
        );
        // source=1 "stdout", time_nano=2 1000000005, line=3 "hi"; partial false: absent.
        let body: &[u8] = &[
            0x0a, 6, b's', b't', b'd', b'o', b'u', b't', 0x10, 0x85, 0x94, 0xeb, 0xdc, 0x03, 0x1a,
            2, b'h', b'i',
        ];
        let mut want = (body.len() as u32).to_be_bytes().to_vec();
        want.extend_from_slice(body);
        want.extend_from_slice(&(body.len() as u32).to_be_bytes());
        assert_eq!(out, want);
        let e = decode_frame(&out).unwrap();
        assert_eq!(e.time_nano, 1_000_000_005);
        assert_eq!(e.into_line(), b"hi\n");

        out.clear();
        enc.encode(
            &Message {
                stream: StdStream::Stderr,
                time,
                line: b"abc",
                partial: Some(Partial {
                    id: "x".into(),
                    ordinal: 1,
                    last: false,
                }),
            },
            &mut out,
        );
        let e = decode_frame(&out).unwrap();
        assert_eq!(e.source, "stderr");
        assert!(e.partial);
        assert_eq!(e.partial_log_metadata.as_ref().unwrap().ordinal, 1);
        assert_eq!(e.into_line(), b"abc");
        let n = out.len();
        out[n - 1] ^= 1;
        assert!(matches!(decode_frame(&out), Err(FrameError::Mismatch)));
    }
}
