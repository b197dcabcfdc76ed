//! The kinds of sensitive values and the confidence scale.

/// A kind of sensitive value the scanner can find.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    CreditCard,
    UsSsn,
    UsItin,
    Iban,
    AbaRouting,
    UsDriverLicense,
    UsPassport,
    UkPassport,
    DateOfBirth,
    Phone,
    Email,
    UkNino,
    CaSin,
}

const ALL: [Kind; 13] = [
    Kind::CreditCard,
    Kind::UsSsn,
    Kind::UsItin,
    Kind::Iban,
    Kind::AbaRouting,
    Kind::UsDriverLicense,
    Kind::UsPassport,
    Kind::UkPassport,
    Kind::DateOfBirth,
    Kind::Phone,
    Kind::Email,
    Kind::UkNino,
    Kind::CaSin,
];

impl Kind {
    /// Stable machine name (used in configuration and reports).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CreditCard => "credit_card",
            Kind::UsSsn => "us_ssn",
            Kind::UsItin => "us_itin",
            Kind::Iban => "iban",
            Kind::AbaRouting => "aba_routing",
            Kind::UsDriverLicense => "us_driver_license",
            Kind::UsPassport => "us_passport",
            Kind::UkPassport => "uk_passport",
            Kind::DateOfBirth => "date_of_birth",
            Kind::Phone => "phone",
            Kind::Email => "email",
            Kind::UkNino => "uk_nino",
            Kind::CaSin => "ca_sin",
        }
    }

    /// Human readable label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::CreditCard => "payment card number",
            Kind::UsSsn => "US social security number",
            Kind::UsItin => "US individual taxpayer identification number",
            Kind::Iban => "international bank account number (IBAN)",
            Kind::AbaRouting => "ABA routing number",
            Kind::UsDriverLicense => "US driver's license number",
            Kind::UsPassport => "US passport number",
            Kind::UkPassport => "UK passport number",
            Kind::DateOfBirth => "date of birth",
            Kind::Phone => "phone number",
            Kind::Email => "email address",
            Kind::UkNino => "UK national insurance number",
            Kind::CaSin => "Canadian social insurance number",
        }
    }

    /// Every kind, in declaration order.
    pub fn all() -> &'static [Kind] {
        &ALL
    }

    /// Inverse of [`Kind::as_str`] (also accepts a few aliases, case-insensitive).
    pub fn parse(s: &str) -> Option<Kind> {
        let t = s.trim();
        for k in ALL {
            if t.eq_ignore_ascii_case(k.as_str()) {
                return Some(k);
            }
        }
        let alias = match t.to_ascii_lowercase().as_str() {
            "card" | "pan" | "payment_card" => Kind::CreditCard,
            "ssn" => Kind::UsSsn,
            "itin" => Kind::UsItin,
            "aba" | "routing" => Kind::AbaRouting,
            "driver_license" | "drivers_license" | "dl" => Kind::UsDriverLicense,
            "dob" => Kind::DateOfBirth,
            "phone_number" | "tel" => Kind::Phone,
            "email_address" => Kind::Email,
            "nino" => Kind::UkNino,
            "sin" => Kind::CaSin,
            _ => return None,
        };
        Some(alias)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure the scanner is: `Low` = pattern only / weak, `Medium` = validated and
/// plausible, `High` = validated with a strong format or supporting context words.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &k in Kind::all() {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert!(!k.label().is_empty());
        }
        assert_eq!(Kind::parse("SSN"), Some(Kind::UsSsn));
        assert_eq!(Kind::parse("nope"), None);
        assert_eq!(Kind::all().len(), 13);
        for (i, k) in Kind::all().iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }

    #[test]
    fn confidence_order() {
        assert!(Confidence::Low < Confidence::Medium);
        assert!(Confidence::Medium < Confidence::High);
    }
}
