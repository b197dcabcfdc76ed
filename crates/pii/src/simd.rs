//! Byte-class bit masks over 64-byte blocks (one bit per byte, bit `j` for
//! byte `j`), so that "next trigger", "end of a digit run" and "bounds of a
//! letter/digit token" become bit scans, and the birth-date key filter tests
//! 16 (SSE2) or 32 (AVX2) positions per vector operation.
//!
//! On x86_64 the masks come from SSE2 compares and `pmovmskb`, or (round 7)
//! from AVX2 compares when the CPU has AVX2 ([`Level`], detected once per
//! scan); this is the only module of the crate with `unsafe` code: calling
//! a `#[target_feature(enable = "sse2")]` function, which SSE2 being part of
//! the x86_64 baseline makes always sound, calling an `avx2` one only
//! through a [`Level`] that runtime detection made, and unaligned loads from
//! arrays or from slices whose length was checked. Other targets use the
//! portable versions, which the tests compare with the vector ones on random
//! bytes.

#![allow(unsafe_code)]

/// Classes of the 64 bytes of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    /// ASCII digits.
    pub digit: u64,
    /// ASCII digits and `@`: where the scanner stops.
    pub trigger: u64,
}

/// Which vector instructions the class masks use: AVX2 (32 bytes per
/// compare) where the CPU has it, else SSE2 (16). The field is private, so
/// a `Level` claiming AVX2 exists only if [`Level::detect`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Level {
    avx2: bool,
}

impl Level {
    /// The best level this CPU runs.
    pub(crate) fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            Level {
                avx2: std::arch::is_x86_feature_detected!("avx2"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Level { avx2: false }
        }
    }

    /// The baseline level (SSE2 on x86_64), for tests.
    #[cfg(test)]
    pub(crate) fn baseline() -> Level {
        Level { avx2: false }
    }
}

/// ASCII letters and digits of `block` (computed apart from [`masks`]: most
/// blocks need only those).
#[inline(always)]
pub(crate) fn alnum(level: Level, block: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if level.avx2 {
            // SAFETY: `level.avx2` is set only by `Level::detect` after
            // runtime detection found AVX2 on this CPU.
            return unsafe { x86::alnum_avx2(block) };
        }
        // SAFETY: SSE2 is part of the x86_64 baseline (see `masks`).
        unsafe { x86::alnum_sse2(block) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = level;
        alnum_portable(block)
    }
}

/// Portable [`alnum`].
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn alnum_portable(block: &[u8; 64]) -> u64 {
    let mut m = 0;
    for (j, &c) in block.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            m |= 1u64 << j;
        }
    }
    m
}

/// [`Masks`] of `block`.
#[inline(always)]
pub(crate) fn masks(level: Level, block: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        if level.avx2 {
            // SAFETY: `level.avx2` is set only by `Level::detect` after
            // runtime detection found AVX2 on this CPU.
            return unsafe { x86::masks_avx2(block) };
        }
        // SAFETY: SSE2 is part of the x86_64 baseline, so the target feature
        // `masks_sse2` is compiled for is present on every x86_64 CPU.
        unsafe { x86::masks_sse2(block) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = level;
        masks_portable(block)
    }
}

/// Portable [`masks`].
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn masks_portable(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (j, &c) in block.iter().enumerate() {
        let bit = 1u64 << j;
        if c.is_ascii_digit() {
            m.digit |= bit;
            m.trigger |= bit;
        }
        if c == b'@' {
            m.trigger |= bit;
        }
    }
    m
}

/// Bit `j` set (for `j < 32`) when a birth-date key starts at `a[j]` with
/// `a[j + 1]` and `a[j + 2]` the next two bytes (see `context::dob_key`),
/// or a character that may fold to a letter or be dropped
/// (`context::may_fold`).
#[inline(always)]
pub(crate) fn dob_keys32(level: Level, a: &[u8; 34]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if level.avx2 {
            // SAFETY: `level.avx2` is set only by `Level::detect` after
            // runtime detection found AVX2 on this CPU.
            return unsafe { x86::dob_keys32_avx2(a) };
        }
        // SAFETY: SSE2 is part of the x86_64 baseline (see `masks`).
        unsafe { x86::dob_keys32_sse2(a) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = level;
        dob_keys32_portable(a)
    }
}

