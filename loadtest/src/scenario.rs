//! From command-line arguments to a plan: validation, source addresses, and
//! on the hub the REST setup.

use crate::cli::{ChatArgs, FanoutArgs, IdleArgs, TargetArgs};
use crate::coordinator::RunOptions;
use crate::hub_setup::{self, Admin};
use crate::plan::{NetOptions, Plan, Scenario, Target};
use crate::spread;

/// The plan for `scenario` against `target`, with its run options.
pub async fn plan(
    target: &TargetArgs,
    scenario: Scenario,
    nofile_hard: u64,
) -> anyhow::Result<(Plan, RunOptions)> {
    let ws_urls = match target.target {
        Target::Hub => target.urls.iter().map(|u| spread::hub_ws_url(u)).collect(),
        Target::Raw => target.urls.clone(),
    };
    let mut plan = Plan {
        scenario,
        target: target.target,
        ws_urls,
        source_ips: Vec::new(),
        tokens: Vec::new(),
        rooms: Vec::new(),
        net: NetOptions {
            connect_concurrency: target.connect_concurrency,
            connect_timeout_ms: target.connect_timeout_secs * 1000,
            read_buffer: target.read_buffer,
        },
    };
    let sources = match target.source_ips {
        0 => spread::auto_source_count(plan.connections()),
        n => n,
    };
    plan.source_ips = spread::source_addresses(sources);

    match target.target {
        Target::Raw => {
            if plan.rooms_needed() > 1 {
                anyhow::bail!(
                    "the raw server has no rooms (one broadcast domain): use --rooms 1, or fanout"
                );
            }
            plan.rooms = vec!["raw".to_string(); plan.rooms_needed()];
        }
        Target::Hub => {
            let admin = Admin {
                email: target
                    .admin_email
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("--target hub needs --admin-email"))?,
                password: target
                    .admin_password
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("--target hub needs --admin-password"))?,
            };
            let users = target.users.clamp(1, plan.connections().max(1));
            let members = plan.room_members(users);
            let prepared = hub_setup::prepare(&target.urls[0], &admin, users, &members).await?;
            plan.tokens = prepared.tokens;
            plan.rooms = prepared.room_ids;
        }
    }
    let opts = RunOptions {
        workers: target.workers,
        worker_exe: std::env::current_exe().ok(),
        server_pids: target.server_pids.clone(),
        nofile_hard,
    };
    Ok((plan, opts))
}

pub fn idle(args: &IdleArgs) -> anyhow::Result<Scenario> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    Ok(Scenario::Idle {
        connections: args.connections,
        hold_secs: args.hold_secs,
        rooms: args.rooms,
    })
}

pub fn fanout(args: &FanoutArgs) -> anyhow::Result<Scenario> {
    anyhow::ensure!(args.subscribers > 0, "--subscribers must be at least 1");
    anyhow::ensure!(
        args.max_rate || (args.rate.is_finite() && args.rate > 0.0),
        "--rate must be positive"
    );
    anyhow::ensure!(
        args.duration > 0.0 && args.drain_secs >= 0.0,
        "bad --duration/--drain-secs"
    );
    Ok(Scenario::Fanout {
        subscribers: args.subscribers,
        rate: (!args.max_rate).then_some(args.rate),
        window: args.window.max(1),
        duration_secs: args.duration,
        drain_secs: args.drain_secs,
    })
}

pub fn chat(args: &ChatArgs) -> anyhow::Result<Scenario> {
    anyhow::ensure!(
        args.rooms > 0 && args.members > 0,
        "--rooms and --members must be at least 1"
    );
    anyhow::ensure!(
        args.rate_per_room.is_finite() && args.rate_per_room > 0.0,
        "--rate-per-room must be positive"
    );
    anyhow::ensure!(
        args.duration > 0.0 && args.drain_secs >= 0.0,
        "bad --duration/--drain-secs"
    );
    Ok(Scenario::Chat {
        rooms: args.rooms,
        members: args.members,
        rate_per_room: args.rate_per_room,
        duration_secs: args.duration,
        drain_secs: args.drain_secs,
    })
}
