//! `attachments.*`: risky attachments.
//!
//! - `attachments.id_document`: an image or PDF named like an identity document
//!   (`drivers_license_front.jpg`, `pasaporte.pdf`), also inside archives.
//! - `attachments.bulk_sensitive`: a spreadsheet, CSV or document with many sensitive values.
//! - `attachments.encrypted`: an encrypted archive or password-protected file that cannot be
//!   scanned.
//! - `attachments.unscannable`: an attachment the engine could not read (corrupt, unsupported
//!   format, expansion limits hit). A scanner that cannot see says so.

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::parse::AnomalyKind;
use doublecheck_extract::FileKind;
use doublecheck_pii::Kind;
use std::collections::{BTreeMap, HashSet};

pub const ID_DOCUMENT: &str = "attachments.id_document";
pub const BULK: &str = "attachments.bulk_sensitive";
pub const ENCRYPTED: &str = "attachments.encrypted";
pub const UNSCANNABLE: &str = "attachments.unscannable";

/// Words in a file name that suggest an identity document (matched as whole tokens).
const ID_WORDS: &[&str] = &[
    "license",
    "licence",
    "licencia",
    "driver",
    "drivers",
    "driving",
    "dl",
    "passport",
    "pasaporte",
    "passeport",
    "id",
    "ids",
    "idcard",
    "identity",
    "identification",
    "identificacion",
    "dni",
    "nie",
    "cedula",
    "ine",
    "curp",
    "ssn",
    "ssc",
    "social",
    "selfie",
    "carnet",
    "permiso",
    "residence",
    "greencard",
    "visa",
    "documento",
    "document",
    "nationalid",
    "identitycard",
];

/// Tokens that must appear together with a generic word to count (`document` alone is not an ID).
const GENERIC: &[&str] = &[
    "document",
    "documento",
    "social",
    "visa",
    "residence",
    "permiso",
];

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    id_documents(ctx, out);
    bulk(ctx, out);
    problems(ctx, out);
}

fn id_documents(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for a in &ctx.msg.attachments {
        let mut names: Vec<(String, FileKind, String)> = Vec::new();
        if let Some(n) = &a.name {
            names.push((n.clone(), a.kind, a.path.clone()));
        }
        for m in &a.members {
            names.push((m.path.clone(), m.kind, format!("{}/{}", a.path, m.path)));
        }
        for (name, kind, path) in names {
            let image_or_pdf = matches!(kind, FileKind::Image(_) | FileKind::Pdf);
            if image_or_pdf && looks_like_id_document(&name) {
                out.push(
                    Finding::new(ID_DOCUMENT, Severity::High, Location::part(&path))
                        .kind(match kind {
                            FileKind::Pdf => "pdf",
                            _ => "image",
                        })
                        .evidence(format!("attachment \"{}\"", short(&name)))
                        .reason("The attachment looks like a photo or scan of an identity document, which must not travel by email.")
                        .fix("Remove the attachment; collect identity documents through the verification portal."),
                );
            }
        }
    }
}

/// Does a file name suggest an identity document? Whole tokens only: `idea.png` is not an ID.
pub fn looks_like_id_document(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let tokens: Vec<String> = split_tokens(&split_camel(stem).to_lowercase());
    let strong = tokens
        .iter()
        .any(|t| ID_WORDS.contains(&t.as_str()) && !GENERIC.contains(&t.as_str()));
    let generic = tokens
        .iter()
        .filter(|t| GENERIC.contains(&t.as_str()))
        .count();
    strong || generic >= 2
}

/// `DriverLicense` → `Driver License`; `IDCard` stays one token (`idcard` is in the list).
fn split_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase();
        out.push(c);
    }
    out
}

/// Split on non-letters and on lower→upper camel-case changes; fold common accents.
fn split_tokens(s: &str) -> Vec<String> {
    let folded: String = s
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            c => c,
        })
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric() || c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn short(name: &str) -> String {
    if name.chars().count() > 80 {
        let s: String = name.chars().take(77).collect();
        format!("{s}...")
    } else {
        name.to_string()
    }
}

fn bulk(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // Attachment path (top-level part) → distinct values per kind.
    // Attachment path → distinct (kind, value) pairs and the first masked value.
    type Values = (HashSet<(Kind, u64)>, Option<String>);
    let mut per_attachment: BTreeMap<String, Values> = BTreeMap::new();
    for (seg, pii) in ctx.msg.texts.iter().zip(ctx.pii()) {
        if !seg.origin.is_attachment() {
            continue;
        }
        let top = seg.path.split('/').next().unwrap_or("").to_string();
        let entry = per_attachment
            .entry(top)
            .or_insert_with(|| (HashSet::new(), None));
        for m in &pii.hits {
            if matches!(m.kind, Kind::Email | Kind::Phone) {
                continue;
            }
            entry.0.insert((m.kind, m.key));
            if entry.1.is_none() {
                entry.1 = pii.masked(m.kind).map(str::to_string);
            }
        }
    }
    let bulk = ctx.settings.bulk_values.max(1);
    for (path, (values, first)) in per_attachment {
        let n = values.len();
        if n < bulk {
            continue;
        }
        let kinds: Vec<&str> = {
            let mut k: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
            k.sort_unstable();
            k.dedup();
            k
        };
        let name = ctx
            .msg
            .attachments
            .iter()
            .find(|a| a.path == path)
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| format!("part {path}"));
        out.push(
            Finding::new(BULK, if n >= bulk * 10 { Severity::Critical } else { Severity::High }, Location::part(&path))
                .kind(kinds.join(","))
                .count(n)
                .evidence(format!(
                    "\"{}\": {n} distinct sensitive values ({}), e.g. {}",
                    short(&name),
                    kinds.join(", "),
                    first.unwrap_or_default()
                ))
                .reason("The attachment is a list of customers' sensitive data; one wrong recipient exposes all of them.")
                .fix("Share the file through an approved, access-controlled system instead of email."),
        );
    }
}

