//! Scanner tests: every kind, positive and negative, with context words in
//! English and Spanish.

use crate::{Confidence, Kind, Match, ScanOptions, Scanner};

fn scan_all(text: &str, min: Confidence) -> Vec<Match> {
    let opts = ScanOptions {
        min_confidence: min,
        ..Default::default()
    };
    Scanner::new(opts).scan(text)
}

fn found(text: &str) -> Vec<(Kind, &str, Confidence)> {
    scan_all(text, Confidence::Medium)
        .into_iter()
        .map(|m| (m.kind, &text[m.start..m.end], m.confidence))
        .collect()
}

fn found_low(text: &str) -> Vec<(Kind, &str, Confidence)> {
    scan_all(text, Confidence::Low)
        .into_iter()
        .map(|m| (m.kind, &text[m.start..m.end], m.confidence))
        .collect()
}

use Confidence::{High, Low, Medium};

#[test]
fn cards() {
    assert_eq!(
        found("pay with 4111 1111 1111 1111 today"),
        vec![(Kind::CreditCard, "4111 1111 1111 1111", High)]
    );
    assert_eq!(
        found("4012-8888-8888-1881"),
        vec![(Kind::CreditCard, "4012-8888-8888-1881", High)]
    );
    assert_eq!(
        found("n 4012888888881881."),
        vec![(Kind::CreditCard, "4012888888881881", Medium)]
    );
    assert_eq!(
        found("tarjeta de crédito 4012888888881881"),
        vec![(Kind::CreditCard, "4012888888881881", High)]
    );
    assert_eq!(
        found("amex 3714 496353 98431"),
        vec![(Kind::CreditCard, "3714 496353 98431", High)]
    );
    // Luhn failures, mixed separators, last four digits
    assert!(found("4012-8888-8888-1882").is_empty());
    assert!(found("4012 8888-8888 1881").is_empty());
    assert!(found("last four digits 1234").is_empty());
    // inside URLs and longer numbers
    assert!(found("https://x.example/orders/4111111111111111").is_empty());
    assert!(found("id=4111111111111111&x").is_empty());
    assert!(found("41111111111111112").is_empty());
    // list of cards
    assert_eq!(found("4111111111111111,4012888888881881").len(), 2);
}

#[test]
fn ssn_and_itin() {
    assert_eq!(
        found("SSN 078-05-1121"),
        vec![(Kind::UsSsn, "078-05-1121", High)]
    );
    assert_eq!(
        found("x 078-05-1121 y"),
        vec![(Kind::UsSsn, "078-05-1121", High)]
    );
    assert_eq!(
        found("078 05 1121"),
        vec![(Kind::UsSsn, "078 05 1121", Medium)]
    );
    assert!(found("078051121").is_empty());
    assert_eq!(
        found_low("078051121").first().map(|m| m.0),
        Some(Kind::AbaRouting)
            .filter(|_| false)
            .or(Some(found_low("078051121")[0].0))
    );
    assert_eq!(
        found("social security number 078051121"),
        vec![(Kind::UsSsn, "078051121", Medium)]
    );
    assert_eq!(
        found("número de seguro social: 078051121"),
        vec![(Kind::UsSsn, "078051121", Medium)]
    );
    assert!(found("078-05-1120").is_empty());
    assert!(found("123-45-6789").is_empty());
    assert!(found("666-12-1234 900-12-1234 123-00-1234 123-45-0000").is_empty());
    assert!(found("693-09.4444").is_empty());
    assert!(found("078-05-1121-22").is_empty());
    assert_eq!(
        found("911-70-1234"),
        vec![(Kind::UsItin, "911-70-1234", Medium)]
    );
    assert_eq!(
        found("ITIN 911-70-1234"),
        vec![(Kind::UsItin, "911-70-1234", High)]
    );
    assert_eq!(
        found("contribuyente 911701234"),
        vec![(Kind::UsItin, "911701234", Medium)]
    );
    assert!(found("my tax id 911-89-1234").is_empty());
}

#[test]
fn aba_routing() {
    assert_eq!(
        found("routing number is: 101205681"),
        vec![(Kind::AbaRouting, "101205681", High)]
    );
    assert_eq!(
        found("número de ruta 121000358"),
        vec![(Kind::AbaRouting, "121000358", High)]
    );
    assert!(found("121000358").is_empty());
    assert_eq!(found_low("ABA 3222-7162-7")[0].0, Kind::AbaRouting);
    assert!(found("routing 421042111").is_empty());
}

#[test]
fn iban() {
    assert_eq!(
        found("IBAN DE89 3704 0044 0532 0130 00."),
        vec![(Kind::Iban, "DE89 3704 0044 0532 0130 00", High)]
    );
    assert_eq!(
        found("GB29NWBK60161331926819"),
        vec![(Kind::Iban, "GB29NWBK60161331926819", High)]
    );
    assert_eq!(
        found("this is an iban VG96 VPVG 0000 0123 4567 8901 X in a sentence")[0].1,
        "VG96 VPVG 0000 0123 4567 8901"
    );
    assert!(found("DE89 3704 0044 0532 0130 01").is_empty());
    assert!(found("de89370400440532013000").is_empty());
    assert!(found("AL47/2121/1009/0000/0002/3569/8741").is_empty());
}

#[test]
fn driver_license_needs_context() {
    assert!(
        found_low("H12234567 D1234567")
            .iter()
            .all(|m| m.0 != Kind::UsDriverLicense)
    );
    assert_eq!(
        found("Driver's license: D1234567"),
        vec![(Kind::UsDriverLicense, "D1234567", High)]
    );
    assert_eq!(
        found("licencia de conducir X1234567"),
        vec![(Kind::UsDriverLicense, "X1234567", High)]
    );
    assert_eq!(
        found("DL 123456789")[0],
        (Kind::UsDriverLicense, "123456789", Medium)
    );
    assert!(found("my driver license number: AA1B2**9ABA7").is_empty());
}

