//! The publishing side of a connection: pacing, acknowledgements, and the
//! fin marker that tells receivers it is done.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::Ws;
use crate::outcome::ConnOutcome;
use crate::plan::{Role, Scenario};
use crate::stats::Recorder;
use crate::{clock, frame, probe};

/// How long a publisher waits for outstanding acknowledgements after its
/// last message before it sends its fin marker anyway.
const ACK_GRACE: Duration = Duration::from_secs(5);
/// A refused fin (e.g. `rate_limited`) is retried after this long...
const FIN_RETRY: Duration = Duration::from_millis(250);
/// ...this many times.
const FIN_TRIES: u32 = 40;
/// Most frames written before the task goes back to reading.
const SEND_BATCH: usize = 256;
/// Least extra time a publisher that fell behind its schedule may take.
const MIN_SLACK: Duration = Duration::from_secs(5);

/// How long past the planned end a publisher at a rate may keep going, and
/// so how long receivers wait for it.
pub fn slack(duration: Duration) -> Duration {
    duration.max(MIN_SLACK)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fin {
    /// Still publishing, or waiting for acknowledgements.
    Pending,
    Sent {
        id: u64,
        tries: u32,
    },
    RetryAt {
        at: Instant,
        tries: u32,
    },
    Done,
}

/// When the run started and when publishing should end.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub duration: Duration,
}

/// A publishing connection's state.
pub struct Publisher {
    pub publisher: u32,
    /// Messages per second, or `None` for "as fast as acknowledged".
    rate: Option<f64>,
    /// At a rate: exactly this many messages (rate × duration), message `k`
    /// due at `k / rate`, so runs are comparable message for message. A
    /// publisher that falls behind keeps going (up to `slack` more) and the
    /// report's achieved rate shows it.
    count: u64,
    window: usize,
    /// Offset of this publisher's schedule, so a room's members do not all
    /// send in the same millisecond.
    phase: Duration,
    seq: u64,
    /// Request ids 1 and 2 are auth and subscribe.
    next_id: u64,
    /// `(request id, send time ns)` awaiting acknowledgement, oldest first.
    in_flight: VecDeque<(u64, u64)>,
    /// When the last message was sent (or publishing was cut off).
    finished: Option<Instant>,
    fin: Fin,
}

/// The socket failed while writing.
#[derive(Debug)]
pub struct SendFailed;

impl Publisher {
    /// The publisher of connection `role`, if it publishes.
    pub fn for_role(role: Role, scenario: &Scenario) -> Option<Self> {
        let (publisher, rate, window, phase, duration) = match (role, scenario) {
            (
                Role::Publisher { publisher, .. },
                &Scenario::Fanout {
                    rate,
                    window,
                    duration_secs,
                    ..
                },
            ) => (publisher, rate, window, Duration::ZERO, duration_secs),
            (
                Role::Member { publisher, .. },
                &Scenario::Chat {
                    rate_per_room,
                    members,
                    duration_secs,
                    ..
                },
            ) => {
                let rate = rate_per_room / members.max(1) as f64;
                let phase = Duration::from_secs_f64(rand::random::<f64>() / rate.max(1e-9));
                (publisher, Some(rate), usize::MAX, phase, duration_secs)
            }
            _ => return None,
        };
        Some(Self {
            publisher,
            rate,
            count: rate.map_or(u64::MAX, |r| message_count(r, duration)),
            window: window.max(1),
            phase,
            seq: 0,
            next_id: 3,
            in_flight: VecDeque::new(),
            finished: None,
            fin: Fin::Pending,
        })
    }

    /// Everything sent and the fin marker acknowledged.
    pub fn done(&self) -> bool {
        self.fin == Fin::Done
    }

