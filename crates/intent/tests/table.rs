//! Table test: labelled English and Spanish sentences. Each row says whether the detector must
//! fire and, when it must, one category it must report. Precision and recall over the table are
//! printed; every row must pass.

use doublecheck_intent::Detector;

/// `(text, expected category or None for "must not fire")`.
const EN: &[(&str, Option<&str>)] = &[
    // --- requests (must fire) ---
    (
        "Please reply to this email with a copy of your driver's license to verify your address.",
        Some("drivers_license"),
    ),
    (
        "Please send us a copy of your driver's license.",
        Some("drivers_license"),
    ),
    ("Reply with a photo of your passport.", Some("passport")),
    ("Attach a scan of your ID.", Some("id_document")),
    (
        "Kindly forward your bank statement at your earliest convenience.",
        Some("bank_details"),
    ),
    ("We need you to email your SSN.", Some("ssn")),
    ("Could you send your card number?", Some("payment_card")),
    (
        "Can you reply with your date of birth?",
        Some("date_of_birth"),
    ),
    (
        "Please upload a photo of your passport and reply to this email.",
        Some("passport"),
    ),
    (
        "Send a picture of the front and back of your license.",
        Some("drivers_license"),
    ),
    (
        "Please send us a copy of your driver’s license.",
        Some("drivers_license"),
    ),
    (
        "please send us a copy of your drivers license",
        Some("drivers_license"),
    ),
    (
        "Please send a copy of your driver license.",
        Some("drivers_license"),
    ),
    (
        "Please send a scan of your driving licence.",
        Some("drivers_license"),
    ),
    (
        "PLEASE REPLY WITH A COPY OF YOUR DRIVER'S LICENSE",
        Some("drivers_license"),
    ),
    (
        "Please   send   us\n   a copy of your\n driver's\n   license.",
        Some("drivers_license"),
    ),
    (
        "Please send us a copy of<br>your driver's license<br>so we can verify your address.",
        Some("drivers_license"),
    ),
    (
        "<p>Dear customer,</p><p>Please reply with a copy of your driver&#8217;s license.</p>",
        Some("drivers_license"),
    ),
    (
        "Hi Maria, reply to this message with your social security number.",
        Some("ssn"),
    ),
    (
        "We need your Social Security number to complete the application.",
        Some("ssn"),
    ),
    (
        "Could you please email me your credit card number and the CVV?",
        Some("payment_card"),
    ),
    (
        "Please provide your bank account and routing number in your reply.",
        Some("bank_details"),
    ),
    ("Please reply with your IBAN.", Some("bank_details")),
    (
        "Please send us a recent utility bill as proof of address.",
        Some("proof_of_address"),
    ),
    (
        "Also attach a selfie holding your ID card.",
        Some("selfie_with_id"),
    ),
    (
        "Reply with your username and password so we can restore access.",
        Some("password"),
    ),
    ("Please email us your PIN.", Some("password")),
    (
        "Don't forget to send a copy of your passport.",
        Some("passport"),
    ),
    (
        "To verify your identity, please send us a photo ID.",
        Some("id_document"),
    ),
    (
        "Scan your passport and email it back to us.",
        Some("passport"),
    ),
    ("Would you mind sending your tax ID number?", Some("tax_id")),
    (
        "You will need to submit your ITIN by replying to this email.",
        Some("tax_id"),
    ),
    (
        "We still need your date of birth, please reply.",
        Some("date_of_birth"),
    ),
    (
        "Please include your full card number and expiry date in your reply.",
        Some("payment_card"),
    ),
    (
        "Forward us your most recent bank statement.",
        Some("bank_details"),
    ),
    (
        "We don't keep paper records, but please send your passport number.",
        Some("passport"),
    ),
    (
        "Just reply with your DOB and we will update the record.",
        Some("date_of_birth"),
    ),
    (
        "Please send us:\n- a copy of your passport\n- a utility bill",
        Some("passport"),
    ),
    (
        "Thanks for your order.\nPlease reply with a picture of your government-issued ID.",
        Some("id_document"),
    ),
    (
        "Make sure to attach your proof of residence.",
        Some("proof_of_address"),
    ),
    (
        "Please reply with your full name, date of birth and the last four digits of your SSN.",
        Some("ssn"),
    ),
    (
        "You can also email us a copy of your ID if that is easier.",
        Some("id_document"),
    ),
    (
        "Please email the signed contract along with a copy of your passport.",
        Some("passport"),
    ),
    (
        "We never store card numbers. Please send your card number to complete the order.",
        Some("payment_card"),
    ),
    // --- negations and warnings (must not fire) ---
    ("Never send your license by email.", None),
    ("We will never ask you to send your password.", None),
    ("Do not reply with your card number.", None),
    ("Please do not send your passport by email.", None),
    ("Don't email us your social security number.", None),
    (
        "We would never, under any circumstances, ask you to reply with your PIN.",
        None,
    ),
    ("Avoid sending your bank details by email.", None),
    ("You should not send your driver's license to anyone.", None),
    ("No need to send your passport; we already have it.", None),
    // --- discussion, reports (must not fire) ---
    ("The customer sent a copy of their license yesterday.", None),
    ("We received your passport scan.", None),
    (
        "Last week's email asked customers to send their licenses — this was a mistake.",
        None,
    ),
    ("Our policy on driver's license photos.", None),
    ("The DMV will mail your new license.", None),
    ("Scammers may ask you to send your bank details.", None),
    (
        "If you receive an email asking you to reply with your password, delete it.",
        None,
    ),
    (
        "Customers send their passports to the consulate for renewal.",
        None,
    ),
    ("Your new credit card is on its way.", None),
    // --- portals and safe channels (must not fire) ---
    (
        "Please upload your license at https://portal.example.com/verify.",
        None,
    ),
    (
        "Please upload your license through our secure portal.",
        None,
    ),
    (
        "Please send your passport through our secure portal, not by email.",
        None,
    ),
    ("Please provide your date of birth on our website.", None),
    ("Upload a photo of your ID in the app.", None),
    // --- keywords inside other words or with other meanings (must not fire) ---
    ("Please send the report to our licensed agents.", None),
    (
        "Please reply to sign up for identity theft awareness training.",
        None,
    ),
    ("Please send the idle report again.", None),
    ("Please send me the license key for the software.", None),
    (
        "Please reply if you forgot your password and need a reset.",
        None,
    ),
    (
        "Please send us your questions about passport renewals.",
        None,
    ),
    ("Send us your feedback!", None),
    ("Please send your license renewal form to the DMV.", None),
    ("Send money to friends with your debit card!", None),
    (
        "Please reply STOP to unsubscribe from credit card offers.",
        None,
    ),
    (
        "Please send me your comments on the passport policy draft.",
        None,
    ),
    ("Attached is a copy of my passport.", None),
    ("I have attached my driver's license as requested.", None),
    ("Enter your credit card number on the next page.", None),
    ("Can you send me the license agreement?", None),
    (
        "For security reasons, please do not include your password in any reply.",
        None,
    ),
    ("We will send your new passport by courier.", None),
    (
        "If you have any questions, please reply to this email.",
        None,
    ),
    ("Please reply to confirm your new address.", None),
];

