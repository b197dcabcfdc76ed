//! Every string the customer reads, one table per language: English and Spanish.
//!
//! The language comes from `?lang=` (the visible switch, remembered in a cookie), then that
//! cookie, then `Accept-Language` (highest weight first), then English. Sentences with a
//! number carry `{n}`, filled by [`fill`].

use axum::http::HeaderMap;

/// A language of the customer's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Es,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if primary.eq_ignore_ascii_case("es") {
            Some(Lang::Es)
        } else {
            None
        }
    }

    /// The best of `Accept-Language` (weights honoured; at most 32 entries read).
    pub fn from_accept_language(headers: &HeaderMap) -> Option<Lang> {
        let v = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)?
            .to_str()
            .ok()?;
        if v.len() > 1024 {
            return None;
        }
        let mut best: Option<(u16, Lang)> = None;
        for part in v.split(',').take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("");
            let Some(lang) = Lang::parse(tag) else {
                continue;
            };
            let mut q = 1000u16;
            for p in it {
                if let Some(w) = p.trim().strip_prefix("q=") {
                    q = w
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|w| (0.0..=1.0).contains(w))
                        .map(|w| (w * 1000.0) as u16)
                        .unwrap_or(0);
                }
            }
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Es => &ES,
        }
    }
}

/// Replaces `{n}` with a number.
pub fn fill(s: &str, n: impl std::fmt::Display) -> String {
    s.replace("{n}", &n.to_string())
}

/// The strings of one language.
#[derive(Debug)]
pub struct Texts {
    pub site: &'static str,
    pub skip: &'static str,
    pub language: &'static str,
    pub secure_note: &'static str,

    // the link
    pub invalid_title: &'static str,
    pub invalid_body: &'static str,
    pub too_many_title: &'static str,
    pub too_many_body: &'static str,
    pub used_title: &'static str,
    pub used_body: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub replaced_title: &'static str,
    pub replaced_body: &'static str,
    pub canceled_title: &'static str,
    pub canceled_body: &'static str,
    pub closed_title: &'static str,
    pub closed_body: &'static str,
    pub submitted_title: &'static str,
    pub submitted_body: &'static str,
    pub renew_intro: &'static str,
    pub renew_button: &'static str,
    pub renew_sent_title: &'static str,
    pub renew_sent_body: &'static str,

    // the second factor
    pub start_title: &'static str,
    pub start_intro: &'static str,
    pub send_email: &'static str,
    pub send_sms: &'static str,
    pub knowledge_title: &'static str,
    pub knowledge_intro: &'static str,
    pub or: &'static str,
    pub postcode: &'static str,
    pub postcode_hint: &'static str,
    pub birth_date: &'static str,
    pub birth_date_hint: &'static str,
    pub account_last4: &'static str,
    pub account_last4_hint: &'static str,
    pub check_button: &'static str,
    pub code_title: &'static str,
    pub code_sent_email: &'static str,
    pub code_sent_sms: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub code_button: &'static str,
    pub resend_button: &'static str,
    pub code_malformed: &'static str,
    pub code_wrong: &'static str,
    pub knowledge_wrong: &'static str,
    pub code_expired: &'static str,
    pub code_none: &'static str,
    pub send_failed: &'static str,
    pub send_too_soon: &'static str,
    pub send_too_many: &'static str,
    pub locked_title: &'static str,
    pub locked_body: &'static str,

    // the address
    pub address_title: &'static str,
    pub address_intro: &'static str,
    pub line1: &'static str,
    pub line2: &'static str,
    pub city: &'static str,
    pub region: &'static str,
    pub address_postcode: &'static str,
    pub country: &'static str,
    pub optional: &'static str,
    pub required_field: &'static str,
    pub field_too_long: &'static str,
    pub field_bad_chars: &'static str,
    pub postcode_invalid: &'static str,
    pub form_has_errors: &'static str,
    pub continue_button: &'static str,

