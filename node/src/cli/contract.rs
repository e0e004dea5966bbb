//! `keel contract deploy | call | query` and `keel transfer`: signed transactions and
//! read-only calls against a node's JSON-RPC.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use parity_scale_codec::Encode;

use super::net::read_key;
use crate::chain::{address_of, Transaction, TxAction, TRANSFER_GAS};
use crate::consensus::parse_hex32;
use crate::state::{contract_address, Address};

/// Where the node is and who signs.
#[derive(Debug, Args)]
pub struct Conn {
    /// The node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
}

/// Transaction options.
#[derive(Debug, Args)]
pub struct Signer {
    /// Key file of the sender (64 hex digits).
    #[arg(long)]
    pub key: PathBuf,
    /// Gas limit.
    #[arg(long, default_value_t = 5_000_000)]
    pub gas: u64,
    /// Gas price.
    #[arg(long, default_value_t = 1)]
    pub gas_price: u64,
    /// Value sent along (decimal).
    #[arg(long, default_value_t = 0)]
    pub value: u128,
    /// Do not wait for the receipt.
    #[arg(long)]
    pub no_wait: bool,
}

/// `keel contract ...`.
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Deploy a contract; its constructor gets ARGS (typed, see `call`).
    Deploy {
        /// The module (.wasm).
        file: PathBuf,
        /// Constructor arguments.
        args: Vec<String>,
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        signer: Signer,
    },
    /// Call METHOD of the contract at ADDRESS in a transaction. ARGS are typed:
    /// `u8:1 u32:7 u64:7 u128:100 bool:true str:hello addr:<64 hex> bytes:<hex>`; the
    /// call data is `SCALE(method) ‖ SCALE(arg)...` (`contracts/sdk`).
    Call {
        /// Contract address (64 hex digits).
        address: String,
        /// Method name.
        method: String,
        /// Arguments.
        args: Vec<String>,
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        signer: Signer,
    },
    /// Read-only call of METHOD (no transaction, no state change); prints the return data.
    Query {
        /// Contract address (64 hex digits).
        address: String,
        /// Method name.
        method: String,
        /// Arguments (typed, see `call`).
        args: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

/// `keel transfer`: a native transfer.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Recipient address (64 hex digits).
    pub to: String,
    /// Amount (decimal).
    pub amount: u128,
    #[command(flatten)]
    pub conn: Conn,
    #[command(flatten)]
    pub signer: Signer,
}

/// SCALE-encodes one typed argument `type:value`.
pub fn encode_arg(arg: &str) -> Result<Vec<u8>> {
    let (ty, v) = arg.split_once(':').with_context(|| format!("argument `{arg}`: expected type:value (e.g. u64:5)"))?;
    let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("argument `{arg}`: {e}");
    Ok(match ty {
        "u8" => v.parse::<u8>().map_err(|e| bad(&e))?.encode(),
        "u32" => v.parse::<u32>().map_err(|e| bad(&e))?.encode(),
        "u64" => v.parse::<u64>().map_err(|e| bad(&e))?.encode(),
        "u128" => v.parse::<u128>().map_err(|e| bad(&e))?.encode(),
        "i64" => v.parse::<i64>().map_err(|e| bad(&e))?.encode(),
        "bool" => v.parse::<bool>().map_err(|e| bad(&e))?.encode(),
        "str" => v.to_string().encode(),
        "addr" => parse_hex32(v).map_err(|e| bad(&e))?.encode(),
        "bytes" => hex::decode(v.strip_prefix("0x").unwrap_or(v)).map_err(|e| bad(&e))?.encode(),
        _ => bail!("argument `{arg}`: unknown type `{ty}` (u8 u32 u64 u128 i64 bool str addr bytes)"),
    })
}

/// Call data: `SCALE(method) ‖ SCALE(args...)`.
pub fn call_data(method: &str, args: &[String]) -> Result<Vec<u8>> {
    let mut d = method.to_string().encode();
    for a in args {
        d.extend(encode_arg(a)?);
    }
    Ok(d)
}

fn client(url: &str) -> Result<HttpClient> {
    HttpClientBuilder::default().request_timeout(Duration::from_secs(30)).build(url).with_context(|| format!("RPC URL {url}"))
}

async fn send(c: &HttpClient, signer: &Signer, action: TxAction) -> Result<()> {
    let key = read_key(&signer.key)?;
    let sender = address_of(&key.verifying_key());
    let status: serde_json::Value = c.request("keel_status", rpc_params![]).await.context("keel_status")?;
    let chain_id = status["chain_id"].as_u64().context("keel_status: no chain_id")?;
    let account: serde_json::Value = c.request("keel_getAccount", rpc_params![hex::encode(sender.0)]).await.context("keel_getAccount")?;
    let nonce = account["nonce"].as_u64().context("keel_getAccount: no nonce")?;
    let created = matches!(action, TxAction::Deploy { .. }).then(|| contract_address(&sender, nonce));
    let tx = Transaction { chain_id, sender, nonce, gas_limit: signer.gas, gas_price: signer.gas_price, action }.sign(&key);
    let hash: String = c.request("keel_sendTransaction", rpc_params![hex::encode(tx.to_bytes())]).await.context("keel_sendTransaction")?;
    println!("transaction {hash}");
    if let Some(a) = created {
        println!("contract address {}", hex::encode(a.0));
    }
    if signer.no_wait {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r: Option<serde_json::Value> = c.request("keel_getReceipt", rpc_params![hash.clone()]).await?;
        if let Some(r) = r {
            println!("{}", serde_json::to_string_pretty(&r)?);
            if r["status"] != "success" {
                bail!("transaction did not succeed");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no receipt after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn parse_address(s: &str) -> Result<Address> {
    parse_hex32(s).map(Address).map_err(|e| anyhow::anyhow!("address: {e}"))
}

/// Runs `keel contract ...`.
pub fn contract(cmd: ContractCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        match cmd {
            ContractCommand::Deploy { file, args, conn, signer } => {
                let code = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let mut input = Vec::new();
                for a in &args {
                    input.extend(encode_arg(a)?);
                }
                send(&client(&conn.rpc)?, &signer, TxAction::Deploy { code, input, value: signer.value }).await
            }
            ContractCommand::Call { address, method, args, conn, signer } => {
                let contract = parse_address(&address)?;
                let input = call_data(&method, &args)?;
                send(&client(&conn.rpc)?, &signer, TxAction::Call { contract, input, value: signer.value }).await
            }
            ContractCommand::Query { address, method, args, conn } => {
                parse_address(&address)?;
                let input = call_data(&method, &args)?;
                let out: serde_json::Value = client(&conn.rpc)?.request("keel_query", rpc_params![address, hex::encode(input)]).await?;
                println!("{}", serde_json::to_string_pretty(&out)?);
                Ok(())
            }
        }
    })
}

/// Runs `keel transfer`.
pub fn transfer(args: TransferArgs) -> Result<()> {
    let to = parse_address(&args.to)?;
    let mut signer = args.signer;
    if signer.gas == 5_000_000 {
        signer.gas = TRANSFER_GAS;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move { send(&client(&args.conn.rpc)?, &signer, TxAction::Transfer { to, amount: args.amount }).await })
}