/// Portable [`dob_keys32`].
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn dob_keys32_portable(a: &[u8; 34]) -> u32 {
    let mut m = 0;
    for j in 0..32 {
        let (x, y, z) = (a[j], a[j + 1], a[j + 2]);
        if crate::context::may_fold(x, y, z) || crate::context::dob_key(x, y, z) {
            m |= 1 << j;
        }
    }
    m
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Masks;
    use core::arch::x86_64::{
        __m128i, __m256i, _mm_add_epi8, _mm_and_si128, _mm_andnot_si128, _mm_cmpeq_epi8,
        _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm256_add_epi8, _mm256_and_si256, _mm256_andnot_si256, _mm256_cmpeq_epi8,
        _mm256_cmpgt_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_testz_si256,
    };

    /// 0xff in each byte that is an ASCII digit (AVX2).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn digits32(x: __m256i) -> __m256i {
        // x - '0' < 10 unsigned, as a signed compare after adding 0x80.
        _mm256_cmpgt_epi8(
            _mm256_set1_epi8(-118),
            _mm256_add_epi8(x, _mm256_set1_epi8(0x50)),
        )
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn bits32(v: __m256i) -> u64 {
        u64::from(_mm256_movemask_epi8(v) as u32)
    }

    /// [`masks_sse2`] with 32-byte compares.
    #[target_feature(enable = "avx2")]
    pub(super) fn masks_avx2(block: &[u8; 64]) -> Masks {
        let p = block.as_ptr();
        // SAFETY: bytes 0..64 are inside the 64-byte array;
        // `_mm256_loadu_si256` has no alignment requirement.
        let (x0, x1) = unsafe {
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
            )
        };
        let digit = bits32(digits32(x0)) | bits32(digits32(x1)) << 32;
        let at = _mm256_set1_epi8(b'@' as i8);
        let (a0, a1) = (_mm256_cmpeq_epi8(x0, at), _mm256_cmpeq_epi8(x1, at));
        let any = _mm256_or_si256(a0, a1);
        if _mm256_testz_si256(any, any) != 0 {
            return Masks {
                digit,
                trigger: digit,
            };
        }
        Masks {
            digit,
            trigger: digit | bits32(a0) | bits32(a1) << 32,
        }
    }

    /// [`alnum_sse2`] with 32-byte compares.
    #[target_feature(enable = "avx2")]
    pub(super) fn alnum_avx2(block: &[u8; 64]) -> u64 {
        let p = block.as_ptr();
        // SAFETY: bytes 0..64 are inside the 64-byte array;
        // `_mm256_loadu_si256` has no alignment requirement.
        let (x0, x1) = unsafe {
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
            )
        };
        let an = |x: __m256i| {
            // l - 'a' < 26 unsigned for l = x | 0x20, as for `letters`.
            let l = _mm256_or_si256(x, _mm256_set1_epi8(0x20));
            let letter = _mm256_cmpgt_epi8(
                _mm256_set1_epi8(-102),
                _mm256_add_epi8(l, _mm256_set1_epi8(0x1f)),
            );
            _mm256_or_si256(digits32(x), letter)
        };
        bits32(an(x0)) | bits32(an(x1)) << 32
    }

    /// 0xff in each byte that is an ASCII digit.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn digits(x: __m128i) -> __m128i {
        // x - '0' < 10 unsigned, as a signed compare after adding 0x80.
        _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x50)), _mm_set1_epi8(-118))
    }

    /// 0xff in each byte that is an ASCII letter, given `l = x | 0x20`.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn letters(l: __m128i) -> __m128i {
        // l - 'a' < 26 unsigned.
        _mm_cmplt_epi8(_mm_add_epi8(l, _mm_set1_epi8(0x1f)), _mm_set1_epi8(-102))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn bits(v: __m128i) -> u64 {
        u64::from(_mm_movemask_epi8(v) as u16)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn masks_sse2(block: &[u8; 64]) -> Masks {
        let p = block.as_ptr();
        // SAFETY: bytes 0..64 are inside the 64-byte array;
        // `_mm_loadu_si128` has no alignment requirement.
        let (x0, x1, x2, x3) = unsafe {
            (
                _mm_loadu_si128(p.cast()),
                _mm_loadu_si128(p.add(16).cast()),
                _mm_loadu_si128(p.add(32).cast()),
                _mm_loadu_si128(p.add(48).cast()),
            )
        };
        let digit = bits(digits(x0))
            | bits(digits(x1)) << 16
            | bits(digits(x2)) << 32
            | bits(digits(x3)) << 48;
        let at = _mm_set1_epi8(b'@' as i8);
        let (a0, a1, a2, a3) = (
            _mm_cmpeq_epi8(x0, at),
            _mm_cmpeq_epi8(x1, at),
            _mm_cmpeq_epi8(x2, at),
            _mm_cmpeq_epi8(x3, at),
        );
        let any = _mm_or_si128(_mm_or_si128(a0, a1), _mm_or_si128(a2, a3));
        if _mm_movemask_epi8(any) == 0 {
            return Masks {
                digit,
                trigger: digit,
            };
        }
        let ats = bits(a0) | bits(a1) << 16 | bits(a2) << 32 | bits(a3) << 48;
        Masks {
            digit,
            trigger: digit | ats,
        }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn alnum_sse2(block: &[u8; 64]) -> u64 {
        let case = _mm_set1_epi8(0x20);
        let mut m = 0;
        for k in 0..4 {
            // SAFETY: bytes `16 * k .. 16 * k + 16` are inside the 64-byte
            // array; `_mm_loadu_si128` has no alignment requirement.
            let x = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * k).cast()) };
            let an = _mm_or_si128(digits(x), letters(_mm_or_si128(x, case)));
            m |= bits(an) << (16 * k);
        }
        m
    }

    /// [`dob_keys32`](super::dob_keys32) as two 16-position steps.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn dob_keys32_sse2(a: &[u8; 34]) -> u32 {
        let p = a.as_ptr();
        // SAFETY: each load reads 16 bytes starting at most at offset 18 of
        // the 34-byte array; `_mm_loadu_si128` has no alignment requirement.
        let (x0, y0, z0, x1, y1, z1) = unsafe {
            (
                _mm_loadu_si128(p.cast()),
                _mm_loadu_si128(p.add(1).cast()),
                _mm_loadu_si128(p.add(2).cast()),
                _mm_loadu_si128(p.add(16).cast()),
                _mm_loadu_si128(p.add(17).cast()),
                _mm_loadu_si128(p.add(18).cast()),
            )
        };
        dob_keys_v(x0, y0, z0) | dob_keys_v(x1, y1, z1) << 16
    }

    /// [`dob_keys32`](super::dob_keys32) with 32-byte compares: the same
    /// expression as `dob_keys_v`.
    #[target_feature(enable = "avx2")]
    pub(super) fn dob_keys32_avx2(a: &[u8; 34]) -> u32 {
        let p = a.as_ptr();
        // SAFETY: each load reads 32 bytes starting at most at offset 2 of
        // the 34-byte array; `_mm256_loadu_si256` has no alignment
        // requirement.
        let (x, y, z) = unsafe {
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(1).cast()),
                _mm256_loadu_si256(p.add(2).cast()),
            )
        };
        let case = _mm256_set1_epi8(0x20);
        let (lx, ly, lz) = (
            _mm256_or_si256(x, case),
            _mm256_or_si256(y, case),
            _mm256_or_si256(z, case),
        );
        let eq = |v: __m256i, c: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8));
        let and = _mm256_and_si256;
        let or = _mm256_or_si256;
        let and3 = |a, b, c| and(and(a, b), c);
        let dob = and3(eq(lx, b'd'), eq(ly, b'o'), eq(lz, b'b'));
        let bir = and3(eq(lx, b'b'), or(eq(ly, b'i'), eq(ly, b'o')), eq(lz, b'r'));
        let nac = and3(eq(lx, b'n'), eq(ly, b'a'), eq(lz, b'c'));
        let cum = and3(eq(lx, b'c'), eq(ly, b'u'), eq(lz, b'm'));
        let letters = |l: __m256i| {
            _mm256_cmpgt_epi8(
                _mm256_set1_epi8(-102),
                _mm256_add_epi8(l, _mm256_set1_epi8(0x1f)),
            )
        };
        let an_x = or(digits32(x), letters(lx));
        let an_z = or(digits32(z), letters(lz));
        let lone_b = _mm256_andnot_si256(or(an_x, an_z), eq(ly, b'b'));
        let latin = _mm256_andnot_si256(or(eq(y, 0x97), eq(y, 0xb7)), eq(x, 0xc3));
        let fold = or(
            or(eq(x, b'\''), latin),
            and(
                eq(x, 0xe2),
                or(and(eq(y, 0x80), eq(z, 0x99)), and(eq(y, 0x84), eq(z, 0xaa))),
            ),
        );
        let keys = or(or(or(dob, bir), or(nac, cum)), or(lone_b, fold));
        _mm256_movemask_epi8(keys) as u32
    }

    /// Birth-date keys and `may_fold` characters at 16 positions, `x`, `y`,
    /// `z` the bytes at each position and the two after it.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn dob_keys_v(x: __m128i, y: __m128i, z: __m128i) -> u32 {
        let case = _mm_set1_epi8(0x20);
        let (lx, ly, lz) = (
            _mm_or_si128(x, case),
            _mm_or_si128(y, case),
            _mm_or_si128(z, case),
        );
        let eq = |v: __m128i, c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        let and3 = |a, b, c| _mm_and_si128(_mm_and_si128(a, b), c);
        let dob = and3(eq(lx, b'd'), eq(ly, b'o'), eq(lz, b'b'));
        let bir = and3(
            eq(lx, b'b'),
            _mm_or_si128(eq(ly, b'i'), eq(ly, b'o')),
            eq(lz, b'r'),
        );
        let nac = and3(eq(lx, b'n'), eq(ly, b'a'), eq(lz, b'c'));
        let cum = and3(eq(lx, b'c'), eq(ly, b'u'), eq(lz, b'm'));
        let an_x = _mm_or_si128(digits(x), letters(lx));
        let an_z = _mm_or_si128(digits(z), letters(lz));
        // A lone `b`: neither neighbour a letter or digit.
        let lone_b = _mm_andnot_si128(_mm_or_si128(an_x, an_z), eq(ly, b'b'));
        // `context::may_fold`: an apostrophe, a Latin-1 letter (C3 but not
        // C3 97 `×` or C3 B7 `÷`), U+2019 (E2 80 99) or U+212A (E2 84 AA).
        let latin = _mm_andnot_si128(_mm_or_si128(eq(y, 0x97), eq(y, 0xb7)), eq(x, 0xc3));
        let fold = _mm_or_si128(
            _mm_or_si128(eq(x, b'\''), latin),
            _mm_and_si128(
                eq(x, 0xe2),
                _mm_or_si128(
                    _mm_and_si128(eq(y, 0x80), eq(z, 0x99)),
                    _mm_and_si128(eq(y, 0x84), eq(z, 0xaa)),
                ),
            ),
        );
        let keys = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(dob, bir), _mm_or_si128(nac, cum)),
            _mm_or_si128(lone_b, fold),
        );
        _mm_movemask_epi8(keys) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn biased() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            prop::sample::select(
                b"0123456789@abdinorcumBDOR' -.,\x80\xc3\xff/:`{[\xe2\x84\x99\xaa".to_vec()
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn masks_equal_portable(v in prop::collection::vec(biased(), 64)) {
            let mut block = [0u8; 64];
            block.copy_from_slice(&v);
            for level in [Level::baseline(), Level::detect()] {
                prop_assert_eq!(masks(level, &block), masks_portable(&block));
                prop_assert_eq!(alnum(level, &block), alnum_portable(&block));
            }
        }

        #[test]
        fn dob_keys32_equal_portable(v in prop::collection::vec(biased(), 34)) {
            let mut a = [0u8; 34];
            a.copy_from_slice(&v);
            for level in [Level::baseline(), Level::detect()] {
                prop_assert_eq!(dob_keys32(level, &a), dob_keys32_portable(&a));
            }
        }
    }

    #[test]
    fn every_byte() {
        for c in 0..=255u8 {
            let block = [c; 64];
            for level in [Level::baseline(), Level::detect()] {
                assert_eq!(masks(level, &block), masks_portable(&block), "{c:#x}");
                assert_eq!(alnum(level, &block), alnum_portable(&block), "{c:#x}");
            }
            for d in 0..=255u8 {
                for z in [b' ', b'b', b'r', b'm', b'c', b'1', 0x80, 0x99, 0xaa, c, d] {
                    // Positions see (c, d, z), (d, z, c) and (z, c, d).
                    let mut a = [0u8; 34];
                    for (j, v) in a.iter_mut().enumerate() {
                        *v = [c, d, z][j % 3];
                    }
                    let want = dob_keys32_portable(&a);
                    for level in [Level::baseline(), Level::detect()] {
                        assert_eq!(dob_keys32(level, &a), want, "{c:#x} {d:#x} {z:#x}");
                    }
                }
            }
        }
    }
}
