//! Quality figures of live visits: every `stats_interval_secs` each visit this node has
//! placed is asked for its participants' stats, which are published on the visit's topic
//! (`visit.stats`). Hosts' sockets forward them as `visit_stats` pushes; the console turns
//! them into good / fair / poor indicators.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{bus::Event, state::AppState};

/// Runs until the task is aborted (at shutdown).
pub fn spawn_stats_loop(state: AppState) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(state.config.visits.stats_interval_secs);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for visit in state.visits.media.placed_visits() {
                let Some(reply) = state.visits.media.stats(&visit).await else {
                    continue;
                };
                let participants = summarize(&reply["participants"]);
                if participants.is_empty() {
                    continue;
                }
                crate::monitor::bus::share_visit_stats(&state, &visit, &participants).await;
                let _ = state
                    .bus
                    .publish(Event {
                        topic: super::topic(&visit),
                        kind: super::STATS.to_owned(),
                        payload: json!({ "visit": visit, "participants": participants }),
                    })
                    .await;
            }
        }
    })
}

/// The worker's figures in the protocol's shape (docs/visits.md, `visit_stats`).
fn summarize(participants: &Value) -> Vec<Value> {
    let Some(list) = participants.as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|p| {
            let loss = p["loss_in"]
                .as_f64()
                .unwrap_or(0.0)
                .max(p["loss_out"].as_f64().unwrap_or(0.0));
            json!({
                "participant": p["participant"],
                "connection_state": p["connection_state"],
                "bitrate_in_kbps": (p["bitrate_in_bps"].as_f64().unwrap_or(0.0) / 1000.0).round(),
                "bitrate_out_kbps": (p["bitrate_out_bps"].as_f64().unwrap_or(0.0) / 1000.0).round(),
                "packet_loss": loss,
                "jitter_ms": p["jitter_in_ms"],
                "rtt_ms": p["rtt_ms"],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_reshaped_with_the_worse_direction_as_loss() {
        let out = summarize(&json!([{
            "participant": "p", "connection_state": "connected",
            "bitrate_in_bps": 812_400.0, "bitrate_out_bps": 1_000.0,
            "loss_in": 0.01, "loss_out": 0.04, "jitter_in_ms": 3.5, "rtt_ms": 12.0
        }]));
        assert_eq!(out[0]["bitrate_in_kbps"], json!(812.0));
        assert_eq!(out[0]["packet_loss"], json!(0.04));
        assert_eq!(out[0]["rtt_ms"], json!(12.0));
    }
}
