//! `visit-join`: how long a patient waits from opening the visit link to the clinician's
//! first video frame, through the whole hub (docs/visits.md), on a running `hub serve`
//! with its in-process media worker.
//!
//! Each of `--joins` rounds: the clinician creates a visit and watches it on its socket.
//! The clock starts when the patient "opens the link": the link is redeemed for a pass, a
//! socket authenticates with it and joins the waiting room; the clinician's socket sees the
//! patient waiting and admits at once (no human reaction time); each side gets its grant,
//! offers its webrtc-crate peer's audio and video (`visit_offer`), trickles candidates and
//! answers the SFU's offers (`visit_signal`). The clock stops at the first video packet of
//! the clinician on the patient's peer.
//!
//! Baseline, same run: two of the same peers connected directly (the webrtc floor on this
//! machine: ICE, DTLS, SRTP), as in `media-join`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::VisitJoinArgs;
use crate::conn::{self, Endpoint, Ws};
use crate::hub_setup::Admin;
use crate::media_capacity::Machine;
use crate::media_peer::MediaPeer;
use crate::sched_api::{Api, random_alnum};
use crate::stats::{Summary, new_histogram};

/// How long one step may take before the round counts as failed.
const STEP: Duration = Duration::from_secs(20);

#[derive(Debug, Serialize)]
pub struct VisitJoinReport {
    pub scenario: &'static str,
    pub machine: Machine,
    pub joins: usize,
    /// Link opened → the patient is in the waiting room (redeem, socket auth, `visit_join`).
    pub link_to_waiting: Option<Summary>,
    /// Link opened → the patient's grant arrives (the clinician admitted at once).
    pub link_to_admitted: Option<Summary>,
    /// Link opened → the first video packet of the clinician on the patient's peer.
    pub link_to_first_remote_frame: Option<Summary>,
    /// Link opened → the first video packet of the patient on the clinician's peer.
    pub clinician_sees_patient: Option<Summary>,
    /// Baseline: two peers connected directly, offer handed over → first packet.
    pub p2p_first_packet: Option<Summary>,
    pub failures: usize,
}

pub async fn run(args: &VisitJoinArgs) -> anyhow::Result<VisitJoinReport> {
    let admin = Admin {
        email: args
            .admin_email
            .clone()
            .context("--admin-email (or LOADTEST_ADMIN_EMAIL) is required")?,
        password: args
            .admin_password
            .clone()
            .context("--admin-password (or LOADTEST_ADMIN_PASSWORD) is required")?,
    };
    let api = Api::new(&args.url, 4)?;
    let clinician = setup(&api, &admin).await?;
    let ws_url = format!("{}/ws", args.url.replacen("http", "ws", 1));
    let endpoint = Endpoint::resolve(&ws_url, true).await?;
    let (mut waiting_h, mut admitted_h, mut frame_h, mut host_h, mut p2p_h) = (
        new_histogram(),
        new_histogram(),
        new_histogram(),
        new_histogram(),
        new_histogram(),
    );
    let mut failures = 0;
    for i in 0..args.joins {
        match round(&api, &endpoint, &clinician, i).await {
            Ok(t) => {
                waiting_h.saturating_record(t.waiting.as_micros() as u64);
                admitted_h.saturating_record(t.admitted.as_micros() as u64);
                frame_h.saturating_record(t.frame.as_micros() as u64);
                host_h.saturating_record(t.host_frame.as_micros() as u64);
            }
            Err(e) => {
                eprintln!("visit-join: round {i} failed: {e:#}");
                failures += 1;
            }
        }
        if !args.no_baseline {
            match crate::media_join::p2p_join(i, crate::media_synth::SynthSpec::default()).await {
                Ok(t) => p2p_h.saturating_record(t.as_micros() as u64),
                Err(e) => {
                    eprintln!("visit-join: direct pair {i} failed: {e:#}");
                    failures += 1;
                }
            }
        }
    }
    Ok(VisitJoinReport {
        scenario: "visit-join",
        machine: Machine::here(),
        joins: args.joins,
        link_to_waiting: Summary::of(&waiting_h),
        link_to_admitted: Summary::of(&admitted_h),
        link_to_first_remote_frame: Summary::of(&frame_h),
        clinician_sees_patient: Summary::of(&host_h),
        p2p_first_packet: Summary::of(&p2p_h),
        failures,
    })
}

/// An organization with one clinician, logged in: `(org_id, token)`.
struct Clinician {
    org_id: String,
    token: String,
}