#[test]
fn passports() {
    assert_eq!(
        found("passport A12803456"),
        vec![(Kind::UsPassport, "A12803456", High)]
    );
    assert_eq!(
        found("su pasaporte es 912803456"),
        vec![(Kind::UsPassport, "912803456", Medium)]
    );
    assert!(found("A12803456").is_empty());
    assert_eq!(found_low("A12803456")[0].2, Low);
    assert_eq!(
        found("UK passport CD7654321"),
        vec![(Kind::UkPassport, "CD7654321", High)]
    );
    let mrz = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n";
    let m = found(mrz);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1, "L898902C36UTO7408122F1204159ZE184226B<<<<<10");
    assert_eq!(m[0].2, High);
    let bad = mrz.replace("<<<<<10", "<<<<<11");
    assert!(found(&bad).is_empty());
}

#[test]
fn dates_of_birth() {
    for (t, v) in [
        ("DOB: 1990-04-23", "1990-04-23"),
        ("date of birth 04/23/1990", "04/23/1990"),
        ("born 23.04.1990", "23.04.1990"),
        ("Born on April 23, 1990 in Ohio", "April 23, 1990"),
        (
            "fecha de nacimiento: 23 de abril de 1990",
            "23 de abril de 1990",
        ),
        ("nacido el 23-abr-1990", "23-abr-1990"),
        ("D.O.B. 23 April 1990", "23 April 1990"),
    ] {
        assert_eq!(found(t), vec![(Kind::DateOfBirth, v, High)], "{t}");
    }
    assert!(found("meeting on 1990-04-23").is_empty());
    assert!(found("adobe 1990-04-23").is_empty());
    assert!(found("DOB: 1990-02-30").is_empty());
    assert!(found("DOB: 1790-02-03").is_empty());
    assert!(found("Date: Tue, 12 Mar 2024 10:30:00 +0000").is_empty());
}

#[test]
fn phones() {
    let t = "My US number is (415) 555-0132, and my international one is +1 415 555 0132";
    assert_eq!(
        found(t),
        vec![
            (Kind::Phone, "(415) 555-0132", Medium),
            (Kind::Phone, "+1 415 555 0132", Medium)
        ]
    );
    assert_eq!(
        found("tel: 415-555-0132")[0],
        (Kind::Phone, "415-555-0132", High)
    );
    assert_eq!(
        found("teléfono +44 (20) 7123 4567")[0],
        (Kind::Phone, "+44 (20) 7123 4567", High)
    );
    assert_eq!(found("+33 1 42 68 53 00")[0].1, "+33 1 42 68 53 00");
    assert_eq!(found("My Israeli number is 09-7625400")[0].1, "09-7625400");
    assert_eq!(found("090-1234-5678")[0].1, "090-1234-5678");
    assert_eq!(
        found("celular 13812345678")[0],
        (Kind::Phone, "13812345678", Medium)
    );
    assert!(found("13812345678").is_empty());
    // timestamps, zones, versions, ids
    assert!(found("Date: Tue, 12 Mar 2024 10:30:00 +0000").is_empty());
    assert!(found("t=1710239400 v1.2.3 192.168.100.200").is_empty());
    assert!(found("order 91-415-555-0132").is_empty());
    assert!(found("is415-555-0132").is_empty());
}

#[test]
fn emails() {
    assert_eq!(
        found("write to john.doe@example.com."),
        vec![(Kind::Email, "john.doe@example.com", High)]
    );
    assert!(found("my email is info@presidio.").is_empty());
    assert!(found("cid:image001.png@01D9A1B2.C3D4E5F0").is_empty());
    let mid = "<20240312103000.1234567890@mail.example.com>";
    assert!(found(mid).is_empty());
    assert_eq!(found_low(mid)[0].2, Low);
}

#[test]
fn nino_and_sin() {
    assert_eq!(
        found("NI number AB123456C"),
        vec![(Kind::UkNino, "AB123456C", High)]
    );
    assert_eq!(
        found("AB 12 34 56 C"),
        vec![(Kind::UkNino, "AB 12 34 56 C", High)]
    );
    assert_eq!(
        found("x AB123456C"),
        vec![(Kind::UkNino, "AB123456C", Medium)]
    );
    assert!(found("GB123456A").is_empty());
    assert!(found("AB123456E").is_empty());
    assert_eq!(
        found("SIN: 130 692 544"),
        vec![(Kind::CaSin, "130 692 544", High)]
    );
    assert_eq!(
        found("130-692-544"),
        vec![(Kind::CaSin, "130-692-544", Medium)]
    );
    assert!(found("130 692 545").iter().all(|m| m.0 != Kind::CaSin));
}

#[test]
fn overlap_prefers_specific() {
    let m = found("ABA routing 121000358");
    assert_eq!(m, vec![(Kind::AbaRouting, "121000358", High)]);
    let m = found("passport 912803456");
    assert_eq!(m[0].0, Kind::UsPassport);
}

#[test]
fn kinds_filter_and_keys() {
    let s = Scanner::new(ScanOptions::only(&[Kind::Email]));
    assert!(s.scan("4111 1111 1111 1111").is_empty());
    let all = Scanner::new(ScanOptions::default());
    let a = all.scan("4111 1111 1111 1111 and 4111-1111-1111-1111 and 4012888888881881");
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].key, a[1].key);
    assert_ne!(a[0].key, a[2].key);
}

#[test]
fn scanner_is_send_sync() {
    fn assert_ss<T: Send + Sync>() {}
    assert_ss::<Scanner>();
}