    /// Sends what is due at `now` (probes, or the fin marker once they are
    /// all out) and returns when to come back at the latest.
    pub async fn step(
        &mut self,
        ws: &mut Ws,
        schedule: Schedule,
        room_id: &str,
        index: usize,
        out: &mut ConnOutcome,
    ) -> Result<Instant, SendFailed> {
        let now = Instant::now();
        let end = schedule.start + schedule.duration;
        let cut_off = end + slack(schedule.duration);
        let active = self.finished.is_none()
            && match self.rate {
                Some(_) => self.seq < self.count && now < cut_off,
                None => now < end,
            };
        let mut fed = 0;
        let wake;
        if active {
            let mut next = if self.rate.is_some() { cut_off } else { end };
            while fed < SEND_BATCH && self.seq < self.count {
                let may_send = match self.rate {
                    Some(rate) => {
                        let due = schedule.start
                            + self.phase
                            + Duration::from_secs_f64(self.seq as f64 / rate);
                        next = next.min(due);
                        due <= now
                    }
                    None => self.in_flight.len() < self.window,
                };
                if !may_send {
                    break;
                }
                let id = self.take_id();
                let t_ns = clock::now_ns();
                let (publisher, seq) = (self.publisher, self.seq);
                let text = frame::publish(id, room_id, index, |b| {
                    probe::write_data(b, publisher, seq, t_ns)
                });
                ws.feed(Message::Text(text.into()))
                    .await
                    .map_err(|_| SendFailed)?;
                self.in_flight.push_back((id, t_ns));
                self.seq += 1;
                out.published += 1;
                out.first_send_ns.get_or_insert(t_ns);
                out.last_send_ns = Some(t_ns);
                fed += 1;
            }
            // More is due (read first, then come straight back), or all is
            // sent (go on to the fin marker).
            wake = if fed == SEND_BATCH || self.seq >= self.count {
                now
            } else {
                next
            };
        } else {
            let finished = *self.finished.get_or_insert(now);
            let (send_fin, next) = match self.fin {
                Fin::Pending if self.in_flight.is_empty() || now >= finished + ACK_GRACE => {
                    (Some(0), now)
                }
                Fin::Pending => (None, finished + ACK_GRACE),
                Fin::RetryAt { at, tries } if at <= now => (Some(tries + 1), now),
                Fin::RetryAt { at, .. } => (None, at),
                // Waiting for the fin's acknowledgement, which arrives as a
                // frame; nothing to do on a timer.
                Fin::Sent { .. } | Fin::Done => (None, cut_off + ACK_GRACE),
            };
            if let Some(tries) = send_fin {
                let id = self.take_id();
                let publisher = self.publisher;
                let text = frame::publish(id, room_id, index, |b| probe::write_fin(b, publisher));
                ws.feed(Message::Text(text.into()))
                    .await
                    .map_err(|_| SendFailed)?;
                self.fin = Fin::Sent { id, tries };
                fed += 1;
            }
            wake = next;
        }
        if fed > 0 {
            ws.flush().await.map_err(|_| SendFailed)?;
        }
        Ok(wake)
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// An acknowledgement (hub: reply/error; raw: own echo) for request `id`;
    /// `refused` is the error code of an `error` answer.
    pub fn ack(
        &mut self,
        id: u64,
        refused: Option<&str>,
        index: usize,
        rtt: &Recorder,
        out: &mut ConnOutcome,
    ) {
        if let Fin::Sent { id: fin_id, tries } = self.fin
            && fin_id == id
        {
            self.fin = match refused {
                None => Fin::Done,
                Some(_) if tries < FIN_TRIES => Fin::RetryAt {
                    at: Instant::now() + FIN_RETRY,
                    tries,
                },
                Some(code) => {
                    out.error(&format!("fin:{code}"));
                    Fin::Done
                }
            };
            return;
        }
        // Requests on one socket are answered in order: anything older than
        // `id` still waiting will never be answered.
        while let Some(&(sent_id, sent_ns)) = self.in_flight.front() {
            if sent_id > id {
                break;
            }
            self.in_flight.pop_front();
            if sent_id < id {
                out.error("publish:no_reply");
                continue;
            }
            match refused {
                None => {
                    out.acked += 1;
                    rtt.record_ns(index, clock::now_ns().saturating_sub(sent_ns));
                }
                Some(code) => {
                    out.publish_errors += 1;
                    out.error(&format!("publish:{code}"));
                }
            }
            break;
        }
    }

    /// Writes what is still unanswered and what the room should have
    /// received into `out`.
    pub fn finish(&self, room: usize, out: &mut ConnOutcome) {
        for _ in &self.in_flight {
            out.error("publish:no_reply");
        }
        out.accepted = Some((room, out.published - out.publish_errors));
    }
}

/// Messages a publisher at `rate` sends in `duration` seconds (at least one).
fn message_count(rate: f64, duration_secs: f64) -> u64 {
    ((rate * duration_secs) - 1e-9).ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fanout_publisher(rate: Option<f64>) -> Publisher {
        let scenario = Scenario::Fanout {
            subscribers: 1,
            rate,
            window: 4,
            duration_secs: 2.0,
            drain_secs: 1.0,
        };
        Publisher::for_role(
            Role::Publisher {
                room: 0,
                publisher: 0,
            },
            &scenario,
        )
        .unwrap()
    }

    #[test]
    fn message_count_is_rate_times_duration() {
        assert_eq!(message_count(10.0, 20.0), 200);
        assert_eq!(message_count(0.5, 10.0), 5);
        assert_eq!(message_count(0.3, 1.0), 1);
        assert_eq!(message_count(3.0, 0.5), 2);
        assert_eq!(fanout_publisher(Some(100.0)).count, 200);
        assert_eq!(fanout_publisher(None).count, u64::MAX);
    }

    #[test]
    fn acks_match_in_flight_requests_in_order() {
        let rtt = Recorder::default();
        let mut out = ConnOutcome::default();
        let mut p = fanout_publisher(Some(1.0));
        p.in_flight.extend([(3, 1), (4, 1), (5, 1), (6, 1)]);
        p.ack(3, None, 0, &rtt, &mut out);
        // 4 was never answered: the answer to 5 shows it.
        p.ack(5, Some("rate_limited"), 0, &rtt, &mut out);
        p.ack(99, None, 0, &rtt, &mut out);
        assert_eq!(out.acked, 1);
        assert_eq!(out.publish_errors, 1);
        assert_eq!(out.errors["publish:rate_limited"], 1);
        assert_eq!(out.errors["publish:no_reply"], 2);
        assert!(p.in_flight.is_empty());
        assert_eq!(rtt.merged().len(), 1);
    }

    #[test]
    fn a_refused_fin_is_retried_then_given_up() {
        let rtt = Recorder::default();
        let mut out = ConnOutcome::default();
        let mut p = fanout_publisher(Some(1.0));
        p.fin = Fin::Sent { id: 9, tries: 0 };
        p.ack(9, Some("rate_limited"), 0, &rtt, &mut out);
        assert!(matches!(p.fin, Fin::RetryAt { tries: 0, .. }));
        p.fin = Fin::Sent {
            id: 10,
            tries: FIN_TRIES,
        };
        p.ack(10, Some("rate_limited"), 0, &rtt, &mut out);
        assert!(p.done());
        assert_eq!(out.errors["fin:rate_limited"], 1);
        p.fin = Fin::Sent { id: 11, tries: 0 };
        p.ack(11, None, 0, &rtt, &mut out);
        assert!(p.done());
    }
}
