//! `veil block` and `veil tx`: finalized blocks (certificate verified) and transactions.

use clap::Args;
use serde_json::json;
use veil_client::{
    Node, TransactionState,
    api::node::{BlockView, TransactionStatusView, TransactionView},
};
use veil_primitives::{Block, Hash, SignedTransaction};

use crate::{
    CommandError,
    connect::{Connection, Output, Report},
};

#[derive(Args, Debug)]
pub(crate) struct BlockArgs {
    /// The height [default: the newest finalized block].
    height: Option<u64>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args, Debug)]
pub(crate) struct TxArgs {
    /// The transaction hash (0x and 64 hex digits).
    hash: String,
    #[command(flatten)]
    connection: Connection,
}

/// One line about a transaction's call, for people (the summary the node's API shows too).
pub(crate) fn describe(tx: &SignedTransaction) -> String {
    tx.transaction.call.summary(&tx.transaction.signer).to_string()
}

fn block_report(block: &Block) -> Report {
    let header = &block.header;
    let time = veil_attestation::time::format_rfc3339(header.timestamp_ms / 1_000);
    let mut text = format!(
        "Block {} {} (finalized; certificate and body verified)\n  time:       {time}\n  parent:     {}\n  state root: {}\n  transactions: {}\n",
        header.height,
        header.hash(),
        header.parent,
        header.state_root,
        block.transactions.len()
    );
    for tx in block.transactions.iter() {
        let call = describe(tx);
        text.push_str(&format!("    {} {} #{}: {call}\n", tx.hash(), tx.transaction.signer, tx.transaction.nonce));
    }
    text.push_str(&format!("  egress: {}\n", block.egress.len()));
    Report {
        text,
        // The node API's shape, built from the verified block.
        json: json!(BlockView::from_block(block)),
        quiet: header.hash().to_string(),
    }
}

pub(crate) fn block(args: BlockArgs, output: Output) -> Result<(), CommandError> {
    let node = args.connection.node()?;
    output.emit(block_report(&node.block(args.height)?))
}

pub(crate) fn tx(args: TxArgs, output: Output) -> Result<(), CommandError> {
    let hash: Hash = args.hash.parse().map_err(|_| {
        CommandError::BadInput(format!("{:?} is not a transaction hash (0x and 64 hex digits)", args.hash))
    })?;
    let node: Node = args.connection.node()?;
    let report = match node.transaction(&hash)? {
        TransactionState::Pending => Report {
            text: format!("Transaction {hash}: pending (in the node's pool, not yet in a finalized block)\n"),
            json: json!({ "status": TransactionStatusView { hash: hash.to_string(), status: "pending".into(), height: None, index: None } }),
            quiet: "pending".into(),
        },
        TransactionState::Finalized { height, index } => {
            let block = node.block(Some(height))?;
            let tx = block.transactions.get(index as usize).filter(|tx| tx.hash() == hash).ok_or_else(|| {
                CommandError::Negative(format!("block {height} does not hold transaction {hash} at {index}"))
            })?;
            // The node API's shapes: where it stands, and the verified transaction itself.
            let status = TransactionStatusView {
                hash: hash.to_string(),
                status: "finalized".into(),
                height: Some(height),
                index: Some(index),
            };
            let json = json!({ "status": status, "transaction": TransactionView::from_transaction(tx) });
            Report {
                text: format!(
                    "Transaction {hash}: finalized in block {height} (position {index}; verified)\n  signer: {} (nonce {})\n  call:   {}\n",
                    tx.transaction.signer,
                    tx.transaction.nonce,
                    describe(tx)
                ),
                json,
                quiet: "finalized".into(),
            }
        }
    };
    output.emit(report)
}