    // the document
    pub upload_title: &'static str,
    pub upload_intro: &'static str,
    pub upload_label: &'static str,
    pub upload_hint: &'static str,
    pub upload_button: &'static str,
    pub upload_privacy: &'static str,
    pub change_address: &'static str,
    pub upload_missing: &'static str,
    pub upload_unavailable: &'static str,
    pub up_empty: &'static str,
    pub up_too_large: &'static str,
    pub up_type: &'static str,
    pub up_archive: &'static str,
    pub up_polyglot: &'static str,
    pub up_pdf_active: &'static str,
    pub up_pdf_encrypted: &'static str,
    pub up_pdf_malformed: &'static str,
    pub up_pdf_unchecked: &'static str,
    pub up_image_large: &'static str,
    pub up_image_unreadable: &'static str,
    pub up_filename: &'static str,

    // the end
    pub done_title: &'static str,
    pub done_body: &'static str,
    pub done_next: &'static str,
    pub done_close: &'static str,
    pub done_return: &'static str,

    // errors
    pub forbidden_title: &'static str,
    pub forbidden_body: &'static str,
    pub session_over_title: &'static str,
    pub session_over_body: &'static str,
    pub error_title: &'static str,
    pub error_body: &'static str,
    pub step: &'static str,
}

pub static EN: Texts = Texts {
    site: "Secure verification",
    skip: "Skip to content",
    language: "Language",
    secure_note: "This page is private to you. We never ask for documents by email.",

    invalid_title: "This link does not work",
    invalid_body: "Please check that you opened the whole link from the message you received. If it still does not work, ask the company that sent it for a new one.",
    too_many_title: "Please wait a moment",
    too_many_body: "There were too many attempts from your connection. Please wait a minute and try again.",
    used_title: "This link has already been used",
    used_body: "Each link works once, and this one has been used to send your details.",
    expired_title: "This link has expired",
    expired_body: "Links are valid for a limited time, and this one has run out.",
    replaced_title: "This link has been replaced",
    replaced_body: "A newer link was sent to you, and only the newest one works. Please open the most recent message.",
    canceled_title: "This verification was canceled",
    canceled_body: "The company that sent you this link canceled the request. There is nothing more to do here.",
    closed_title: "This verification is finished",
    closed_body: "This request is closed and there is nothing more to do here.",
    submitted_title: "We already have your details",
    submitted_body: "Your details were sent and are being checked. There is nothing more to do.",
    renew_intro: "Need a new link? We can send one to the contact details we already have for you.",
    renew_button: "Send me a new link",
    renew_sent_title: "Check your messages",
    renew_sent_body: "If this request can still be completed, we have sent a new link to the contact details we have on file. It may take a few minutes to arrive.",

    start_title: "Confirm it is you",
    start_intro: "Before we show you anything, we need to check that this link is in the right hands. We will send a 6-digit code to the contact details we already have for you.",
    send_email: "Send me a code by email",
    send_sms: "Send me a code by text message",
    knowledge_title: "Or answer a question",
    knowledge_intro: "Instead of a code, you can confirm details we already have about you.",
    or: "or",
    postcode: "Postcode of your address on file",
    postcode_hint: "For example SW1A 1AA or 28013.",
    birth_date: "Date of birth",
    birth_date_hint: "As year-month-day, for example 1990-04-23.",
    account_last4: "Last 4 digits of your account number",
    account_last4_hint: "Four digits.",
    check_button: "Check my answer",
    code_title: "Enter your code",
    code_sent_email: "We sent a 6-digit code by email. It is valid for {n} minutes.",
    code_sent_sms: "We sent a 6-digit code by text message. It is valid for {n} minutes.",
    code_label: "6-digit code",
    code_hint: "Only the digits, for example 123456.",
    code_button: "Confirm",
    resend_button: "Send a new code",
    code_malformed: "Enter the 6 digits of the code.",
    code_wrong: "That code is not right. You have {n} attempts left.",
    knowledge_wrong: "Those details do not match what we have. You have {n} attempts left.",
    code_expired: "That code has expired. Please ask for a new one.",
    code_none: "Please ask for a code first.",
    send_failed: "We could not send the code just now. Please try again in a minute.",
    send_too_soon: "A code was sent moments ago. Please wait {n} seconds before asking for another.",
    send_too_many: "You have asked for the most codes allowed for now. Please try again in an hour, or use the code you already received.",
    locked_title: "Verification locked",
    locked_body: "There were too many wrong attempts, so for your security this verification is locked. Please contact the company that sent you the link.",

    address_title: "Your address",
    address_intro: "Please confirm your address, or correct it if anything has changed.",
    line1: "Street and number",
    line2: "Flat, floor, building",
    city: "Town or city",
    region: "County, province or state",
    address_postcode: "Postcode",
    country: "Country",
    optional: "optional",
    required_field: "Please fill in this field.",
    field_too_long: "This is too long.",
    field_bad_chars: "This contains characters we cannot accept.",
    postcode_invalid: "Enter a postcode of 2 to 10 letters and digits.",
    form_has_errors: "Please correct the fields marked below.",
    continue_button: "Continue",

    upload_title: "Your document",
    upload_intro: "Upload a photo or scan of your document. A JPEG or PNG photo, or a PDF, of at most 10 MB.",
    upload_label: "Document",
    upload_hint: "JPEG, PNG or PDF, at most 10 MB.",
    upload_button: "Send document",
    upload_privacy: "Your document is encrypted as soon as it arrives. Only authorised staff can view it, and it is deleted after the check.",
    change_address: "Change my address",
    upload_missing: "Please choose a file to upload.",
    upload_unavailable: "Uploads are not possible right now. Please try again later.",
    up_empty: "The file is empty; please choose the document again.",
    up_too_large: "The file is too large; please upload a file of at most 10 MB.",
    up_type: "This type of file is not accepted; please upload a JPEG or PNG photo or a PDF.",
    up_archive: "Compressed archives such as ZIP files are not accepted; please upload the document itself as a JPEG, PNG or PDF.",
    up_polyglot: "The file contains extra content that does not belong in a photo or PDF; please export or photograph the document again.",
    up_pdf_active: "The PDF contains scripts, actions or attached files; please save it as a plain PDF (for example with Print to PDF) or upload a photo.",
    up_pdf_encrypted: "The PDF is password-protected; please upload a copy without a password.",
    up_pdf_malformed: "The PDF appears damaged or incomplete; please export it again.",
    up_pdf_unchecked: "The PDF could not be checked; please save it as a plain PDF (for example with Print to PDF) or upload a photo.",
    up_image_large: "The image is too large; please upload a smaller photo.",
    up_image_unreadable: "The image could not be read; please take the photo again.",
    up_filename: "The file name is not accepted; please rename the file without slashes or special characters.",

    done_title: "Thank you — we have your details",
    done_body: "Your details were sent securely.",
    done_next: "What happens next: our team checks them, usually within two working days. We will contact you only if something is missing. You do not need to send anything by email.",
    done_close: "You can close this page now.",
    done_return: "Return to the website",

    forbidden_title: "This form has expired",
    forbidden_body: "For your security, please go back, reload the page and try again.",
    session_over_title: "Please confirm it is you again",
    session_over_body: "Your secure session has ended. Open the link from your message again to continue.",
    error_title: "Something went wrong",
    error_body: "We could not complete this step. Please try again in a few minutes.",
    step: "Step {n}",
};

