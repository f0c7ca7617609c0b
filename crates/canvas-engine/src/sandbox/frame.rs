//! The messages between the engine and a sandbox process, over the child's
//! stdin and stdout: `[length: u32 LE][kind: u8][payload]`, the length
//! counting kind and payload. Bulk data (input batches, records, files, log
//! lines) travels as raw bytes; the few structured messages as JSON.

use crate::script::{ScriptError, ScriptLimits};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// What a sandbox process writes first, so the engine can skip anything a
/// host program printed before handing over (a test harness's banner).
pub(crate) const HELLO: &[u8] = b"\0canvas-sandbox-1\0";

/// The largest frame either side accepts (a script's file is one frame).
const MAX_FRAME: usize = 512 << 20;

/// A block's script, as the engine hands it to a sandbox process.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Start {
    pub source: String,
    pub variables_json: String,
    pub limits: ScriptLimits,
    pub attempt: u32,
    pub handles_json: String,
    /// The whole input (its batches, JSON array texts), when the engine
    /// had it in memory: the script then never asks for a batch.
    #[serde(default)]
    pub input: Option<Vec<String>>,
}

/// Engine → sandbox.
#[derive(Debug)]
pub(crate) enum ToChild {
    Start(Box<Start>),
    /// An input batch (JSON array text), or `None` after the last.
    Batch(Option<String>),
    AppResult(String),
}

/// Sandbox → engine.
#[derive(Debug)]
pub(crate) enum ToParent {
    /// The script wants its next input batch.
    Next,
    Records(Vec<u8>, usize),
    File(String, Vec<u8>),
    AppCall(String, String, String),
    Log(String),
    /// The script finished; how many of the batches sent ahead it took.
    Done(u32),
    Failed(ScriptError, u32),
}

#[derive(Debug, PartialEq)]
pub(crate) struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

const START: u8 = 1;
const BATCH: u8 = 2;
const END_OF_INPUT: u8 = 3;
const APP_RESULT: u8 = 4;
const NEXT: u8 = 10;
const RECORDS: u8 = 11;
const FILE: u8 = 12;
const APP_CALL: u8 = 13;
const LOG: u8 = 14;
const DONE: u8 = 15;
const FAILED: u8 = 16;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sandbox frame: {what}"))
}

fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(invalid)
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain data serializes")
}

impl ToChild {
    pub fn frame(self) -> Frame {
        let (kind, payload) = match self {
            Self::Start(start) => (START, json(&start)),
            Self::Batch(Some(batch)) => (BATCH, batch.into_bytes()),
            Self::Batch(None) => (END_OF_INPUT, Vec::new()),
            Self::AppResult(result) => (APP_RESULT, result.into_bytes()),
        };
        Frame { kind, payload }
    }

    pub fn parse(frame: Frame) -> io::Result<Self> {
        Ok(match frame.kind {
            START => Self::Start(serde_json::from_slice(&frame.payload).map_err(invalid)?),
            BATCH => Self::Batch(Some(text(frame.payload)?)),
            END_OF_INPUT => Self::Batch(None),
            APP_RESULT => Self::AppResult(text(frame.payload)?),
            other => return Err(invalid(format!("unknown kind {other} for the sandbox"))),
        })
    }
}

impl ToParent {
    pub fn frame(self) -> Frame {
        let (kind, payload) = match self {
            Self::Next => (NEXT, Vec::new()),
            Self::Records(mut ndjson, count) => {
                ndjson.extend_from_slice(&(count as u64).to_le_bytes());
                (RECORDS, ndjson)
            }
            Self::File(name, content) => {
                let mut payload = (name.len() as u32).to_le_bytes().to_vec();
                payload.extend_from_slice(name.as_bytes());
                payload.extend_from_slice(&content);
                (FILE, payload)
            }
            Self::AppCall(app, op, args) => (APP_CALL, json(&(app, op, args))),
            Self::Log(line) => (LOG, line.into_bytes()),
            Self::Done(taken) => (DONE, taken.to_le_bytes().to_vec()),
            Self::Failed(error, taken) => (FAILED, json(&(error, taken))),
        };
        Frame { kind, payload }
    }