const ES: &[(&str, Option<&str>)] = &[
    // --- peticiones (deben disparar) ---
    (
        "Por favor envíenos una copia de su licencia de conducir.",
        Some("drivers_license"),
    ),
    (
        "por favor envienos una copia de su licencia de conducir",
        Some("drivers_license"),
    ),
    (
        "Responda a este correo con una foto de su pasaporte.",
        Some("passport"),
    ),
    (
        "responda a este correo con una foto de su pasaporte",
        Some("passport"),
    ),
    ("Adjunte su DNI.", Some("national_id")),
    ("Envíe su número de tarjeta.", Some("payment_card")),
    ("Envie su numero de tarjeta.", Some("payment_card")),
    ("Mande una foto de su cédula.", Some("national_id")),
    ("Mande una foto de su cedula.", Some("national_id")),
    ("Necesitamos su número de seguro social.", Some("ssn")),
    ("Necesitamos su numero de seguro social.", Some("ssn")),
    (
        "¿Podría enviarnos su fecha de nacimiento?",
        Some("date_of_birth"),
    ),
    (
        "Le pedimos que nos envíe un comprobante de domicilio.",
        Some("proof_of_address"),
    ),
    (
        "Hola Juan, reenvíe su estado de cuenta a esta dirección.",
        Some("bank_details"),
    ),
    (
        "Favor de proporcionar su CURP y su RFC.",
        Some("national_id"),
    ),
    (
        "Por favor adjunte una foto de su INE por ambos lados.",
        Some("national_id"),
    ),
    (
        "Escanee su pasaporte y respóndanos por correo.",
        Some("passport"),
    ),
    (
        "Por favor responda con su contraseña para reactivar la cuenta.",
        Some("password"),
    ),
    (
        "Es necesario que nos envíe sus datos bancarios.",
        Some("bank_details"),
    ),
    (
        "POR FAVOR ENVÍENOS SU NÚMERO DE CUENTA",
        Some("bank_details"),
    ),
    (
        "Por favor envíenos\nuna copia de su\nlicencia de conducir.",
        Some("drivers_license"),
    ),
    (
        "No olvide adjuntar una copia de su pasaporte.",
        Some("passport"),
    ),
    (
        "Envíanos una selfie con tu documento de identidad.",
        Some("selfie_with_id"),
    ),
    (
        "Requerimos una copia de su tarjeta de crédito por ambos lados.",
        Some("payment_card"),
    ),
    (
        "Para completar el trámite, envíe una foto de su carné de conducir.",
        Some("drivers_license"),
    ),
    (
        "Por favor, responda a este correo indicando su número de cuenta y su fecha de nacimiento.",
        Some("date_of_birth"),
    ),
    (
        "Envíenos su pasaporte por correo o súbalo en el portal.",
        Some("passport"),
    ),
    // --- negaciones y advertencias (no deben disparar) ---
    ("Nunca le pediremos que envíe su pasaporte.", None),
    ("No envíe su DNI por correo.", None),
    ("No envie su DNI por correo.", None),
    ("Jamás responda a un correo con su número de tarjeta.", None),
    ("Por favor, no nos mande su contraseña.", None),
    (
        "Evite enviar sus datos bancarios por correo electrónico.",
        None,
    ),
    (
        "En ningún caso le solicitaremos que adjunte su cédula.",
        None,
    ),
    // --- discusión (no deben disparar) ---
    ("El cliente envió una copia de su licencia ayer.", None),
    ("Recibimos la copia de su pasaporte.", None),
    (
        "El correo de la semana pasada pidió a los clientes enviar su licencia; fue un error.",
        None,
    ),
    (
        "Nuestra política sobre las fotos de licencias de conducir.",
        None,
    ),
    (
        "Los estafadores pueden pedirle que envíe su número de tarjeta.",
        None,
    ),
    ("Cuando el cliente envíe su DNI, lo revisaremos.", None),
    // --- canales seguros y otras acepciones (no deben disparar) ---
    ("Por favor suba su licencia en nuestro portal seguro.", None),
    (
        "Envíe su pasaporte a través del enlace seguro https://portal.ejemplo.com.",
        None,
    ),
    (
        "Por favor envíe la licencia de software al departamento.",
        None,
    ),
    ("Por favor envíenos sus preguntas sobre el pasaporte.", None),
    ("Le enviaremos su nueva tarjeta de crédito.", None),
    ("Si tiene dudas, responda a este correo.", None),
    (
        "Por favor no responda a este correo con su pasaporte, use el portal.",
        None,
    ),
    ("Le enviamos su nueva tarjeta de crédito por correo.", None),
];

