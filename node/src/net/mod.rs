//! The peer-to-peer network (rust-libp2p): TCP with noise and yamux; identify; gossipsub
//! topics for transactions and blocks, with application-level message validation and peer
//! scoring; request-response block sync; optional mDNS discovery. Wire formats are in
//! `specs/protocol.md` §3.
//!
//! This module builds the swarm and names the protocols; the validator service
//! ([`crate::validator`]) drives it and decides what every received message is worth.

mod codec;

use std::time::Duration;

use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams, ValidationMode};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, identity, mdns, noise, request_response, tcp, yamux, StreamProtocol, Swarm};

pub use codec::{SyncCodec, SyncRequest, SyncResponse, MAX_BLOCKS_PER_REQUEST, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SYNC_PROTOCOL};

use crate::chain::MAX_TX_SIZE;
use crate::consensus::MAX_SIGNED_BLOCK_SIZE;

/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/keel/id/1";

/// Most transactions in one gossip message of the transaction topic.
pub const MAX_TXS_PER_GOSSIP: usize = 1024;

/// Encodes a transaction batch for the transaction topic: `SCALE(Vec<SignedTransaction>)`
/// from already-encoded transactions.
pub fn encode_tx_batch(encoded: &[Vec<u8>]) -> Vec<u8> {
    use parity_scale_codec::{Compact, Encode};
    let mut out = Compact(encoded.len() as u32).encode();
    for e in encoded {
        out.extend_from_slice(e);
    }
    out
}

/// Decodes an untrusted transaction batch: at most [`MAX_TXS_PER_GOSSIP`] transactions,
/// no trailing bytes, each within its size limits.
pub fn decode_tx_batch(bytes: &[u8]) -> Result<Vec<crate::chain::SignedTransaction>, crate::chain::DecodeError> {
    use parity_scale_codec::{Compact, Decode, DecodeAll};
    let malformed = |e: parity_scale_codec::Error| crate::chain::DecodeError::Malformed(e.to_string());
    let n = Compact::<u32>::decode(&mut &bytes[..]).map_err(malformed)?.0 as usize;
    if n == 0 || n > MAX_TXS_PER_GOSSIP {
        return Err(crate::chain::DecodeError::Malformed(format!("batch of {n} transactions (1..={MAX_TXS_PER_GOSSIP})")));
    }
    let txs = Vec::<crate::chain::SignedTransaction>::decode_all(&mut &bytes[..]).map_err(malformed)?;
    for t in &txs {
        t.check_limits()?;
    }
    Ok(txs)
}

/// Gossipsub topic of transaction batches (`SCALE(Vec<SignedTransaction>)`, 1 to
/// [`MAX_TXS_PER_GOSSIP`]) on chain `chain_id`.
pub fn tx_topic(chain_id: u64) -> IdentTopic {
    IdentTopic::new(format!("/keel/{chain_id}/txs/1"))
}

/// Gossipsub topic of SCALE-encoded signed blocks on chain `chain_id`.
pub fn block_topic(chain_id: u64) -> IdentTopic {
    IdentTopic::new(format!("/keel/{chain_id}/blocks/1"))
}

/// Score below which a peer's gossip is no longer propagated or accepted, and below which
/// the service disconnects it (gossipsub's graylist threshold).
pub const GRAYLIST_THRESHOLD: f64 = -80.0;

/// The node's composed behaviour: one derived `NetworkBehaviour`, one event stream.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Transaction and block gossip.
    pub gossipsub: gossipsub::Behaviour,
    /// Exchange of listen addresses and protocol versions.
    pub identify: identify::Behaviour,
    /// Block sync by height range.
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Local-network discovery (off unless configured).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Transport, gossipsub or mDNS setup failed.
    #[error("network setup: {0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(e: E) -> NetError {
    NetError::Setup(e.to_string())
}

/// Peer-scoring parameters: invalid messages on either topic cost a peer
/// `-10 × count²` (decaying), which reaches [`GRAYLIST_THRESHOLD`] after three invalid
/// messages in a short time.
pub fn score_params(chain_id: u64) -> (PeerScoreParams, PeerScoreThresholds) {
    let mut params = PeerScoreParams::default();
    for topic in [tx_topic(chain_id), block_topic(chain_id)] {
        let tp = TopicScoreParams {
            topic_weight: 1.0,
            // Small networks: do not punish for slow mesh deliveries, only for invalid data.
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            first_message_deliveries_weight: 0.1,
            time_in_mesh_weight: 0.0,
            invalid_message_deliveries_weight: -10.0,
            invalid_message_deliveries_decay: 0.9,
            ..TopicScoreParams::default()
        };
        params.topics.insert(topic.hash(), tp);
    }
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: GRAYLIST_THRESHOLD,
        ..PeerScoreThresholds::default()
    };
    (params, thresholds)
}

/// Builds the swarm for chain `chain_id` with identity `key`: TCP + noise + yamux,
/// gossipsub with signed messages, explicit validation (nothing is relayed before the
/// service accepts it), content-addressed message ids and peer scoring; identify; block
/// sync; mDNS if `mdns`.
pub fn build_swarm(key: identity::Keypair, chain_id: u64, mdns: bool) -> Result<Swarm<Behaviour>, NetError> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(setup)?
        .with_behaviour(|key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
            let gs_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(250))
                .validation_mode(ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(MAX_SIGNED_BLOCK_SIZE.max(MAX_TX_SIZE) + 4096)
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec()))
                .duplicate_cache_time(Duration::from_secs(120))
                .build()
                .map_err(|e| e.to_string())?;
            let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gs_config)?;
            let (params, thresholds) = score_params(chain_id);
            gossipsub.with_peer_score(params, thresholds)?;
            let identify = identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public()));
            let sync = request_response::Behaviour::new(
                [(StreamProtocol::new(SYNC_PROTOCOL), request_response::ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
            );
            let mdns = if mdns {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())?)
            } else {
                None
            };
            Ok(Behaviour { gossipsub, identify, sync, mdns: Toggle::from(mdns) })
        })
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    Ok(swarm)
}

/// The libp2p identity of a validator: the same ed25519 key that signs its blocks.
pub fn identity_of(key: &ed25519_dalek::SigningKey) -> identity::Keypair {
    let mut secret = key.to_bytes();
    // 32 bytes are always a valid ed25519 secret key.
    identity::Keypair::ed25519_from_bytes(&mut secret).expect("32-byte ed25519 secret")
}
