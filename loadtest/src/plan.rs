//! What a run does, decided once by the coordinator and handed to every
//! worker (in process, or as one JSON line on a worker process's stdin).
//!
//! Everything per connection (its role, room, server, source address, token)
//! is a pure function of its index, so the plan stays small at 50,000
//! connections and every worker agrees with the coordinator.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::spread;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The HealthBridge hub: REST setup, auth frame, rooms.
    Hub,
    /// `loadtest raw-server`: no auth, one broadcast domain.
    Raw,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Hub => "hub",
            Target::Raw => "raw",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "scenario", rename_all = "lowercase")]
pub enum Scenario {
    /// Hold connections open and measure what they cost the server.
    Idle {
        connections: usize,
        hold_secs: u64,
        /// Hub only: subscribe each connection to one of this many rooms.
        rooms: usize,
    },
    /// One publisher, many subscribers in one room.
    Fanout {
        subscribers: usize,
        /// Messages per second; `None`: as fast as acknowledged.
        rate: Option<f64>,
        /// Unacknowledged publishes allowed in flight at `rate: None`.
        window: usize,
        duration_secs: f64,
        drain_secs: f64,
    },
    /// Many rooms; every member publishes and receives.
    Chat {
        rooms: usize,
        members: usize,
        rate_per_room: f64,
        duration_secs: f64,
        drain_secs: f64,
    },
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Idle { .. } => "idle",
            Scenario::Fanout { .. } => "fanout",
            Scenario::Chat { .. } => "chat",
        }
    }
}

/// Connection-level settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetOptions {
    /// Handshakes (TCP + WebSocket + auth + subscribe) in progress at once.
    pub connect_concurrency: usize,
    pub connect_timeout_ms: u64,
    /// tungstenite read buffer per connection.
    pub read_buffer: usize,
}

/// What one connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects (and subscribes to `room` if any), then waits.
    Idle { room: Option<usize> },
    /// Publishes as publisher `publisher` of `room`; does not count
    /// deliveries.
    Publisher { room: usize, publisher: u32 },
    /// Counts deliveries from the room's `publishers` publishers.
    Subscriber { room: usize, publishers: u32 },
    /// Publishes as `publisher` and counts deliveries from all `publishers`
    /// of the room, its own included (the hub pushes a sender's own events
    /// to it, and the raw server echoes them).
    Member {
        room: usize,
        publisher: u32,
        publishers: u32,
    },
}

impl Role {
    pub fn room(self) -> Option<usize> {
        match self {
            Role::Idle { room } => room,
            Role::Publisher { room, .. }
            | Role::Subscriber { room, .. }
            | Role::Member { room, .. } => Some(room),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub scenario: Scenario,
    pub target: Target,
    /// WebSocket URLs, one per server node.
    pub ws_urls: Vec<String>,
    /// Local addresses to bind before connecting; empty: let the kernel
    /// choose.
    pub source_ips: Vec<Ipv4Addr>,
    /// Hub: one access token per user; connection `i` uses `i % len`.
    pub tokens: Vec<String>,
    /// Hub: room ids; raw: names that only label the probes.
    pub rooms: Vec<String>,
    pub net: NetOptions,
}

impl Plan {
    /// Total connections of the run.
    pub fn connections(&self) -> usize {
        match self.scenario {
            Scenario::Idle { connections, .. } => connections,
            // The publisher is connection 0.
            Scenario::Fanout { subscribers, .. } => subscribers + 1,
            Scenario::Chat { rooms, members, .. } => rooms * members,
        }
    }

    pub fn role(&self, index: usize) -> Role {
        match self.scenario {
            Scenario::Idle { rooms, .. } => Role::Idle {
                room: (rooms > 0).then(|| index % rooms),
            },
            Scenario::Fanout { .. } if index == 0 => Role::Publisher {
                room: 0,
                publisher: 0,
            },
            Scenario::Fanout { .. } => Role::Subscriber {
                room: 0,
                publishers: 1,
            },
            Scenario::Chat { members, .. } => Role::Member {
                room: index / members.max(1),
                publisher: (index % members.max(1)) as u32,
                publishers: members as u32,
            },
        }
    }

    pub fn url(&self, index: usize) -> &str {
        &self.ws_urls[spread::url_index(index, self.ws_urls.len())]
    }

    pub fn source_ip(&self, index: usize) -> Option<Ipv4Addr> {
        (!self.source_ips.is_empty())
            .then(|| self.source_ips[spread::source_index(index, self.source_ips.len())])
    }

    /// Which user (index into `tokens`) connection `index` signs in as.
    pub fn user(&self, index: usize, users: usize) -> usize {
        index % users.max(1)
    }

    pub fn token(&self, index: usize) -> Option<&str> {
        (!self.tokens.is_empty()).then(|| self.tokens[self.user(index, self.tokens.len())].as_str())
    }

    /// The users (indices) whose connections sit in each room: what room
    /// creation must make members. Computed from the same functions the
    /// workers use.
    pub fn room_members(&self, users: usize) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.rooms_needed()];
        for index in 0..self.connections() {
            if let Some(room) = self.role(index).room() {
                let user = self.user(index, users);
                if !members[room].contains(&user) {
                    members[room].push(user);
                }
            }
        }
        for m in &mut members {
            m.sort_unstable();
        }
        members
    }

