//! Property tests: decoding arbitrary bytes never panics, and valid frames round-trip.

use net::frame::{decode_parts, Frame, FrameError, FrameKind, Header, HEADER_LEN};
use net::ids::{ClusterId, MemberId};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = FrameKind> {
    prop::sample::select((0..=255u8).filter_map(FrameKind::from_code).collect::<Vec<_>>())
}

fn frame() -> impl Strategy<Value = Frame> {
    (kind(), any::<u64>(), any::<u64>(), any::<u64>(), prop::collection::vec(any::<u8>(), 0..512))
        .prop_map(|(kind, c, f, t, payload)| {
            Frame::new(
                Header { kind, cluster: ClusterId(c), from: MemberId(f), to: MemberId(t) },
                payload,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // Any outcome is fine except a panic; a success must re-encode to the same bytes.
        if let Ok(f) = Frame::decode(&bytes) {
            prop_assert_eq!(f.encode(), bytes);
        }
    }

    #[test]
    fn valid_frames_round_trip(f in frame()) {
        let bytes = f.encode();
        prop_assert_eq!(Frame::decode(&bytes), Ok(f.clone()));
        let (h, p) = decode_parts(&bytes).unwrap();
        prop_assert_eq!(h, f.header);
        prop_assert_eq!(p, &f.payload[..]);
    }

    #[test]
    fn any_truncation_is_an_error(f in frame(), cut in any::<prop::sample::Index>()) {
        let bytes = f.encode();
        let cut = cut.index(bytes.len()); // strictly shorter than the frame
        let err = Frame::decode(&bytes[..cut]).unwrap_err();
        if cut < HEADER_LEN {
            prop_assert_eq!(err, FrameError::TruncatedHeader { len: cut });
        } else {
            let is_length_mismatch = matches!(err, FrameError::LengthMismatch { .. });
            prop_assert!(is_length_mismatch);
        }
    }

    #[test]
    fn any_single_bit_flip_is_detected(f in frame(), at in any::<prop::sample::Index>(), bit in 0..8u8) {
        let mut bytes = f.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(Frame::decode(&bytes).is_err());
    }
}
