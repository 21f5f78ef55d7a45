//! Arithmetic on the 256-bit identifier circle.
//!
//! Node-IDs and Resource-IDs are big-endian 256-bit integers modulo 2^256.
//! Every interval test is written with one modular subtraction, so wrap-around
//! needs no special case.

use lsp_core::{NodeId, ResourceId};

/// A point on the ring: a Node-ID or a Resource-ID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Point(pub [u8; 32]);

impl From<NodeId> for Point {
    fn from(id: NodeId) -> Self {
        Point(id.0)
    }
}

impl From<ResourceId> for Point {
    fn from(id: ResourceId) -> Self {
        Point(id.0)
    }
}

impl From<&NodeId> for Point {
    fn from(id: &NodeId) -> Self {
        Point(id.0)
    }
}

fn limbs(p: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, chunk) in p.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out[i] = u64::from_be_bytes(b);
    }
    out
}

fn from_limbs(l: [u64; 4]) -> Point {
    let mut out = [0u8; 32];
    for (i, v) in l.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    Point(out)
}

impl Point {
    /// Zero.
    pub const ZERO: Point = Point([0; 32]);

    /// `self - other` modulo 2^256: how far `other` must go clockwise to
    /// reach `self`.
    pub fn wrapping_sub(self, other: Point) -> Point {
        let (a, b) = (limbs(&self.0), limbs(&other.0));
        let mut out = [0u64; 4];
        let mut borrow = false;
        for i in (0..4).rev() {
            let (d, b1) = a[i].overflowing_sub(b[i]);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            out[i] = d;
            borrow = b1 || b2;
        }
        from_limbs(out)
    }

    /// `self + other` modulo 2^256.
    pub fn wrapping_add(self, other: Point) -> Point {
        let (a, b) = (limbs(&self.0), limbs(&other.0));
        let mut out = [0u64; 4];
        let mut carry = false;
        for i in (0..4).rev() {
            let (s, c1) = a[i].overflowing_add(b[i]);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            out[i] = s;
            carry = c1 || c2;
        }
        from_limbs(out)
    }

    /// 2^`exp` for `exp` < 256.
    pub fn pow2(exp: u32) -> Point {
        let exp = exp.min(255);
        let mut out = [0u8; 32];
        out[31 - (exp / 8) as usize] = 1 << (exp % 8);
        Point(out)
    }

    /// The clockwise distance from `from` to `self`.
    pub fn distance_from(self, from: Point) -> Point {
        self.wrapping_sub(from)
    }

    /// True when `self` lies in the open-closed interval `(a, b]`. When
    /// `a == b` the interval is the whole ring (a ring of one node owns
    /// everything).
    pub fn in_open_closed(self, a: Point, b: Point) -> bool {
        a == b || {
            let x = self.wrapping_sub(a);
            x != Point::ZERO && x <= b.wrapping_sub(a)
        }
    }

    /// True when `self` lies in the open interval `(a, b)`. When `a == b`
    /// it is the whole ring except `a`.
    pub fn in_open(self, a: Point, b: Point) -> bool {
        let x = self.wrapping_sub(a);
        x != Point::ZERO && (a == b || x < b.wrapping_sub(a))
    }

    /// The fraction of the ring this distance covers, in `[0, 1)`.
    pub fn as_fraction(self) -> f64 {
        let l = limbs(&self.0);
        // Two limbs give 128 bits, far beyond f64's precision.
        (l[0] as f64 + l[1] as f64 / 18_446_744_073_709_551_616.0) / 18_446_744_073_709_551_616.0
    }

    /// The distance covering fraction `f` of the ring, to 64 bits; `None`
    /// for the whole ring or more.
    pub fn from_fraction(f: f64) -> Option<Point> {
        if !(0.0..1.0).contains(&f) {
            return None;
        }
        let top = (f * 18_446_744_073_709_551_616.0) as u64;
        Some(from_limbs([top, 0, 0, 0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(v: u128) -> Point {
        let mut out = [0u8; 32];
        out[16..].copy_from_slice(&v.to_be_bytes());
        Point(out)
    }

    fn top(v: u8) -> Point {
        let mut out = [0u8; 32];
        out[0] = v;
        Point(out)
    }

    /// The interval defined by cases, the way the Chord paper states it.
    fn reference_open_closed(x: Point, a: Point, b: Point) -> bool {
        if a < b {
            a < x && x <= b
        } else if a > b {
            x > a || x <= b
        } else {
            true
        }
    }

    fn arb_point() -> impl Strategy<Value = Point> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(Point),
            // Small values and values near 2^256 exercise the carries.
            any::<u8>().prop_map(|v| p(u128::from(v))),
            any::<u8>().prop_map(|v| Point([0xff; 32]).wrapping_sub(p(u128::from(v)))),
        ]
    }

    proptest! {
        #[test]
        fn open_closed_matches_the_case_definition(x in arb_point(), a in arb_point(), b in arb_point()) {
            prop_assert_eq!(x.in_open_closed(a, b), reference_open_closed(x, a, b));
        }

        #[test]
        fn open_is_open_closed_minus_the_end(x in arb_point(), a in arb_point(), b in arb_point()) {
            let expected = if a == b { x != a } else { reference_open_closed(x, a, b) && x != b };
            prop_assert_eq!(x.in_open(a, b), expected);
        }

        #[test]
        fn add_and_sub_are_inverse(a in arb_point(), b in arb_point()) {
            prop_assert_eq!(a.wrapping_add(b).wrapping_sub(b), a);
            prop_assert_eq!(a.wrapping_sub(b).wrapping_add(b), a);
        }

        #[test]
        fn distances_around_the_ring_sum_to_zero(a in arb_point(), b in arb_point()) {
            prop_assert_eq!(b.distance_from(a).wrapping_add(a.distance_from(b)), Point::ZERO);
        }
    }

    #[test]
    fn wrap_around_cases() {
        let near_end = Point([0xff; 32]);
        assert!(p(3).in_open_closed(near_end, p(5)));
        assert!(Point::ZERO.in_open_closed(near_end, p(5)));
        assert!(!p(6).in_open_closed(near_end, p(5)));
        assert!(!near_end.in_open_closed(near_end, p(5)));
        assert!(p(9).in_open_closed(p(9), p(9)));
        assert!(!p(9).in_open(p(9), p(9)));
        assert_eq!(Point::pow2(255), top(0x80));
        assert_eq!(Point::pow2(0), p(1));
        assert_eq!(p(0).wrapping_sub(p(1)), near_end);
        assert!((top(0x40).as_fraction() - 0.25).abs() < 1e-12);
    }
}