async fn setup(api: &Api, admin: &Admin) -> anyhow::Result<Clinician> {
    let run = random_alnum(8).to_lowercase();
    let root = api.login(&admin.email, &admin.password).await?;
    let org = api
        .ok(
            Method::POST,
            "/orgs",
            Some(&root),
            Some(json!({ "name": format!("visits {run}") })),
        )
        .await?;
    let org_id = org["id"].as_str().context("org id")?.to_owned();
    let email = format!("dr-{run}@visits.example.org");
    let password = random_alnum(24);
    // Joining is accepting the organization's invite (which creates the account).
    let invite = api
        .ok(
            Method::POST,
            &format!("/orgs/{org_id}/invites"),
            Some(&root),
            Some(json!({ "email": email, "role": "clinician" })),
        )
        .await?;
    api.ok(
        Method::POST,
        "/invites/accept",
        None,
        Some(json!({ "token": invite["token"], "password": password, "display_name": "Dr Bench" })),
    )
    .await?;
    let token = api.login(&email, &password).await?;
    Ok(Clinician { org_id, token })
}

struct Timings {
    waiting: Duration,
    admitted: Duration,
    frame: Duration,
    host_frame: Duration,
}

async fn round(
    api: &Api,
    endpoint: &Endpoint,
    clinician: &Clinician,
    i: usize,
) -> anyhow::Result<Timings> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let starts = crate::sched_plan::rfc3339(now_ms + 5 * 60_000);
    let created = api
        .ok(
            Method::POST,
            &format!("/orgs/{}/visits", clinician.org_id),
            Some(&clinician.token),
            Some(json!({ "patient_name": format!("Patient {i}"),
                         "scheduled_at": starts })),
        )
        .await?;
    let visit = created["visit"]["id"]
        .as_str()
        .context("visit id")?
        .to_owned();
    let link_token = created["link"]["url"]
        .as_str()
        .and_then(|u| u.split_once("#t="))
        .context("link")?
        .1
        .to_owned();
    let mut host = Sock::open(endpoint, &clinician.token).await?;
    host.ok("visit_join", json!({ "visit": visit })).await?;

    // The patient opens the link.
    let t0 = Instant::now();
    let redeemed = api
        .ok(
            Method::POST,
            "/visit-links/redeem",
            None,
            Some(json!({ "token": link_token })),
        )
        .await?;
    let pass = redeemed["pass"].as_str().context("pass")?.to_owned();
    let mut patient = Sock::open(endpoint, &pass).await?;
    let joined = patient.ok("visit_join", json!({ "visit": visit })).await?;
    let waiting = t0.elapsed();
    let patient_id = joined["participant"]["id"]
        .as_str()
        .context("participant id")?
        .to_owned();
    let host_id = joined["visit"]["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["role"] == "host"))
        .and_then(|p| p["id"].as_str())
        .context("host participant")?
        .to_owned();

    // The clinician sees the patient waiting and admits.
    host.next_push(|p| p["type"] == "visit_event" && p["event"]["type"] == "patient_waiting")
        .await?;
    host.ok(
        "visit_admit",
        json!({ "visit": visit, "participant": patient_id }),
    )
    .await?;
    let patient_grant = patient.next_push(|p| p["type"] == "visit_admitted").await?;
    let admitted = t0.elapsed();
    let host_grant = host.next_push(|p| p["type"] == "visit_admitted").await?;

    let mut host_peer = MediaPeer::new(&format!("h{i}"), (i * 4) as u32).await?;
    let mut patient_peer = MediaPeer::new(&format!("p{i}"), (i * 4 + 2) as u32).await?;
    let result = async {
        enter(&mut host, &visit, &host_grant, &mut host_peer).await?;
        enter(&mut patient, &visit, &patient_grant, &mut patient_peer).await?;
        let spec = crate::media_synth::SynthSpec::default();
        host_peer.start_publishing(spec);
        patient_peer.start_publishing(spec);
        let deadline = Instant::now() + STEP;
        let (mut frame, mut host_frame) = (None, None);
        while frame.is_none() || host_frame.is_none() {
            anyhow::ensure!(Instant::now() < deadline, "no media within {STEP:?}");
            answer_signals(&mut patient, &visit, &patient_peer).await?;
            answer_signals(&mut host, &visit, &host_peer).await?;
            if frame.is_none() && patient_peer.received_from(&host_id, "video") > 0 {
                frame = Some(t0.elapsed());
            }
            if host_frame.is_none() && host_peer.received_from(&patient_id, "video") > 0 {
                host_frame = Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::Ok(Timings {
            waiting,
            admitted,
            frame: frame.unwrap_or_default(),
            host_frame: host_frame.unwrap_or_default(),
        })
    }
    .await;
    let _ = host.ok("visit_end", json!({ "visit": visit })).await;
    host_peer.close().await;
    patient_peer.close().await;
    host.close().await;
    patient.close().await;
    result
}

/// Offers the peer's media with the grant, applies the answer, trickles its candidates.
async fn enter(
    sock: &mut Sock,
    visit: &str,
    admitted: &Value,
    peer: &mut MediaPeer,
) -> anyhow::Result<()> {
    let grant = admitted["grant"].as_str().context("grant")?;
    let offer = peer.offer().await?;
    let answer = sock
        .ok(
            "visit_offer",
            json!({ "visit": visit, "grant": grant, "sdp": offer }),
        )
        .await?;
    peer.apply_answer(answer["sdp"].as_str().context("answer sdp")?.to_owned())
        .await?;
    for c in peer.candidates().await {
        sock.ok(
            "visit_candidate",
            json!({ "visit": visit, "candidate": serde_json::to_value(&c)? }),
        )
        .await?;
    }
    Ok(())
}

/// Answers the SFU's offers that have arrived (candidates are already in its SDP).
async fn answer_signals(sock: &mut Sock, visit: &str, peer: &MediaPeer) -> anyhow::Result<()> {
    sock.drain().await?;
    let offers: Vec<String> = sock
        .take(|p| p["type"] == "visit_signal" && p["offer"].is_string())
        .into_iter()
        .filter_map(|p| p["offer"].as_str().map(str::to_owned))
        .collect();
    for offer in offers {
        let answer = peer.answer_offer(offer).await?;
        sock.ok("visit_answer", json!({ "visit": visit, "sdp": answer }))
            .await?;
    }
    Ok(())
}

/// A `/ws` socket speaking protocol v1: requests with ids, pushes kept until taken.
struct Sock {
    ws: Ws,
    next_id: u64,
    pushes: VecDeque<Value>,
}

impl Sock {
    async fn open(endpoint: &Endpoint, token: &str) -> anyhow::Result<Self> {
        let ws = conn::open(endpoint, None, conn::client_config(64 * 1024))
            .await
            .map_err(|e| anyhow::anyhow!("connect: {e}"))?;
        let mut sock = Sock {
            ws,
            next_id: 1,
            pushes: VecDeque::new(),
        };
        sock.ok("auth", json!({ "token": token })).await?;
        Ok(sock)
    }

    async fn ok(&mut self, kind: &str, mut fields: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        fields["id"] = json!(id);
        fields["type"] = json!(kind);
        self.ws
            .send(Message::Text(fields.to_string().into()))
            .await?;
        let deadline = Instant::now() + STEP;
        loop {
            let frame = self.read(deadline).await?;
            match frame["type"].as_str() {
                Some("reply") if frame["id"] == id => return Ok(frame["result"].clone()),
                Some("error") if frame["id"] == id => {
                    anyhow::bail!("{kind}: {}", frame["error"])
                }
                _ => self.pushes.push_back(frame),
            }
        }
    }

    async fn read(&mut self, deadline: Instant) -> anyhow::Result<Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, self.ws.next())
                .await
                .context("timed out waiting for the hub")?
                .context("socket closed")??;
            if let Message::Text(t) = msg {
                return Ok(serde_json::from_str(&t)?);
            }
        }
    }

    async fn next_push(&mut self, wanted: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(pos) = self.pushes.iter().position(&wanted) {
            return Ok(self.pushes.remove(pos).unwrap_or_default());
        }
        let deadline = Instant::now() + STEP;
        loop {
            let frame = self.read(deadline).await?;
            if wanted(&frame) {
                return Ok(frame);
            }
            self.pushes.push_back(frame);
        }
    }

    /// Reads whatever is already waiting on the socket, without blocking.
    async fn drain(&mut self) -> anyhow::Result<()> {
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::ZERO, self.ws.next()).await {
            if let Message::Text(t) = msg? {
                self.pushes.push_back(serde_json::from_str(&t)?);
            }
        }
        Ok(())
    }

    fn take(&mut self, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (taken, kept): (Vec<Value>, Vec<Value>) = self.pushes.drain(..).partition(wanted);
        self.pushes = kept.into();
        taken
    }

    async fn close(self) {
        conn::close(self.ws).await;
    }
}
