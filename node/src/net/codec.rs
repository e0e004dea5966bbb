//! The block-sync request-response protocol: messages and their framing
//! (`specs/protocol.md` §3.3).

use std::io;

use futures::prelude::*;
use parity_scale_codec::{Decode, DecodeAll, Encode};

/// Protocol name of block sync.
pub const SYNC_PROTOCOL: &str = "/keel/sync/1";
/// Most blocks asked for or served in one response.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 64;
/// Largest request frame, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest response frame, in bytes (32 MiB: a server stops adding blocks before it).
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// A sync request. SCALE enum: 0 Status, 1 Blocks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// Ask for the peer's head.
    #[codec(index = 0)]
    Status,
    /// Ask for signed blocks `from, from + 1, ...` (at most `count`, capped at
    /// [`MAX_BLOCKS_PER_REQUEST`]).
    #[codec(index = 1)]
    Blocks {
        /// First height.
        from: u64,
        /// How many.
        count: u32,
    },
}

/// A sync response. SCALE enum: 0 Status, 1 Blocks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// The responder's head.
    #[codec(index = 0)]
    Status {
        /// Chain id.
        chain_id: u64,
        /// Head height.
        height: u64,
        /// Head header hash.
        head_hash: [u8; 32],
    },
    /// SCALE-encoded `SignedBlock`s, consecutive from the requested height (fewer than asked
    /// if the responder has fewer or the frame limit was reached; empty if none).
    #[codec(index = 1)]
    Blocks(Vec<Vec<u8>>),
}

/// Framing: a u32 big-endian length, then that many bytes of SCALE.
#[derive(Clone, Default)]
pub struct SyncCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds {max}")));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn decode<M: Decode>(bytes: &[u8]) -> io::Result<M> {
    M::decode_all(&mut &bytes[..]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

#[async_trait::async_trait]
impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<SyncRequest> {
        decode(&read_frame(io, MAX_REQUEST_BYTES).await?)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<SyncResponse> {
        decode(&read_frame(io, MAX_RESPONSE_BYTES).await?)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(&mut self, _: &Self::Protocol, io: &mut T, req: SyncRequest) -> io::Result<()> {
        write_frame(io, &req.encode()).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(&mut self, _: &Self::Protocol, io: &mut T, res: SyncResponse) -> io::Result<()> {
        write_frame(io, &res.encode()).await
    }
}
