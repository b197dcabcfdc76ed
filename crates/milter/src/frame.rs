//! Frame layer: a 4-byte big-endian length, a 1-byte code, then the data.
//!
//! The length counts the code byte and the data, so it is never zero. The
//! decoder is fed arbitrary chunks and yields whole frames; it checks the
//! announced length against a bound before it buffers the payload, so a peer
//! cannot make it allocate more than the bound.

use crate::error::ProtocolError;

/// Default bound on the announced length of one frame (code byte + data):
/// 1 MiB of data plus room for the code byte and a few fields.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1024 * 1024 + 64;

/// One frame: a command or response code and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command code (MTA to milter) or response code (milter to MTA).
    pub code: u8,
    /// The data after the code byte.
    pub data: Vec<u8>,
}

impl Frame {
    /// A frame with the given code and data.
    pub fn new(code: u8, data: Vec<u8>) -> Self {
        Frame { code, data }
    }

    /// The frame in wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.data.len());
        self.write_to(&mut out);
        out
    }

    /// Appends the frame in wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        encode_frame(self.code, &self.data, out);
    }
}

/// Appends one frame (length, code, data) to `out`.
///
/// # Panics
/// Never for data under 4 GiB; longer data cannot be framed and is cut at
/// `u32::MAX - 1` bytes, which no caller of this crate produces.
pub fn encode_frame(code: u8, data: &[u8], out: &mut Vec<u8>) {
    let data = &data[..data.len().min(u32::MAX as usize - 1)];
    let len = (data.len() + 1) as u32;
    out.reserve(5 + data.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(code);
    out.extend_from_slice(data);
}

/// Incremental frame decoder.
///
/// Feed it any chunking of the byte stream with [`FrameDecoder::feed`] and
/// drain whole frames with [`FrameDecoder::next_frame`]. After an error the
/// stream cannot be resynchronised; the decoder keeps returning that error.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_frame_len: u32,
    failed: Option<ProtocolError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder bounded by [`DEFAULT_MAX_FRAME_LEN`].
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A decoder that rejects frames whose announced length (code byte +
    /// data) exceeds `max_frame_len`. A bound under 1 is raised to 1.
    pub fn with_max_frame_len(max_frame_len: u32) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_frame_len: max_frame_len.max(1),
            failed: None,
        }
    }

    /// The bound on the announced length of one frame.
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && (self.start == self.buf.len() || self.start >= 64 * 1024) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or an
    /// error if the stream announced a zero-length or oversized frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let avail = &self.buf[self.start..];
        let Some(header) = avail.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header);
        if len == 0 {
            return Err(self.fail(ProtocolError::ZeroLengthFrame));
        }
        if len > self.max_frame_len {
            return Err(self.fail(ProtocolError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            }));
        }
        let total = 4 + len as usize;
        if avail.len() < total {
            return Ok(None);
        }
        let code = avail[4];
        let data = avail[5..total].to_vec();
        self.start += total;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(Frame { code, data }))
    }

    fn fail(&mut self, err: ProtocolError) -> ProtocolError {
        self.failed = Some(err.clone());
        self.buf = Vec::new();
        self.start = 0;
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_partial() {
        let f = Frame::new(b'B', b"hello".to_vec());
        let bytes = f.to_bytes();
        assert_eq!(bytes, b"\0\0\0\x06Bhello");
        let mut d = FrameDecoder::new();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(d.next_frame().unwrap(), None, "at byte {i}");
            d.feed(&[*b]);
        }
        assert_eq!(d.next_frame().unwrap(), Some(f));
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn several_frames_in_one_chunk() {
        let mut bytes = Frame::new(b'A', vec![]).to_bytes();
        bytes.extend(Frame::new(b'Q', vec![]).to_bytes());
        bytes.extend_from_slice(&[0, 0]);
        let mut d = FrameDecoder::new();
        d.feed(&bytes);
        assert_eq!(d.next_frame().unwrap().unwrap().code, b'A');
        assert_eq!(d.next_frame().unwrap().unwrap().code, b'Q');
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 2);
    }

    #[test]
    fn zero_length_is_rejected_and_sticky() {
        let mut d = FrameDecoder::new();
        d.feed(&[0, 0, 0, 0, b'A']);
        assert_eq!(d.next_frame(), Err(ProtocolError::ZeroLengthFrame));
        d.feed(&Frame::new(b'Q', vec![]).to_bytes());
        assert_eq!(d.next_frame(), Err(ProtocolError::ZeroLengthFrame));
    }

    #[test]
    fn oversized_is_rejected_before_the_payload_arrives() {
        let mut d = FrameDecoder::with_max_frame_len(16);
        d.feed(&17u32.to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(ProtocolError::FrameTooLarge { len: 17, max: 16 })
        );
        let mut d = FrameDecoder::with_max_frame_len(16);
        let f = Frame::new(b'B', vec![b'x'; 15]);
        d.feed(&f.to_bytes());
        assert_eq!(d.next_frame().unwrap(), Some(f));
        let mut d = FrameDecoder::new();
        d.feed(&u32::MAX.to_be_bytes());
        assert!(matches!(
            d.next_frame(),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }
}
