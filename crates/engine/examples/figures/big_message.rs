//! A realistic large message for benchmarks: bodies, a CSV export, a PDF with a text layer and
//! photos, base64-encoded as a mail client would.

/// Build a message of about `target_mb` megabytes.
pub fn build(target_mb: usize) -> Vec<u8> {
    let target = target_mb * 1_000_000;
    let mut out = String::with_capacity(target + 1_000_000);
    out.push_str("From: Billing <billing@phoneco.example>\r\nTo: partner@billing-partner.example\r\nSubject: Monthly export\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n");
    out.push_str("--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for i in 0..2000 {
        out.push_str(&format!(
            "Line {i}: the monthly export is attached; call 415-555-0132 with questions.\r\n"
        ));
    }
    // CSV export, ~1/4 of the size.
    let mut csv = String::from("id,name,email,card,amount\n");
    let mut i = 0u64;
    while csv.len() < target / 4 * 3 / 4 {
        csv.push_str(&format!(
            "{i},Customer {i},customer{i}@example.org,4111 1111 1111 1111,{}.{:02}\n",
            i % 997,
            i % 100
        ));
        i += 1;
    }
    push_b64(&mut out, "text/csv", "export.csv", csv.as_bytes());
    // PDF with a text layer, ~1/8.
    let pdf = pdf_with_text(target / 8 * 3 / 4);
    push_b64(&mut out, "application/pdf", "statement.pdf", &pdf);
    // Photos: pseudo-random binary with a JPEG header, the rest of the size.
    let mut k = 0u32;
    while out.len() < target {
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ k as u64;
        while jpg.len() < 2_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            jpg.extend_from_slice(&x.to_le_bytes());
        }
        push_b64(&mut out, "image/jpeg", &format!("photo{k}.jpg"), &jpg);
        k += 1;
    }
    out.push_str("--BIG--\r\n");
    out.into_bytes()
}

fn push_b64(out: &mut String, ctype: &str, name: &str, data: &[u8]) {
    out.push_str(&format!(
        "--BIG\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ));
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut line = 0;
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [
            T[(n >> 18) as usize & 63],
            T[(n >> 12) as usize & 63],
            T[(n >> 6) as usize & 63],
            T[n as usize & 63],
        ];
        let keep = chunk.len() + 1;
        for (j, c) in chars.iter().enumerate() {
            out.push(if j < keep { *c as char } else { '=' });
        }
        line += 4;
        if line >= 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    out.push_str("\r\n");
}

fn pdf_with_text(size: usize) -> Vec<u8> {
    let mut content = String::from("BT /F1 10 Tf 50 750 Td 12 TL\n");
    let mut i = 0;
    while content.len() < size {
        content.push_str(&format!(
            "(Account {i} holder statement line, balance {}.00) Tj T*\n",
            i % 5000
        ));
        i += 1;
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", n + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}
