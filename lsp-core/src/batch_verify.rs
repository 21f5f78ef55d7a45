//! Ed25519 batch verification with one term per distinct key.
//!
//! Signatures `(R_i, s_i)` by keys `A_i` over messages `M_i` all verify,
//! but for a chance of 2^-128, if for random 128-bit `z_i` and
//! `k_i = SHA-512(R_i || A_i || M_i) mod l`:
//!
//! ```text
//! [-Σ z_i s_i] B + Σ z_i R_i + Σ_A [Σ_{i: A_i = A} z_i k_i] A = 0
//! ```
//!
//! This is the equation of `ed25519_dalek::verify_batch`, with the terms
//! of equal keys summed before the multiplication. A replica's records
//! mostly come from a domain's one key, so a batch of n signatures costs a
//! multiplication of n + keys + 1 points instead of 2n + 1. The `z_i` are
//! drawn, as ed25519-dalek draws them, from a hash of the whole batch (every
//! `k_i` input and every `s_i`): no forgery can be chosen knowing them, and
//! the check needs no random source, so the sans-IO node stays a function
//! of its inputs.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// One signature to check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    pub message: &'a [u8],
    pub signature: &'a [u8; 64],
    pub key: &'a [u8; 32],
}

/// Whether every signature of `items` verifies. False as well when one
/// cannot be read (a non-canonical `s`, a point that does not decompress);
/// the caller then checks each alone.
pub(crate) fn verify_batch(items: &[Item<'_>]) -> bool {
    let mut transcript = blake3::Hasher::new_derive_key("lsp-core ed25519 batch coefficients v1");
    let mut read = Vec::with_capacity(items.len());
    for item in items {
        let (r_bytes, s_bytes) = item.signature.split_at(32);
        let (Ok(r_bytes), Ok(s_bytes)) =
            (<[u8; 32]>::try_from(r_bytes), <[u8; 32]>::try_from(s_bytes))
        else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let hram: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(item.key)
            .chain_update(item.message)
            .finalize()
            .into();
        transcript.update(&hram);
        transcript.update(&s_bytes);
        read.push((item.key, s, r, Scalar::from_bytes_mod_order_wide(&hram)));
    }
    let mut coefficients = transcript.finalize_xof();
    // The basepoint's coefficient goes first once it is summed.
    let mut scalars = Vec::with_capacity(items.len() + 2);
    let mut points = Vec::with_capacity(items.len() + 2);
    scalars.push(Scalar::ZERO);
    points.push(ED25519_BASEPOINT_POINT);
    let mut keys: Vec<(&[u8; 32], EdwardsPoint, Scalar)> = Vec::new();
    let mut base = Scalar::ZERO;
    for (key, s, r, k) in read {
        let mut z = [0u8; 16];
        coefficients.fill(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        base += z * s;
        scalars.push(z);
        points.push(r);
        match keys.iter_mut().find(|(bytes, _, _)| *bytes == key) {
            Some((_, _, coefficient)) => *coefficient += z * k,
            None => {
                let Some(a) = CompressedEdwardsY(*key).decompress() else {
                    return false;
                };
                keys.push((key, a, z * k));
            }
        }
    }
    scalars[0] = -base;
    for (_, a, coefficient) in keys {
        scalars.push(coefficient);
        points.push(a);
    }
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    struct Signed {
        message: Vec<u8>,
        signature: [u8; 64],
        key: [u8; 32],
    }

    fn signed(who: u8, message: &[u8]) -> Signed {
        let id = Identity::from_secret_bytes([who; 32]);
        Signed {
            message: message.to_vec(),
            signature: id.sign(message).0,
            key: id.public_key().0,
        }
    }

    fn batch(all: &[Signed]) -> bool {
        let items: Vec<Item<'_>> = all
            .iter()
            .map(|s| Item {
                message: &s.message,
                signature: &s.signature,
                key: &s.key,
            })
            .collect();
        verify_batch(&items)
    }

    fn alone(s: &Signed) -> bool {
        crate::PublicKey(s.key)
            .verify(&s.message, &crate::Signature(s.signature))
            .is_ok()
    }

    fn sample() -> Vec<Signed> {
        (0..12u8)
            .map(|i| signed(if i % 4 == 0 { 2 } else { 1 }, &[i; 40]))
            .collect()
    }

    #[test]
    fn good_signatures_of_one_key_and_of_several_pass() {
        assert!(batch(&sample()));
        assert!(batch(&sample()[..1]));
        let one_key: Vec<Signed> = (0..8u8).map(|i| signed(1, &[i])).collect();
        assert!(batch(&one_key));
    }

    #[test]
    fn any_one_forgery_fails_the_batch_as_it_fails_alone() {
        let spoil: [fn(&mut Signed); 5] = [
            |s| s.message[0] ^= 1,
            |s| s.signature[0] ^= 1,
            |s| s.signature[40] ^= 1,
            // Another key of the batch signs: the key term is shared.
            |s| {
                let [one, two] =
                    [1, 2].map(|n| Identity::from_secret_bytes([n; 32]).public_key().0);
                s.key = if s.key == one { two } else { one };
            },
            // A key that is not in the batch.
            |s| s.key = Identity::from_secret_bytes([7; 32]).public_key().0,
        ];
        for (n, spoil) in spoil.iter().enumerate() {
            for at in [0, 5, 11] {
                let mut all = sample();
                spoil(&mut all[at]);
                assert!(!alone(&all[at]), "spoiler {n} at {at} still verifies alone");
                assert!(!batch(&all), "spoiler {n} at {at} passed the batch");
            }
        }
    }

    #[test]
    fn two_forgeries_that_cancel_in_a_shared_key_term_still_fail() {
        // Swapping two signatures of one key over different messages keeps
        // the sum of R and s but not the per-signature hashes.
        let mut all = sample();
        let (a, b) = (all[1].signature, all[2].signature);
        all[1].signature = b;
        all[2].signature = a;
        assert!(!batch(&all));
    }

    #[test]
    fn the_batch_agrees_with_checking_each_alone_under_random_damage() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for _ in 0..200 {
            let mut all = sample();
            all.truncate(1 + next(12));
            for _ in 0..next(3) {
                let at = next(all.len());
                match next(3) {
                    0 => all[at].message[next(40)] ^= 1 << next(8),
                    1 => all[at].signature[next(64)] ^= 1 << next(8),
                    _ => all[at].key[next(32)] ^= 1 << next(8),
                }
            }
            assert_eq!(batch(&all), all.iter().all(alone));
        }
    }

    #[test]
    fn a_non_canonical_s_is_refused_as_single_verification_refuses_it() {
        // s + l has the same value mod l but is not the canonical encoding.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut all = sample();
        let s = &mut all[3].signature[32..];
        let mut carry = 0u16;
        for (byte, l) in s.iter_mut().zip(L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(!alone(&all[3]));
        assert!(!batch(&all));
    }
}