#[derive(Default)]
struct Score {
    tp: usize,
    fp: usize,
    tn: usize,
    fn_: usize,
    failures: Vec<String>,
}

fn run(detector: &Detector, rows: &[(&str, Option<&str>)], score: &mut Score) {
    for &(text, expected) in rows {
        let found = detector.find(text);
        match expected {
            Some(category) => {
                if found.iter().any(|s| s.category == category) {
                    score.tp += 1;
                } else {
                    score.fn_ += 1;
                    score.failures.push(format!(
                        "missed {category}: {text:?} -> {:?}",
                        found.iter().map(|s| s.category).collect::<Vec<_>>()
                    ));
                }
            }
            None => {
                if found.is_empty() {
                    score.tn += 1;
                } else {
                    score.fp += 1;
                    score.failures.push(format!(
                        "false alarm: {text:?} -> {:?}",
                        found
                            .iter()
                            .map(|s| (s.category, s.document.as_str()))
                            .collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
}

fn report(name: &str, rows: usize, s: &Score) {
    let precision = s.tp as f64 / (s.tp + s.fp).max(1) as f64;
    let recall = s.tp as f64 / (s.tp + s.fn_).max(1) as f64;
    println!(
        "{name}: {rows} rows, {} positive, {} negative; tp={} fp={} tn={} fn={}; precision={:.3} recall={:.3}",
        s.tp + s.fn_,
        s.tn + s.fp,
        s.tp,
        s.fp,
        s.tn,
        s.fn_,
        precision,
        recall
    );
    for f in &s.failures {
        println!("  {f}");
    }
}

#[test]
fn table() {
    assert!(EN.len() >= 60, "{} English rows", EN.len());
    assert!(ES.len() >= 40, "{} Spanish rows", ES.len());
    let detector = Detector::new();
    let mut en = Score::default();
    let mut es = Score::default();
    run(&detector, EN, &mut en);
    run(&detector, ES, &mut es);
    report("en", EN.len(), &en);
    report("es", ES.len(), &es);
    let all = en.failures.len() + es.failures.len();
    assert_eq!(all, 0, "{all} rows failed (see output above)");
}

#[test]
fn solicitation_fields() {
    let text = "Hello,\n\nPlease reply to this email with a copy of your driver’s license.";
    let found = Detector::new().find(text);
    assert_eq!(found.len(), 1, "{found:?}");
    let s = &found[0];
    assert_eq!(s.category, "drivers_license");
    assert_eq!(s.document, "driver’s license");
    assert_eq!(s.language, "en");
    assert_eq!(
        &text[s.start..s.end],
        &text[text.find("Please").unwrap_or(0)..text.len() - 1]
    );
    assert_eq!(
        s.snippet,
        "Please reply to this email with a copy of your driver’s license."
    );
    assert!(
        s.confidence > 0.5 && s.confidence <= 1.0,
        "{}",
        s.confidence
    );

    let es = Detector::new().find("Por favor adjunte su DNI.");
    assert_eq!(es.len(), 1, "{es:?}");
    assert_eq!(es[0].language, "es");
    assert_eq!(es[0].document, "DNI");
}

#[test]
fn one_hit_per_category_and_sentence() {
    let found = Detector::new()
        .find("Please send your passport, your driver's license and your passport number.");
    let cats: Vec<_> = found.iter().map(|s| s.category).collect();
    assert_eq!(cats, ["passport", "drivers_license"]);
}
