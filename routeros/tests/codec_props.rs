//! Property tests of the codec: any chunking of a byte stream decodes to the same sentences,
//! every length form round-trips, and arbitrary bytes never panic the decoder.

use proptest::prelude::*;
use sitebox_routeros::codec::{Decoder, Limits, Sentence, decode_length, encode_length};

fn word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 1..0x7F),
        2 => proptest::collection::vec(any::<u8>(), 0x80..0x200),
        1 => (0x4000usize..0x4100).prop_map(|n| vec![b'x'; n]),
    ]
}

fn sentence() -> impl Strategy<Value = Sentence> {
    proptest::collection::vec(word(), 1..8).prop_map(Sentence::new)
}

fn length_in_every_form() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..0x80,
        0x80usize..0x4000,
        0x4000usize..0x20_0000,
        0x20_0000usize..0x1000_0000,
        0x1000_0000usize..=u32::MAX as usize,
    ]
}

proptest! {
    #[test]
    fn lengths_round_trip(len in length_in_every_form()) {
        let mut out = Vec::new();
        encode_length(len, &mut out).unwrap();
        let expected_size = match len {
            0..0x80 => 1,
            0x80..0x4000 => 2,
            0x4000..0x20_0000 => 3,
            0x20_0000..0x1000_0000 => 4,
            _ => 5,
        };
        prop_assert_eq!(out.len(), expected_size);
        prop_assert_eq!(decode_length(&out).unwrap(), Some((len, expected_size)));
    }

    #[test]
    fn random_splits_decode_the_same_sentences(
        sentences in proptest::collection::vec(sentence(), 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for s in &sentences {
            s.encode(&mut wire).unwrap();
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut decoder = Decoder::new(Limits::SESSION);
        let mut got = Vec::new();
        for pair in points.windows(2) {
            decoder.feed(&wire[pair[0]..pair[1]]);
            while let Some(s) = decoder.decode().unwrap() {
                got.push(s);
            }
        }
        prop_assert_eq!(got, sentences);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = Decoder::new(Limits::LOGIN);
        decoder.feed(&bytes);
        while let Ok(Some(_)) = decoder.decode() {}
    }
}
