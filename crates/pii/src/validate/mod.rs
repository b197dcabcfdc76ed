//! Validators: pure functions over normalised values (digits only, upper-case
//! alphanumerics) plus, per kind, the pattern reader used by the scanner.
//! Each file holds one type with its own tests.

pub mod aba;
pub mod card;
pub mod dl;
pub mod dob;
pub mod email;
pub mod iban;
pub mod itin;
pub mod mrz;
pub mod nino;
pub mod passport;
pub mod phone;
pub mod sin;
pub mod ssn;

pub use aba::aba;
pub use card::{CardBrand, card_brand, luhn};
pub use dob::date_valid;
pub use email::email;
pub use iban::{iban, iban_length};
pub use itin::itin;
pub use mrz::{mrz_check_digit, mrz_td3_line2};
pub use nino::nino;
pub use sin::sin;
pub use ssn::ssn;

/// Parse ASCII digits into their values; `None` if any byte is not a digit.
pub(crate) fn digit_values<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, &c) in out.iter_mut().zip(s) {
        if !c.is_ascii_digit() {
            return None;
        }
        *o = c - b'0';
    }
    Some(out)
}

pub(crate) fn num(s: &[u8]) -> u32 {
    s.iter()
        .take(9)
        .fold(0u32, |a, &c| a * 10 + u32::from(c.wrapping_sub(b'0') % 10))
}
