//! JSON-RPC 2.0 over HTTP (jsonrpsee). Methods, parameters (positional arrays) and
//! results are specified in `specs/protocol.md` §6. Byte strings are hex (an optional
//! `0x` prefix is accepted); u128 amounts are decimal strings.
//!
//! Errors: invalid parameters get code -32602 with a message naming the parameter;
//! a rejected transaction gets -32010 with the mempool's reason; unknown items (block,
//! receipt) return `null`; node-side failures get -32000.

use std::net::SocketAddr;

use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde::Serialize;

use crate::chain::{Receipt, ReceiptStatus, SignedTransaction, StoredBlock, TxAction};
use crate::consensus::parse_hex32;
use crate::state::{storage_key, Address};
use crate::validator::NodeApi;

/// Invalid parameters (JSON-RPC standard code).
pub const INVALID_PARAMS: i32 = -32602;
/// Node-side failure (database).
pub const INTERNAL: i32 = -32000;
/// The transaction was not admitted.
pub const TX_REJECTED: i32 = -32010;
/// The contract query could not run.
pub const QUERY_FAILED: i32 = -32011;
/// Largest request body, in bytes (a maximal transaction in hex plus framing).
pub const MAX_REQUEST_BODY: u32 = 10 << 20;

fn invalid(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, msg.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INTERNAL, e.to_string(), None::<()>)
}

/// Decodes a hex parameter (optional `0x`).
pub fn parse_hex(name: &str, s: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| invalid(format!("{name}: not hex: {e}")))
}

fn parse_addr(name: &str, s: &str) -> Result<Address, ErrorObjectOwned> {
    parse_hex32(s).map(Address).map_err(|e| invalid(format!("{name}: {e}")))
}

/// A receipt in JSON.
#[derive(Clone, Serialize)]
pub struct ReceiptJson {
    /// `success`, `revert`, `trap`, `out_of_gas` or `invalid_code`.
    pub status: &'static str,
    /// Revert message, trap kind or invalid-code reason.
    pub detail: Option<String>,
    /// Gas used.
    pub gas_used: u64,
    /// Return data, hex.
    pub return_data: String,
    /// Events: contract, topics and data in hex.
    pub events: Vec<serde_json::Value>,
    /// Block height (set by `keel_getReceipt`).
    pub block_height: Option<u64>,
    /// Position in the block.
    pub index: Option<u32>,
}

impl ReceiptJson {
    /// The JSON form of `r`.
    pub fn of(r: &Receipt) -> Self {
        let (status, detail) = match &r.status {
            ReceiptStatus::Success => ("success", None),
            ReceiptStatus::Revert(m) => ("revert", Some(String::from_utf8_lossy(m).into_owned())),
            ReceiptStatus::Trap(k) => ("trap", Some(format!("{k:?}"))),
            ReceiptStatus::OutOfGas => ("out_of_gas", None),
            ReceiptStatus::InvalidCode(m) => ("invalid_code", Some(m.clone())),
        };
        let events = r
            .events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "contract": hex::encode(e.contract.0),
                    "topics": e.topics.iter().map(hex::encode).collect::<Vec<_>>(),
                    "data": hex::encode(&e.data),
                })
            })
            .collect();
        Self { status, detail, gas_used: r.gas_used, return_data: hex::encode(&r.return_data), events, block_height: None, index: None }
    }
}

fn tx_json(t: &SignedTransaction) -> serde_json::Value {
    let (kind, detail) = match &t.tx.action {
        TxAction::Transfer { to, amount } => ("transfer", serde_json::json!({"to": hex::encode(to.0), "amount": amount.to_string()})),
        TxAction::Deploy { code, input, value } => ("deploy", serde_json::json!({"code_bytes": code.len(), "input": hex::encode(input), "value": value.to_string()})),
        TxAction::Call { contract, input, value } => ("call", serde_json::json!({"contract": hex::encode(contract.0), "input": hex::encode(input), "value": value.to_string()})),
    };
    serde_json::json!({
        "hash": hex::encode(t.hash()),
        "sender": hex::encode(t.tx.sender.0),
        "nonce": t.tx.nonce,
        "gas_limit": t.tx.gas_limit,
        "gas_price": t.tx.gas_price,
        "kind": kind,
        "action": detail,
    })
}

/// The JSON form of a stored block.
pub fn block_json(s: &StoredBlock) -> serde_json::Value {
    let h = &s.block.header;
    serde_json::json!({
        "hash": hex::encode(h.hash()),
        "chain_id": h.chain_id,
        "height": h.height,
        "parent_hash": hex::encode(h.parent_hash),
        "timestamp_ms": h.timestamp_ms,
        "proposer": hex::encode(h.proposer.0),
        "state_root": hex::encode(h.state_root),
        "transactions_root": hex::encode(h.transactions_root),
        "receipts_root": hex::encode(h.receipts_root),
        "cost_table_hash": hex::encode(h.cost_table_hash),
        "transactions": s.block.transactions.iter().map(tx_json).collect::<Vec<_>>(),
        "receipts": s.receipts.iter().map(ReceiptJson::of).collect::<Vec<_>>(),
    })
}

/// Gas limit of a read-only query (`keel_query`).
pub const QUERY_GAS: u64 = 100_000_000;