fn problems(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // One finding per attachment and kind of problem, however many members share it.
    let mut seen: Vec<(&'static str, &'static str, String, usize)> = Vec::new();
    for a in &ctx.msg.anomalies {
        let (id, severity, kind, fix) = match a.kind {
            AnomalyKind::Encrypted => (
                ENCRYPTED,
                Severity::High,
                "encrypted",
                "Send the file unencrypted through an approved channel, or share it through a secure system so it can be checked.",
            ),
            AnomalyKind::Unscannable => (
                UNSCANNABLE,
                Severity::Medium,
                "unreadable",
                "Check that the file opens; re-save or re-export it and attach it again.",
            ),
            AnomalyKind::AttachmentLimit => (
                UNSCANNABLE,
                Severity::Medium,
                "limit",
                "Attach the files directly instead of in nested or very large archives.",
            ),
            AnomalyKind::Unsupported => (
                UNSCANNABLE,
                Severity::Low,
                "unsupported",
                "Use ZIP instead of RAR/7z, or a current Office format, so the contents can be checked.",
            ),
            _ => continue,
        };
        let top = a.path.split('/').next().unwrap_or("").to_string();
        if let Some(entry) = seen
            .iter_mut()
            .find(|(i, k, t, _)| *i == id && *k == kind && *t == top)
        {
            let index = entry.3;
            out[index].count += 1;
            continue;
        }
        seen.push((id, kind, top, out.len()));
        out.push(
            Finding::new(id, severity, Location::part(&a.path))
                .kind(kind)
                .evidence(a.detail.clone())
                .reason("doublecheck could not look inside this attachment, so it may carry data that nobody checked.")
                .fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn id_document_names() {
        for yes in [
            "drivers_license_front.jpg",
            "DriverLicense.png",
            "passport-scan.pdf",
            "mi_pasaporte.jpeg",
            "ID.jpg",
            "dni_ana.png",
            "cédula.jpg",
            "selfie_with_id.heic",
            "scan/dl_back.png",
            "residence_permiso_documento.pdf",
        ] {
            assert!(looks_like_id_document(yes), "{yes}");
        }
        for no in [
            "idea.png",
            "invoice.pdf",
            "slide1.png",
            "logo.gif",
            "document.pdf",
            "identifier_list.png",
            "video.jpg",
        ] {
            assert!(!looks_like_id_document(no), "{no}");
        }
    }

    fn with_attachment(name: &str, ctype: &str, body_b64: &str) -> String {
        format!(
            "From: a@gmail.com\r\nTo: support@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhere it is\r\n--B\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{body_b64}\r\n--B--\r\n"
        )
    }

    #[test]
    fn license_photo_attached() {
        // A PNG signature and a few bytes.
        let raw = with_attachment(
            "drivers_license.png",
            "image/png",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        );
        let f = run(detect, &raw, &[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].id, ID_DOCUMENT);
        assert_eq!(f[0].location.part.as_deref(), Some("2"));
    }

    #[test]
    fn csv_with_many_ssns_is_bulk() {
        let ssns = [
            "123-45-6788",
            "234-56-7890",
            "345-67-8901",
            "456-78-9012",
            "567-89-0123",
            "212-34-5678",
            "312-45-6789",
            "412-56-7890",
            "512-67-8901",
            "612-78-9012",
            "132-43-2109",
        ];
        let csv: String = std::iter::once("name,ssn\n".to_string())
            .chain(
                ssns.iter()
                    .enumerate()
                    .map(|(i, s)| format!("Customer {i},{s}\n")),
            )
            .collect();
        let raw = format!(
            "From: a@example.com\r\nTo: x@gmail.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nlist attached\r\n--B\r\nContent-Type: text/csv; name=\"customers.csv\"\r\nContent-Disposition: attachment; filename=\"customers.csv\"\r\n\r\n{csv}\r\n--B--\r\n"
        );
        let f = run(detect, &raw, &[]);
        let bulk: Vec<_> = f.iter().filter(|x| x.id == BULK).collect();
        assert_eq!(bulk.len(), 1, "{f:?}");
        assert!(bulk[0].count >= 10, "{:?}", bulk[0]);
        assert!(bulk[0].evidence.contains("customers.csv"));
    }

    #[test]
    fn plain_image_is_fine() {
        let raw = with_attachment(
            "team_photo.png",
            "image/png",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        );
        assert!(run(detect, &raw, &[]).is_empty());
    }
}