    /// How many rooms the scenario uses.
    pub fn rooms_needed(&self) -> usize {
        match self.scenario {
            Scenario::Idle { rooms, .. } => rooms,
            Scenario::Fanout { .. } => 1,
            Scenario::Chat { rooms, .. } => rooms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(scenario: Scenario) -> Plan {
        Plan {
            scenario,
            target: Target::Hub,
            ws_urls: vec!["ws://a/ws".into(), "ws://b/ws".into()],
            source_ips: crate::spread::source_addresses(2),
            tokens: vec!["t0".into(), "t1".into(), "t2".into()],
            rooms: vec![],
            net: NetOptions {
                connect_concurrency: 1,
                connect_timeout_ms: 1,
                read_buffer: 1,
            },
        }
    }

    #[test]
    fn fanout_has_one_publisher_first() {
        let p = plan(Scenario::Fanout {
            subscribers: 4,
            rate: Some(1.0),
            window: 1,
            duration_secs: 1.0,
            drain_secs: 1.0,
        });
        assert_eq!(p.connections(), 5);
        assert_eq!(
            p.role(0),
            Role::Publisher {
                room: 0,
                publisher: 0
            }
        );
        assert!((1..5).all(|i| p.role(i)
            == Role::Subscriber {
                room: 0,
                publishers: 1
            }));
        assert_eq!(p.room_members(3), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn chat_rooms_are_contiguous_blocks_of_members() {
        let p = plan(Scenario::Chat {
            rooms: 3,
            members: 4,
            rate_per_room: 1.0,
            duration_secs: 1.0,
            drain_secs: 1.0,
        });
        assert_eq!(p.connections(), 12);
        assert_eq!(
            p.role(5),
            Role::Member {
                room: 1,
                publisher: 1,
                publishers: 4
            }
        );
        // Users cycle 0,1,2 over connections: room 0 = conns 0..4 = users 0,1,2,0.
        let members = p.room_members(3);
        assert_eq!(members.len(), 3);
        assert!(members.iter().all(|m| m == &vec![0, 1, 2]));
        assert_eq!(p.room_members(100)[2], vec![8, 9, 10, 11]);
    }

    #[test]
    fn urls_sources_and_tokens_rotate() {
        let p = plan(Scenario::Idle {
            connections: 10,
            hold_secs: 0,
            rooms: 0,
        });
        assert_eq!(p.url(3), "ws://b/ws");
        assert_eq!(p.source_ip(3), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(p.token(4), Some("t1"));
        assert_eq!(p.role(3), Role::Idle { room: None });
        assert!(p.room_members(3).is_empty());
    }

    #[test]
    fn idle_rooms_get_every_user_that_lands_in_them() {
        let p = plan(Scenario::Idle {
            connections: 1000,
            hold_secs: 0,
            rooms: 2,
        });
        // Connection i: room i % 2, user i % 3 → both rooms see all users.
        assert_eq!(p.room_members(3), vec![vec![0, 1, 2], vec![0, 1, 2]]);
    }

    #[test]
    fn plan_round_trips_through_json() {
        let p = plan(Scenario::Chat {
            rooms: 1,
            members: 2,
            rate_per_room: 2.5,
            duration_secs: 3.0,
            drain_secs: 1.0,
        });
        let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back.connections(), 2);
        assert_eq!(back.role(1), p.role(1));
    }
}
