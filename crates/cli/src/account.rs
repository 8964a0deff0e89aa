//! `veil account`: balances (proven) and transfers.

use clap::{Args, Subcommand};
use serde_json::json;
use std::{str::FromStr, time::Duration};
use veil_primitives::{AccountsCall, Balance, Call};

use crate::{
    CommandError,
    connect::{Connection, Output, Report, account, signer},
};

/// How long commands wait for their transaction to finalize.
pub(crate) const FINALITY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Subcommand, Debug)]
pub(crate) enum AccountCommand {
    /// An account's balance and nonce, proven against a finalized header.
    Balance {
        /// The account: an SS58 address, a 0x public key or a development account (//Alice).
        account: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Transfer native tokens and wait until the transfer is finalized.
    Transfer {
        /// Who pays and signs: a secret URI such as //Alice.
        #[arg(long)]
        from: String,
        /// Who receives: an SS58 address, a 0x public key or a development account (//Bob).
        #[arg(long)]
        to: String,
        /// How many tokens (decimals allowed, e.g. 2.5).
        amount: String,
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Options of commands that submit a transaction.
#[derive(Args, Debug)]
pub(crate) struct SubmitArgs {
    /// Return once the node accepted the transaction, without waiting for finality.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

pub(crate) fn run(command: AccountCommand, output: Output) -> Result<(), CommandError> {
    match command {
        AccountCommand::Balance { account: text, connection } => {
            let id = account(&text)?;
            let node = connection.node()?;
            let proven = node.account(&id)?;
            let (info, header) = (proven.value, proven.header);
            let named = if text.starts_with("//") { format!(" ({text})") } else { String::new() };
            output.emit(Report {
                text: format!(
                    "{id}{named}\n  balance: {}\n  nonce:   {}\n(proven at block {} {})\n",
                    info.balance,
                    info.nonce,
                    header.height,
                    header.hash()
                ),
                json: json!({
                    "address": id.to_string(),
                    "balance": info.balance.to_string(),
                    "balance_units": info.balance.0.to_string(),
                    "nonce": info.nonce,
                    "height": header.height,
                    "block_hash": header.hash().to_string(),
                }),
                quiet: info.balance.to_string(),
            })
        }
        AccountCommand::Transfer { from, to, amount, submit, connection } => {
            let from = signer(&from)?;
            let to = account(&to)?;
            let amount = Balance::from_str(&amount).map_err(|e| CommandError::BadInput(format!("amount: {e}")))?;
            let node = connection.node()?;
            let submitted = node.sign_and_submit(&from, Call::Accounts(AccountsCall::Transfer { to, amount }))?;
            let height =
                if submit.no_wait { None } else { Some(node.wait_finalized(&submitted.hash, FINALITY_TIMEOUT)?) };
            let status = height.map_or_else(|| "submitted".to_owned(), |height| format!("finalized in block {height}"));
            output.emit(Report {
                text: format!(
                    "Transfer of {amount} from {} to {to}: {status}\n  transaction {}\n",
                    from.public(),
                    submitted.hash
                ),
                json: json!({
                    "transaction": submitted.hash.to_string(),
                    "from": from.public().to_string(),
                    "to": to.to_string(),
                    "amount_units": amount.0.to_string(),
                    "nonce": submitted.nonce,
                    "height": height,
                }),
                quiet: submitted.hash.to_string(),
            })
        }
    }
}
