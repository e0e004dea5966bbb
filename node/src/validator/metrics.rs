//! Prometheus metrics of a node (text exposition format on `GET /metrics`).

use std::net::SocketAddr;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The node's metrics.
pub struct Metrics {
    /// `keel_block_height`: height of the head.
    pub height: Gauge,
    /// `keel_peers`: connected peers.
    pub peers: Gauge,
    /// `keel_transactions_total`: transactions in committed blocks.
    pub transactions: Counter,
    /// `keel_block_gas`: gas used by the last committed block.
    pub block_gas: Gauge,
    /// `keel_gossip_rejected_total`: gossip messages rejected as invalid.
    pub gossip_rejected: Counter,
    /// `keel_reorgs_total`: reorganisations to a preferred competing branch.
    pub reorgs: Counter,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keel");
        let m = Self {
            height: Gauge::default(),
            peers: Gauge::default(),
            transactions: Counter::default(),
            block_gas: Gauge::default(),
            gossip_rejected: Counter::default(),
            reorgs: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("block_height", "Height of the head block", m.height.clone());
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register("transactions", "Transactions in committed blocks", m.transactions.clone());
        registry.register("block_gas", "Gas used by the last committed block", m.block_gas.clone());
        registry.register("gossip_rejected", "Gossip messages rejected as invalid", m.gossip_rejected.clone());
        registry.register("reorgs", "Reorganisations to a preferred competing branch", m.reorgs.clone());
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves `metrics` over plain HTTP on `addr` until the task is aborted: every request
/// gets the text exposition. Returns the bound address.
pub async fn serve(addr: SocketAddr, metrics: std::sync::Arc<super::Shared>) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { continue };
            let body = metrics.metrics.encode();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // The request itself does not matter; read what arrived and answer.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf)).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok((bound, task))
}