pub static ES: Texts = Texts {
    site: "Verificación segura",
    skip: "Ir al contenido",
    language: "Idioma",
    secure_note: "Esta página es privada. Nunca le pediremos documentos por correo electrónico.",

    invalid_title: "Este enlace no funciona",
    invalid_body: "Compruebe que ha abierto el enlace completo del mensaje que recibió. Si sigue sin funcionar, pida uno nuevo a la empresa que se lo envió.",
    too_many_title: "Espere un momento, por favor",
    too_many_body: "Ha habido demasiados intentos desde su conexión. Espere un minuto y vuelva a intentarlo.",
    used_title: "Este enlace ya se ha utilizado",
    used_body: "Cada enlace funciona una sola vez, y este ya se utilizó para enviar sus datos.",
    expired_title: "Este enlace ha caducado",
    expired_body: "Los enlaces son válidos durante un tiempo limitado, y este ya ha caducado.",
    replaced_title: "Este enlace ha sido sustituido",
    replaced_body: "Le enviamos un enlace más reciente, y solo funciona el último. Abra el mensaje más reciente.",
    canceled_title: "Esta verificación se ha cancelado",
    canceled_body: "La empresa que le envió este enlace canceló la solicitud. No tiene que hacer nada más.",
    closed_title: "Esta verificación ha terminado",
    closed_body: "Esta solicitud está cerrada y no tiene que hacer nada más.",
    submitted_title: "Ya tenemos sus datos",
    submitted_body: "Sus datos se enviaron y se están revisando. No tiene que hacer nada más.",
    renew_intro: "¿Necesita un enlace nuevo? Podemos enviarlo a los datos de contacto que ya tenemos.",
    renew_button: "Enviarme un enlace nuevo",
    renew_sent_title: "Revise sus mensajes",
    renew_sent_body: "Si esta solicitud todavía puede completarse, hemos enviado un enlace nuevo a los datos de contacto que constan. Puede tardar unos minutos en llegar.",

    start_title: "Confirme que es usted",
    start_intro: "Antes de mostrarle nada, debemos comprobar que este enlace está en las manos correctas. Le enviaremos un código de 6 cifras a los datos de contacto que ya tenemos.",
    send_email: "Enviarme un código por correo electrónico",
    send_sms: "Enviarme un código por SMS",
    knowledge_title: "O responda a una pregunta",
    knowledge_intro: "En lugar de un código, puede confirmar datos que ya tenemos sobre usted.",
    or: "o",
    postcode: "Código postal de la dirección que consta",
    postcode_hint: "Por ejemplo 28013.",
    birth_date: "Fecha de nacimiento",
    birth_date_hint: "Como año-mes-día, por ejemplo 1990-04-23.",
    account_last4: "Últimas 4 cifras de su número de cuenta",
    account_last4_hint: "Cuatro cifras.",
    check_button: "Comprobar mi respuesta",
    code_title: "Introduzca su código",
    code_sent_email: "Le hemos enviado un código de 6 cifras por correo electrónico. Es válido durante {n} minutos.",
    code_sent_sms: "Le hemos enviado un código de 6 cifras por SMS. Es válido durante {n} minutos.",
    code_label: "Código de 6 cifras",
    code_hint: "Solo las cifras, por ejemplo 123456.",
    code_button: "Confirmar",
    resend_button: "Enviar un código nuevo",
    code_malformed: "Introduzca las 6 cifras del código.",
    code_wrong: "Ese código no es correcto. Le quedan {n} intentos.",
    knowledge_wrong: "Esos datos no coinciden con los que tenemos. Le quedan {n} intentos.",
    code_expired: "Ese código ha caducado. Pida uno nuevo, por favor.",
    code_none: "Pida primero un código, por favor.",
    send_failed: "No hemos podido enviar el código ahora. Vuelva a intentarlo dentro de un minuto.",
    send_too_soon: "Acabamos de enviar un código. Espere {n} segundos antes de pedir otro.",
    send_too_many: "Ha pedido el máximo de códigos permitido por ahora. Vuelva a intentarlo dentro de una hora o utilice el código que ya recibió.",
    locked_title: "Verificación bloqueada",
    locked_body: "Ha habido demasiados intentos fallidos y, por su seguridad, esta verificación está bloqueada. Póngase en contacto con la empresa que le envió el enlace.",

    address_title: "Su dirección",
    address_intro: "Confirme su dirección o corríjala si algo ha cambiado.",
    line1: "Calle y número",
    line2: "Piso, puerta, edificio",
    city: "Localidad",
    region: "Provincia o región",
    address_postcode: "Código postal",
    country: "País",
    optional: "opcional",
    required_field: "Rellene este campo, por favor.",
    field_too_long: "Es demasiado largo.",
    field_bad_chars: "Contiene caracteres que no podemos aceptar.",
    postcode_invalid: "Introduzca un código postal de 2 a 10 letras y cifras.",
    form_has_errors: "Corrija los campos indicados abajo, por favor.",
    continue_button: "Continuar",

    upload_title: "Su documento",
    upload_intro: "Suba una foto o un escaneo de su documento: una foto JPEG o PNG, o un PDF, de 10 MB como máximo.",
    upload_label: "Documento",
    upload_hint: "JPEG, PNG o PDF, 10 MB como máximo.",
    upload_button: "Enviar documento",
    upload_privacy: "Su documento se cifra en cuanto llega. Solo el personal autorizado puede verlo, y se borra tras la revisión.",
    change_address: "Cambiar mi dirección",
    upload_missing: "Elija un archivo para subir, por favor.",
    upload_unavailable: "Ahora no es posible subir archivos. Vuelva a intentarlo más tarde.",
    up_empty: "El archivo está vacío; elija de nuevo el documento.",
    up_too_large: "El archivo es demasiado grande; suba un archivo de 10 MB como máximo.",
    up_type: "No se acepta este tipo de archivo; suba una foto JPEG o PNG o un PDF.",
    up_archive: "No se aceptan archivos comprimidos como ZIP; suba el documento como JPEG, PNG o PDF.",
    up_polyglot: "El archivo contiene contenido adicional que no corresponde a una foto o un PDF; exporte o fotografíe de nuevo el documento.",
    up_pdf_active: "El PDF contiene scripts, acciones o archivos adjuntos; guárdelo como PDF simple (por ejemplo, con Imprimir a PDF) o suba una foto.",
    up_pdf_encrypted: "El PDF está protegido con contraseña; suba una copia sin contraseña.",
    up_pdf_malformed: "El PDF parece dañado o incompleto; expórtelo de nuevo.",
    up_pdf_unchecked: "No hemos podido comprobar el PDF; guárdelo como PDF simple (por ejemplo, con Imprimir a PDF) o suba una foto.",
    up_image_large: "La imagen es demasiado grande; suba una foto más pequeña.",
    up_image_unreadable: "No hemos podido leer la imagen; haga la foto de nuevo.",
    up_filename: "No se acepta el nombre del archivo; cámbielo sin barras ni caracteres especiales.",

    done_title: "Gracias, ya tenemos sus datos",
    done_body: "Sus datos se han enviado de forma segura.",
    done_next: "Qué ocurre ahora: nuestro equipo los revisa, normalmente en dos días laborables. Solo nos pondremos en contacto con usted si falta algo. No tiene que enviar nada por correo electrónico.",
    done_close: "Ya puede cerrar esta página.",
    done_return: "Volver al sitio web",

    forbidden_title: "Este formulario ha caducado",
    forbidden_body: "Por su seguridad, vuelva atrás, recargue la página e inténtelo de nuevo.",
    session_over_title: "Confirme de nuevo que es usted",
    session_over_body: "Su sesión segura ha terminado. Abra de nuevo el enlace de su mensaje para continuar.",
    error_title: "Algo ha fallado",
    error_body: "No hemos podido completar este paso. Vuelva a intentarlo dentro de unos minutos.",
    step: "Paso {n}",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> Option<Lang> {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(v).unwrap(),
        );
        Lang::from_accept_language(&h)
    }

    #[test]
    fn accept_language_weights() {
        assert_eq!(accept("es"), Some(Lang::Es));
        assert_eq!(accept("es-MX,es;q=0.9,en;q=0.8"), Some(Lang::Es));
        assert_eq!(accept("fr-FR, en;q=0.5, es;q=0.7"), Some(Lang::Es));
        assert_eq!(accept("en-GB,es;q=0.9"), Some(Lang::En));
        assert_eq!(accept("de, fr"), None);
        assert_eq!(accept("es;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(accept("es;q=abc"), None);
        assert_eq!(
            fill(EN.code_wrong, 3),
            "That code is not right. You have 3 attempts left."
        );
    }
}
