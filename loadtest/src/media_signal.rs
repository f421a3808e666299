//! Signaling a [`MediaPeer`] with the media worker, as the hub does over `/ws`: the peer's
//! offer goes in with `join`, its candidates with `candidate`, and the SFU's own offers (other
//! participants' tracks) are fetched with `pending` and answered with `answer`.

use media::control::Request;

use crate::media_control::Control;
use crate::media_peer::MediaPeer;

/// Joins `peer` to `room` (participant id = the peer's name): offer → `join` → the SFU's
/// answer applied → the peer's candidates trickled.
pub async fn join(ctl: &Control, room: &str, peer: &mut MediaPeer) -> anyhow::Result<()> {
    let offer = peer.offer().await?;
    join_with(ctl, room, peer, offer).await
}

/// [`join`] with an offer already made (to time from the moment it is sent).
pub async fn join_with(
    ctl: &Control,
    room: &str,
    peer: &mut MediaPeer,
    offer: String,
) -> anyhow::Result<()> {
    let reply = ctl
        .call(Request::Join {
            room: room.to_owned(),
            participant: peer.name.clone(),
            offer,
        })
        .await?;
    let answer = reply["answer"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("join reply without an answer"))?
        .to_owned();
    peer.apply_answer(answer).await?;
    for candidate in peer.candidates().await {
        ctl.call(Request::Candidate {
            room: room.to_owned(),
            participant: peer.name.clone(),
            candidate,
        })
        .await?;
    }
    Ok(())
}

/// Answers the SFU's pending offer to `peer`, if there is one; whether there was. (The SFU's
/// trickled candidates are not applied: its answer already carried them.)
pub async fn service(ctl: &Control, room: &str, peer: &MediaPeer) -> anyhow::Result<bool> {
    let reply = ctl
        .call(Request::Pending {
            room: room.to_owned(),
            participant: peer.name.clone(),
        })
        .await?;
    let Some(offer) = reply["offer"].as_str() else {
        return Ok(false);
    };
    let answer = peer.answer_offer(offer.to_owned()).await?;
    ctl.call(Request::Answer {
        room: room.to_owned(),
        participant: peer.name.clone(),
        answer,
    })
    .await?;
    Ok(true)
}

/// Waits until the worker holds no peer connection (all of a step's are freed), at most 15 s.
pub async fn wait_drained(ctl: &Control) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let load = ctl.call(Request::Load).await?;
        if load["peer_connections"].as_u64() == Some(0) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the media worker still holds {load} after the step");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
