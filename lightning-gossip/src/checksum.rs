//! The `channel_update` checksum of `reply_channel_range`'s
//! `checksums_tlv` (BOLT 7, "The `query_channel_range` and
//! `reply_channel_range` Messages": "the CRC32C checksum as specified in
//! RFC3720 of this `channel_update` without its `signature` and
//! `timestamp` fields").

use lightning_wire::codec::Encode;
use lightning_wire::msgs::ChannelUpdate;

const POLY: u32 = 0x82f6_3b78; // Castagnoli, reflected

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// CRC32C (RFC 3720 appendix B.4) of `data`.
///
/// ```
/// assert_eq!(lightning_gossip::checksum::crc32c(b"123456789"), 0xe306_9283);
/// ```
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for b in data {
        c = TABLE[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The checksum of a `channel_update`: CRC32C over its encoding with the
/// 64-byte signature and the 4-byte timestamp left out.
pub fn channel_update_checksum(msg: &ChannelUpdate) -> u32 {
    let bytes = msg.to_bytes();
    // signature(64) | chain_hash(32) | scid(8) | timestamp(4) | rest
    let (Some(head), Some(tail)) = (bytes.get(64..104), bytes.get(108..)) else {
        return 0;
    };
    let mut data = Vec::with_capacity(head.len() + tail.len());
    data.extend_from_slice(head);
    data.extend_from_slice(tail);
    crc32c(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3720 B.4: 32 bytes of zeroes, of 0xff, and ascending.
    #[test]
    fn rfc3720_vectors() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let asc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&asc), 0x46dd_794e);
    }
}
