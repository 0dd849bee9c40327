//! Strategy states between checkpoints. A backtest stores its strategy's state once per chunk of
//! bars (a checkpoint, in the chunk's last row), not after every bar: capturing and storing it
//! every bar cost more than everything else a run does. The states of the rows between are
//! re-derived on request by replaying the strategy from the checkpoint before them, one bar per
//! call as the run fed it. Strategies must be deterministic (`cgaf plugin test` checks it); the
//! replay checks each target it re-derives against the stored one, and each stored state it
//! passes, and refuses to answer states that differ.

use crate::runs::strategy_for;
use crate::strategy::PluginStrategy;
use crate::Error;
use cgaf_runtime::PluginHost;
use cgaf_store::{DecisionQuery, RunRow, Store};
use cgaf_trade_domain::{DecisionRow, Strategy};

/// Gives every row of `rows` (consecutive rows of `run`'s log, in `seq` order) its strategy
/// state: rows stored without one get the state replayed from the checkpoint before them.
/// Rows that have a state keep it. Errors when the replay does not reproduce the stored log
/// (a non-deterministic strategy) or the strategy fails.
pub async fn fill_strategy_states(
    store: &Store,
    host: &PluginHost,
    run: &RunRow,
    rows: &mut [DecisionRow],
) -> Result<(), Error> {
    let Some(first) = rows.iter().position(|r| r.strategy_state.is_none()) else {
        return Ok(());
    };
    let from_seq = rows[first].seq;
    let checkpoint = store.decision_checkpoint(run.run_id, from_seq).await?;
    let after = checkpoint.as_ref().map(|(seq, _)| *seq);
    // The rows between the checkpoint and the first row to fill: fed, not answered.
    let between = from_seq - after.map_or(0, |s| s + 1);
    let lead = if between > 0 {
        store.decisions(run.run_id, &DecisionQuery { after_seq: after, limit: between, ..Default::default() }).await?
    } else {
        Vec::new()
    };
    let mut from = run.clone();
    from.strategy_state = checkpoint.map(|(_, state)| state);
    let mut strategy = strategy_for(store, host, &from).await?;
    let rows = &mut rows[first..];
    tokio::task::block_in_place(|| -> Result<(), Error> {
        for row in &lead {
            replay_bar(&mut strategy, run, row)?;
        }
        for (expected, row) in (from_seq..).zip(rows.iter_mut()) {
            if row.seq != expected {
                return Err(Error::Invalid(format!("decision rows to replay skip from seq {expected} to {}", row.seq)));
            }
            replay_bar(&mut strategy, run, row)?;
            let state = strategy.state().map_err(cgaf_trade_domain::Error::from)?;
            match &row.strategy_state {
                None => row.strategy_state = Some(state),
                Some(stored) if *stored == state => {}
                Some(_) => return Err(not_reproduced(run, row.seq, "state")),
            }
        }
        Ok(())
    })
}

/// Feeds one stored row's bar to the strategy and checks its target against the stored one.
fn replay_bar(strategy: &mut PluginStrategy, run: &RunRow, row: &DecisionRow) -> Result<(), Error> {
    let decisions = strategy.decide(std::slice::from_ref(&row.market)).map_err(cgaf_trade_domain::Error::from)?;
    match decisions.as_slice() {
        [d] if d.target.to_bits() == row.target.to_bits() => Ok(()),
        _ => Err(not_reproduced(run, row.seq, "target")),
    }
}

/// The replay of `run` gave another `what` than the log stored at `seq`.
fn not_reproduced(run: &RunRow, seq: i64, what: &str) -> Error {
    Error::NotReproduced(format!(
        "replaying {}@{} from its checkpoint does not give the stored {what} at seq {seq}: the strategy \
         is not deterministic, so the states between checkpoints cannot be shown",
        run.spec.strategy, run.spec.strategy_version
    ))
}
