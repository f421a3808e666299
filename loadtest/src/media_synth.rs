//! Synthetic media for the video-visit scenarios: what a camera and a microphone would hand
//! the browser's encoders, sized like the real thing. The content is not decodable; the SFU
//! never decodes (it forwards and relays keyframe requests), so only sizes, rates and the
//! keyframe marking matter.
//!
//! - Video: VP8 at `fps` frames per second averaging `kbps`. Every `keyframe_every`-th frame,
//!   and the next frame after a keyframe request (PLI), is a keyframe three times the average
//!   size, marked as VP8 marks it (frame tag P bit 0, start code `9d 01 2a`); the other frames
//!   share the rest of the budget. The RTP packetizer splits frames at the MTU, so 1 Mbit/s at
//!   30 fps is ~4 packets per frame, ~125 packets/s.
//! - Audio: Opus-sized 20 ms frames (50 packets/s) of `audio_bytes` (80 bytes = 32 kbit/s,
//!   a typical voice bitrate).

use std::time::Duration;

use bytes::Bytes;

/// Sizes and rates of one synthetic participant's media.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SynthSpec {
    pub video_kbps: u32,
    pub fps: u32,
    pub keyframe_every: u32,
    pub audio_bytes: usize,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            video_kbps: 1000,
            fps: 30,
            keyframe_every: 60,
            audio_bytes: 80,
        }
    }
}

/// What webrtc 0.21's sample track packetizes a frame into: its 1,200-byte RTP MTU minus
/// the 12-byte header.
pub const PACKETIZER_MTU: usize = 1188;

/// The 20 ms of an Opus packet.
pub const AUDIO_PERIOD: Duration = Duration::from_millis(20);

impl SynthSpec {
    pub fn frame_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.fps.max(1)))
    }

    /// Average bytes per video frame.
    fn average_frame(&self) -> usize {
        (u64::from(self.video_kbps) * 1000 / 8 / u64::from(self.fps.max(1))) as usize
    }

    pub fn keyframe_bytes(&self) -> usize {
        self.average_frame() * 3
    }

    /// Interframes take what keyframes leave of the budget.
    pub fn interframe_bytes(&self) -> usize {
        let n = self.keyframe_every.max(2) as usize;
        (self.average_frame() * n - self.keyframe_bytes()) / (n - 1)
    }

    /// Video frame number `n`, or a keyframe when `keyframe` (a pending request).
    pub fn video_frame(&self, n: u64, keyframe: bool) -> (Bytes, bool) {
        let key = keyframe || n.is_multiple_of(u64::from(self.keyframe_every.max(1)));
        let frame = if key {
            // Frame tag with P = 0, then the keyframe start code and a 640x360 size.
            let mut f = vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];
            f.resize(self.keyframe_bytes().max(10), 0x11);
            f
        } else {
            let mut f = vec![0x51, 0x42, 0x00];
            f.resize(self.interframe_bytes().max(3), 0x22);
            f
        };
        (Bytes::from(frame), key)
    }

    /// Packets per second one participant publishes (audio and video), as packetized at
    /// `mtu`: what each of its subscribers should receive of it.
    pub fn packets_per_sec(&self, mtu: usize) -> f64 {
        let k = f64::from(self.keyframe_every.max(2));
        let key = packetize_sizes(self.keyframe_bytes(), mtu).len() as f64;
        let inter = packetize_sizes(self.interframe_bytes(), mtu).len() as f64;
        let per_frame = (key + (k - 1.0) * inter) / k;
        1.0 / AUDIO_PERIOD.as_secs_f64() + f64::from(self.fps) * per_frame
    }

    pub fn audio_frame(&self) -> Bytes {
        Bytes::from(vec![0xFC; self.audio_bytes.max(1)])
    }
}

/// Bytes an RTP packetizer produces for `frame` bytes at `mtu` (payload per packet, the
/// 1-byte VP8 descriptor each): the sizes the relay baseline sends, packet by packet.
pub fn packetize_sizes(frame: usize, mtu: usize) -> Vec<usize> {
    let room = mtu.saturating_sub(1).max(1);
    let n = frame.div_ceil(room).max(1);
    (0..n)
        .map(|i| {
            1 + if i + 1 < n {
                room
            } else {
                frame - room * (n - 1)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_megabit_at_thirty_fps() {
        let s = SynthSpec::default();
        let bytes: usize = (0..60u64).map(|n| s.video_frame(n, false).0.len()).sum();
        // 60 frames = 2 s at 1 Mbit/s = 250,000 bytes (within rounding).
        assert!((249_000..=250_500).contains(&bytes), "{bytes}");
        assert!(s.video_frame(0, false).1);
        assert!(!s.video_frame(1, false).1);
        assert!(s.video_frame(7, true).1, "a requested keyframe");
        let (k, _) = s.video_frame(0, false);
        assert_eq!(k[0] & 1, 0, "P bit clear on a keyframe");
        assert_eq!(&k[3..6], &[0x9d, 0x01, 0x2a]);
        assert_eq!(s.video_frame(1, false).0[0] & 1, 1);
        assert_eq!(s.audio_frame().len(), 80);
        // 50 audio + 30 × (11 + 59 × 4) / 60 video.
        assert!((s.packets_per_sec(1188) - 173.5).abs() < 0.01);
    }

    #[test]
    fn packetizing() {
        assert_eq!(packetize_sizes(100, 1200), vec![101]);
        let p = packetize_sizes(4025, 1200);
        assert_eq!(p.len(), 4);
        assert_eq!(p.iter().map(|x| x - 1).sum::<usize>(), 4025);
        assert!(p.iter().all(|&x| x <= 1200));
    }
}
