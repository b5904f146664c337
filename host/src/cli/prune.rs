//! `switchyard prune`: delete delivered events, finished runs and stopped hosts past their retention
//! (what the daemon also does by itself every hour; see `store::retention`).

use super::Failure;
use super::common::open_store;
use crate::store::retention::{self, Pruned, Retention};
use crate::workflow::records::now_ms;
use clap::Args;
use std::path::Path;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Delete outbox events delivered longer ago than this (undelivered events are always kept).
    #[arg(long, value_name = "AGE", default_value = "30d", value_parser = humantime::parse_duration)]
    pub events_older_than: Duration,
    /// Delete succeeded and failed runs, with their steps, that finished longer ago than this
    /// (pending, running, interrupted and attention-needing runs are always kept).
    #[arg(long, value_name = "AGE", default_value = "30d", value_parser = humantime::parse_duration)]
    pub runs_older_than: Duration,
    /// Delete hosts (daemon processes) that stopped longer ago than this.
    #[arg(long, value_name = "AGE", default_value = "7d", value_parser = humantime::parse_duration)]
    pub hosts_older_than: Duration,
    /// Only count what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(home: &Path, args: PruneArgs) -> Result<(), Failure> {
    let store = open_store(home).await?;
    let retention = Retention {
        delivered_events: args.events_older_than,
        finished_runs: args.runs_older_than,
        stopped_hosts: args.hosts_older_than,
    };
    if args.dry_run {
        let counted = retention::count(&store, &retention, now_ms()).await?;
        println!("would remove {} (dry run: nothing was deleted)", summary(&counted));
    } else {
        let pruned = retention::prune(&store, &retention, now_ms()).await?;
        println!("removed {}", summary(&pruned));
    }
    Ok(())
}

fn summary(pruned: &Pruned) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {} (with their steps), {}",
        plural(pruned.events, "delivered event", "delivered events"),
        plural(pruned.runs, "finished run", "finished runs"),
        plural(pruned.hosts, "stopped host", "stopped hosts"),
    )
}
