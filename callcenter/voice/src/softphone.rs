//! The agent's softphone on the service side: a WebRTC peer connection (the `webrtc` crate)
//! that answers the browser's offer with the caller's own codec only (PCMU or PCMA), so audio
//! is bridged byte for byte, with no transcoding. Signalling travels over the agent's WebSocket.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_PCMA, MIME_TYPE_PCMU};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::APIBuilder;
use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;
use webrtc::interceptor::registry::Registry;
use webrtc::media::Sample;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType};
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;
use webrtc::track::track_local::TrackLocal;

use crate::media::Feeder;
use telephony::media::sdp::Codec;

/// Largest SDP offer accepted from a browser.
pub const MAX_OFFER: usize = 16 * 1024;

pub struct Softphone {
    pc: Arc<RTCPeerConnection>,
}

impl Softphone {
    pub async fn close(self) {
        let _ = self.pc.close().await;
    }
}

fn capability(codec: Codec) -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: match codec {
            Codec::Pcmu => MIME_TYPE_PCMU,
            Codec::Pcma => MIME_TYPE_PCMA,
        }
        .to_owned(),
        clock_rate: 8000,
        channels: 1,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// Answer the browser's `offer` for a call in `codec`. The caller's payloads arriving on
/// `from_caller` are sent to the browser; the browser's go to `to_caller`. Returns the answer
/// SDP with every candidate in it (no trickle).
/// Where the softphone's ICE agent may gather: only on the address the service is bound to
/// (all interfaces only when it is bound to all), with the public address announced for it
/// when one is configured; no multicast DNS, so no packet leaves for 224.0.0.251. A service
/// bound to 127.0.0.1 offers loopback candidates only.
pub fn ice_settings(bind_ip: IpAddr, public_ip: Option<IpAddr>) -> SettingEngine {
    let mut settings = SettingEngine::default();
    settings.set_ice_multicast_dns_mode(webrtc::ice::mdns::MulticastDnsMode::Disabled);
    // Agents on the same host (and the tests) reach us over loopback.
    settings.set_include_loopback_candidate(bind_ip.is_loopback() || bind_ip.is_unspecified());
    if !bind_ip.is_unspecified() {
        settings.set_ip_filter(Box::new(move |ip: IpAddr| ip == bind_ip));
    }
    settings.set_network_types(vec![if bind_ip.is_ipv6() {
        webrtc::ice::network_type::NetworkType::Udp6
    } else {
        webrtc::ice::network_type::NetworkType::Udp4
    }]);
    if let Some(ip) = public_ip {
        settings.set_nat_1to1_ips(vec![ip.to_string()], RTCIceCandidateType::Host);
    }
    settings
}

pub async fn answer(
    offer: String,
    codec: Codec,
    bind_ip: IpAddr,
    public_ip: Option<IpAddr>,
    mut from_caller: mpsc::UnboundedReceiver<Vec<u8>>,
    to_caller: Feeder,
) -> anyhow::Result<(Softphone, String)> {
    if offer.len() > MAX_OFFER {
        anyhow::bail!("the SDP offer is larger than {MAX_OFFER} bytes");
    }
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            capability: capability(codec),
            payload_type: codec.payload_type(),
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let settings = ice_settings(bind_ip, public_ip);
    let api = APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build();
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);

    let track = Arc::new(TrackLocalStaticSample::new(
        capability(codec),
        "caller".to_owned(),
        "aftercare".to_owned(),
    ));
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal + Send + Sync>)
        .await?;
    // RTCP from the browser must be read for the interceptors to work.
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while sender.read(&mut buf).await.is_ok() {}
    });
    // Caller → browser.
    tokio::spawn(async move {
        while let Some(payload) = from_caller.recv().await {
            let duration = Duration::from_micros(payload.len() as u64 * 125);
            let sample = Sample {
                data: bytes::Bytes::from(payload),
                duration,
                ..Default::default()
            };
            if track.write_sample(&sample).await.is_err() {
                break;
            }
        }
    });
    // Browser → caller.
    pc.on_track(Box::new(move |remote, _, _| {
        let feeder = to_caller.clone();
        Box::pin(async move {
            tokio::spawn(async move {
                while let Ok((packet, _)) = remote.read_rtp().await {
                    if !packet.payload.is_empty() {
                        feeder.feed(&packet.payload);
                    }
                }
            });
        })
    }));

    pc.set_remote_description(RTCSessionDescription::offer(offer)?).await?;
    let answer = pc.create_answer(None).await?;
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(answer).await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered.recv()).await;
    let sdp = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow::anyhow!("no local description after answering"))?
        .sdp;
    Ok((Softphone { pc }, sdp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
    use webrtc::rtp_transceiver::RTCRtpTransceiverInit;

    /// The candidates a peer with these settings offers, once gathering is complete.
    async fn candidates(settings: SettingEngine) -> Vec<String> {
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_setting_engine(settings)
            .build();
        let pc = api.new_peer_connection(RTCConfiguration::default()).await.unwrap();
        pc.add_transceiver_from_kind(
            RTPCodecType::Audio,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendrecv,
                send_encodings: vec![],
            }),
        )
        .await
        .unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        let mut gathered = pc.gathering_complete_promise().await;
        pc.set_local_description(offer).await.unwrap();
        let _ = gathered.recv().await;
        let sdp = pc.local_description().await.unwrap().sdp;
        pc.close().await.unwrap();
        sdp.lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn a_service_on_loopback_gathers_on_loopback_only() {
        let found = candidates(ice_settings(IpAddr::from([127, 0, 0, 1]), None)).await;
        assert!(!found.is_empty());
        for c in &found {
            // a=candidate:<foundation> <component> udp <priority> <address> <port> typ host
            let address = c.split_whitespace().nth(4).unwrap();
            assert_eq!(address, "127.0.0.1", "{c}");
            assert!(!address.ends_with(".local"), "no mDNS names: {c}");
        }
        let public = candidates(ice_settings(
            IpAddr::from([127, 0, 0, 1]),
            Some(IpAddr::from([203, 0, 113, 7])),
        ))
        .await;
        assert!(
            public
                .iter()
                .all(|c| c.split_whitespace().nth(4) == Some("203.0.113.7")),
            "{public:?}"
        );
    }
}