    pub fn parse(frame: Frame) -> io::Result<Self> {
        let mut payload = frame.payload;
        Ok(match frame.kind {
            NEXT => Self::Next,
            RECORDS => {
                let at = payload
                    .len()
                    .checked_sub(8)
                    .ok_or_else(|| invalid("short"))?;
                let count = u64::from_le_bytes(payload[at..].try_into().expect("8 bytes"));
                payload.truncate(at);
                Self::Records(payload, count as usize)
            }
            FILE => {
                let len = payload.get(..4).ok_or_else(|| invalid("short"))?;
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let name = payload.get(4..4 + len).ok_or_else(|| invalid("short"))?;
                let name = text(name.to_vec())?;
                Self::File(name, payload.split_off(4 + len))
            }
            APP_CALL => {
                let (app, op, args) = serde_json::from_slice(&payload).map_err(invalid)?;
                Self::AppCall(app, op, args)
            }
            LOG => Self::Log(text(payload)?),
            DONE => {
                let taken = payload.try_into().map_err(|_| invalid("short"))?;
                Self::Done(u32::from_le_bytes(taken))
            }
            FAILED => {
                let (error, taken) = serde_json::from_slice(&payload).map_err(invalid)?;
                Self::Failed(error, taken)
            }
            other => return Err(invalid(format!("unknown kind {other} for the engine"))),
        })
    }
}

impl Frame {
    /// The frame as it goes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.payload.len());
        out.extend_from_slice(&((self.payload.len() + 1) as u32).to_le_bytes());
        out.push(self.kind);
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())?;
        w.flush()
    }

    /// The frame's length from its header, checked.
    pub fn length(header: [u8; 4]) -> io::Result<usize> {
        let len = u32::from_le_bytes(header) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(invalid(format!("length {len}")));
        }
        Ok(len)
    }

    /// Builds a frame from its body (kind and payload).
    pub fn from_body(mut body: Vec<u8>) -> Self {
        let payload = body.split_off(1);
        Self {
            kind: body[0],
            payload,
        }
    }

    /// The next frame, `None` at the end of the stream (blocking; the sandbox's side).
    pub fn read_from(r: &mut impl Read) -> io::Result<Option<Self>> {
        let mut header = [0u8; 4];
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut body = vec![0u8; Self::length(header)?];
        r.read_exact(&mut body)?;
        Ok(Some(Self::from_body(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: ToParent) -> ToParent {
        let wire = message.frame().encode();
        let frame = Frame::read_from(&mut wire.as_slice()).unwrap().unwrap();
        ToParent::parse(frame).unwrap()
    }

    #[test]
    fn every_message_reads_back_as_it_was_written() {
        assert!(matches!(round_trip(ToParent::Records(b"{}\n".to_vec(), 1)),
            ToParent::Records(b, 1) if b == b"{}\n"));
        assert!(
            matches!(round_trip(ToParent::File("a.csv".into(), b"x,y".to_vec())),
            ToParent::File(n, c) if n == "a.csv" && c == b"x,y")
        );
        assert!(
            matches!(round_trip(ToParent::AppCall("HTTP".into(), "get".into(), "[]".into())),
            ToParent::AppCall(a, o, g) if a == "HTTP" && o == "get" && g == "[]")
        );
        assert!(matches!(
            round_trip(ToParent::Failed(ScriptError::CpuTime(5), 2)),
            ToParent::Failed(ScriptError::CpuTime(5), 2)
        ));
        assert!(matches!(round_trip(ToParent::Done(3)), ToParent::Done(3)));
        let wire = ToChild::Batch(None).frame().encode();
        let frame = Frame::read_from(&mut wire.as_slice()).unwrap().unwrap();
        assert!(matches!(
            ToChild::parse(frame).unwrap(),
            ToChild::Batch(None)
        ));
    }

    #[test]
    fn truncated_or_oversized_frames_are_errors_not_panics() {
        let wire = ToParent::File("a".into(), vec![]).frame().encode();
        assert!(Frame::read_from(&mut &wire[..wire.len() - 1]).is_err());
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(Frame::read_from(&mut huge.as_slice()).is_err());
        let short_file = Frame {
            kind: FILE,
            payload: vec![9, 0, 0, 0, b'a'],
        };
        assert!(ToParent::parse(short_file).is_err());
        let short_done = Frame {
            kind: DONE,
            payload: vec![1],
        };
        assert!(ToParent::parse(short_done).is_err());
        assert!(Frame::read_from(&mut [].as_slice()).unwrap().is_none());
    }
}