/// Read-only contract call on the head state, as the zero address, with [`QUERY_GAS`]:
/// runs `call` on the contract runtime and discards every state change.
fn query_contract(api: &NodeApi, contract: Address, input: Vec<u8>) -> Result<ReceiptJson, ErrorObjectOwned> {
    use crate::runtime::{on_executor, BlockEnv, CallParams, Runtime};
    let failed = |e: &dyn std::fmt::Display| ErrorObjectOwned::owned(QUERY_FAILED, e.to_string(), None::<()>);
    let rt = Runtime::shared().map_err(|e| failed(&e))?;
    let head = api.chain().head();
    let env = BlockEnv { height: head.height, timestamp_ms: head.timestamp_ms };
    let mut state = api.chain().db().latest().map(crate::state::WorkingState::new).map_err(internal)?;
    let params = CallParams { caller: Address([0; 32]), contract, input, value: 0, gas_limit: QUERY_GAS };
    let outcome = on_executor(rt.engine().config(), || rt.call(&mut state, &env, params))
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    let receipt = Receipt { status: outcome.status, gas_used: outcome.gas_used, return_data: outcome.return_data, events: outcome.events };
    Ok(ReceiptJson::of(&receipt))
}

/// The RPC methods over `api`.
pub fn module(api: NodeApi) -> RpcModule<NodeApi> {
    let mut m = RpcModule::new(api);
    // Registering distinct static names on a fresh module cannot fail.
    let reg = "method names are distinct";
    m.register_method("keel_status", |_, api, _| -> Result<_, ErrorObjectOwned> { Ok(api.status()) }).expect(reg);
    m.register_blocking_method("keel_sendTransaction", |p: Params, api, _| -> Result<String, ErrorObjectOwned> {
        let (h,): (String,) = p.parse()?;
        let bytes = parse_hex("transaction", &h)?;
        let stx = SignedTransaction::from_bytes(&bytes).map_err(|e| invalid(format!("transaction: {e}")))?;
        let hash = api.submit(stx).map_err(|e| ErrorObjectOwned::owned(TX_REJECTED, e.to_string(), None::<()>))?;
        Ok(hex::encode(hash))
    })
    .expect(reg);
    m.register_blocking_method("keel_getReceipt", |p: Params, api, _| -> Result<Option<ReceiptJson>, ErrorObjectOwned> {
        let (h,): (String,) = p.parse()?;
        let hash = parse_hex32(&h).map_err(|e| invalid(format!("transaction hash: {e}")))?;
        let Some((height, index)) = api.chain().tx_location(&hash).map_err(internal)? else { return Ok(None) };
        let Some(block) = api.chain().stored_block(height).map_err(internal)? else { return Ok(None) };
        let Some(r) = block.receipts.get(index as usize) else { return Ok(None) };
        let mut j = ReceiptJson::of(r);
        j.block_height = Some(height);
        j.index = Some(index);
        Ok(Some(j))
    })
    .expect(reg);
    m.register_blocking_method("keel_getBlock", |p: Params, api, _| -> Result<Option<serde_json::Value>, ErrorObjectOwned> {
        let (height,): (u64,) = p.parse()?;
        Ok(api.chain().stored_block(height).map_err(internal)?.as_ref().map(block_json))
    })
    .expect(reg);
    m.register_blocking_method("keel_getAccount", |p: Params, api, _| -> Result<serde_json::Value, ErrorObjectOwned> {
        let (a,): (String,) = p.parse()?;
        let addr = parse_addr("address", &a)?;
        let view = api.chain().db().latest().map_err(internal)?;
        let acc = view.account(&addr).map_err(internal)?;
        Ok(serde_json::json!({
            "address": hex::encode(addr.0),
            "balance": acc.balance.to_string(),
            "nonce": acc.nonce,
            "code_hash": acc.code_hash.map(hex::encode),
            "height": view.height(),
        }))
    })
    .expect(reg);
    m.register_blocking_method("keel_getStorage", |p: Params, api, _| -> Result<serde_json::Value, ErrorObjectOwned> {
        let (a, k): (String, String) = p.parse()?;
        let addr = parse_addr("address", &a)?;
        let key = parse_hex("key", &k)?;
        let view = api.chain().db().latest().map_err(internal)?;
        let (value, proof) = view.prove(&storage_key(&addr, &key)).map_err(internal)?;
        Ok(serde_json::json!({
            "value": value.map(hex::encode),
            "proof": hex::encode(proof.to_bytes()),
            "state_root": hex::encode(view.root().map_err(internal)?),
            "height": view.height(),
        }))
    })
    .expect(reg);
    m.register_blocking_method("keel_query", |p: Params, api, _| -> Result<ReceiptJson, ErrorObjectOwned> {
        let (c, i): (String, String) = p.parse()?;
        let contract = parse_addr("contract", &c)?;
        let input = parse_hex("input", &i)?;
        if input.len() > crate::chain::MAX_INPUT_SIZE {
            return Err(invalid(format!("input: {} bytes, the limit is {}", input.len(), crate::chain::MAX_INPUT_SIZE)));
        }
        query_contract(&api, contract, input)
    })
    .expect(reg);
    m
}

/// Starts the RPC server on `addr`. Returns its handle and bound address.
pub async fn serve(addr: SocketAddr, api: NodeApi) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let config = jsonrpsee::server::ServerConfig::builder().max_request_body_size(MAX_REQUEST_BODY).build();
    let server = Server::builder().set_config(config).build(addr).await?;
    let bound = server.local_addr()?;
    Ok((server.start(module(api)), bound))
}
