//! Upload validation with files built here: photos with EXIF GPS, PNGs with text chunks, zip
//! bombs, polyglots, PDFs with scripts, decompression bombs.

use std::io::{Cursor, Write};

use doublecheck_vault::{DocumentKind, UploadPolicy, inspect, sanitize};
use image::{ImageDecoder, ImageFormat, ImageReader, RgbImage, RgbaImage};
use memchr::memmem;
use proptest::prelude::*;

fn policy() -> UploadPolicy {
    UploadPolicy::default()
}

fn code<T>(r: Result<T, doublecheck_vault::UploadError>) -> &'static str {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => {
            assert!(!e.customer_message().is_empty());
            e.code()
        }
    }
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    gradient(w, h)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    gradient(w, h)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

/// An APP1 Exif segment: orientation 6 (rotate 90° clockwise) and a GPS latitude.
fn exif_app1() -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08");
    // IFD0: 2 entries.
    tiff.extend_from_slice(&[0, 2]);
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation = 6
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]); // GPS IFD at 38
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(tiff.len(), 38);
    tiff.extend_from_slice(&[0, 2]);
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]); // GPSLatitudeRef = N
    tiff.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]); // GPSLatitude at 68
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(tiff.len(), 68);
    for (n, d) in [(51u32, 1u32), (30, 1), (2661, 100)] {
        tiff.extend_from_slice(&n.to_be_bytes());
        tiff.extend_from_slice(&d.to_be_bytes());
    }
    let mut seg = vec![0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(b"Exif\x00\x00");
    seg.extend_from_slice(&tiff);
    seg
}

fn insert_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    let mut v = jpeg[..2].to_vec();
    v.extend_from_slice(segment);
    v.extend_from_slice(&jpeg[2..]);
    v
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    c.extend_from_slice(&crc.sum().to_be_bytes());
    c
}

fn insert_before_iend(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let cut = png.len() - 12;
    assert_eq!(&png[cut + 4..cut + 8], b"IEND");
    let mut v = png[..cut].to_vec();
    for c in chunks {
        v.extend_from_slice(c);
    }
    v.extend_from_slice(&png[cut..]);
    v
}

fn zip_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    w.start_file(name, opts).unwrap();
    w.write_all(content).unwrap();
    w.finish().unwrap().into_inner()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A one-page PDF with correct xref offsets; `catalog_extra` goes into the catalog dictionary,
/// `objects` are appended as objects 4, 5, … (raw bodies between `N 0 obj` and `endobj`).
fn pdf(catalog_extra: &str, objects: &[Vec<u8>]) -> Vec<u8> {
    let mut bodies: Vec<Vec<u8>> = vec![
        format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>").into_bytes(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_vec(),
    ];
    bodies.extend(objects.iter().cloned());
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", bodies.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            bodies.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn object_stream(content: &[u8], filter: &str) -> Vec<u8> {
    let data = if filter == "/FlateDecode" {
        zlib(content)
    } else {
        content.to_vec()
    };
    let mut o = format!(
        "<< /Type /ObjStm /N 1 /First 4 /Filter {filter} /Length {} >>\nstream\n",
        data.len()
    )
    .into_bytes();
    o.extend_from_slice(&data);
    o.extend_from_slice(b"\nendstream");
    o
}

// ---------------------------------------------------------------------------------------------
// Images

#[test]
fn jpeg_exif_gps_is_stripped_and_orientation_applied() {
    let mut photo = insert_after_soi(&jpeg(64, 32), &exif_app1());
    photo.extend_from_slice(b"TRAILING-BYTES-AFTER-EOI");
    // The input really has EXIF with GPS and orientation 6.
    assert!(memmem::find(&photo, b"Exif\0\0").is_some());
    let mut dec = ImageReader::with_format(Cursor::new(&photo), ImageFormat::Jpeg)
        .into_decoder()
        .unwrap();
    assert!(dec.exif_metadata().unwrap().is_some());

    let clean = sanitize(&photo, Some("IMG_2031.JPG"), &policy()).unwrap();
    assert_eq!(clean.kind, DocumentKind::Jpeg);
    assert_eq!(clean.display_name, "IMG_2031.JPG");
    assert_eq!(
        clean.dimensions,
        Some((32, 64)),
        "orientation applied before stripping"
    );
    let out = &clean.bytes;
    assert!(out.starts_with(&[0xFF, 0xD8, 0xFF]));
    assert!(memmem::find(out, b"Exif").is_none(), "no Exif marker");
    assert!(
        memmem::find(out, &[0xFF, 0xE1]).is_none(),
        "no APP1 segment"
    );
    assert!(memmem::find(out, b"TRAILING").is_none());
    assert!(out.ends_with(&[0xFF, 0xD9]));
    let mut dec = ImageReader::with_format(Cursor::new(out.as_ref()), ImageFormat::Jpeg)
        .into_decoder()
        .unwrap();
    assert!(dec.exif_metadata().unwrap().is_none());
    assert_eq!(dec.dimensions(), (32, 64));
}

#[test]
fn png_text_chunks_are_stripped() {
    let chunks = vec![
        png_chunk(b"tEXt", b"Comment\0home address 12 Acacia Avenue"),
        png_chunk(
            b"iTXt",
            b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>GPS 51.5N</x:xmpmeta>",
        ),
        png_chunk(b"eXIf", &exif_app1()[10..]),
    ];
    let mut input = insert_before_iend(&png(40, 30), &chunks);
    input.extend_from_slice(b"TRAILING");
    // Still a valid PNG that decodes.
    image::load_from_memory_with_format(&input, ImageFormat::Png).unwrap();

    let clean = sanitize(&input, Some("scan.png"), &policy()).unwrap();
    assert_eq!(clean.kind, DocumentKind::Png);
    for needle in [
        &b"tEXt"[..],
        b"iTXt",
        b"eXIf",
        b"Acacia",
        b"xmpmeta",
        b"TRAILING",
        b"Exif",
    ] {
        assert!(
            memmem::find(&clean.bytes, needle).is_none(),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
    let back = image::load_from_memory_with_format(&clean.bytes, ImageFormat::Png).unwrap();
    assert_eq!((back.width(), back.height()), (40, 30));
    assert_eq!(
        back.to_rgb8(),
        gradient(40, 30),
        "PNG re-encoding is lossless"
    );
}

#[test]
fn png_with_alpha_keeps_it() {
    let rgba = RgbaImage::from_fn(10, 10, |x, y| {
        image::Rgba([x as u8, y as u8, 0, (x * 20) as u8])
    });
    let mut out = Vec::new();
    rgba.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    let clean = sanitize(&out, None, &policy()).unwrap();
    assert_eq!(clean.display_name, "document.png");
    let back = image::load_from_memory(&clean.bytes).unwrap();
    assert_eq!(back.to_rgba8(), rgba);
}

#[test]
fn decompression_bomb_png_is_refused_by_its_header() {
    // IHDR declares 100,000 x 100,000 RGBA pixels (40 GB); the IDAT is a few bytes.
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    bomb.extend(png_chunk(b"IHDR", &ihdr));
    bomb.extend(png_chunk(b"IDAT", &zlib(&[0u8; 1000])));
    bomb.extend(png_chunk(b"IEND", b""));
    assert_eq!(code(inspect(&bomb, &policy())), "image_dimensions");
    assert_eq!(
        code(sanitize(&bomb, Some("a.png"), &policy())),
        "image_dimensions"
    );

    // Within the dimension limits but over the decoder's memory budget.
    let tight = UploadPolicy {
        max_decode_bytes: 1024 * 1024,
        ..policy()
    };
    let big = png(1000, 1000); // 3 MB of pixels
    assert_eq!(code(sanitize(&big, None, &tight)), "image_dimensions");
    // Over the pixel count.
    let few = UploadPolicy {
        max_pixels: 10_000,
        ..policy()
    };
    assert_eq!(code(inspect(&png(200, 200), &few)), "image_dimensions");
}

#[test]
fn broken_images_are_refused() {
    let j = jpeg(32, 32);
    assert_eq!(
        code(sanitize(&j[..j.len() / 3], None, &policy())),
        "image_unreadable"
    );
    let p = png(32, 32);
    assert_eq!(
        code(sanitize(&p[..40], None, &policy())),
        "image_unreadable"
    );
    assert_eq!(
        code(sanitize(b"\xff\xd8\xff", None, &policy())),
        "image_unreadable"
    );
}

// ---------------------------------------------------------------------------------------------
// Type, size, archives, polyglots

#[test]
fn wrong_magic_is_refused_whatever_the_name() {
    let cases: [&[u8]; 5] = [
        b"GIF89a\x01\x00\x01\x00",
        b"<html><body>passport</body></html>",
        b"MZ\x90\x00 this is a program",
        b"  %PDF-1.7 leading bytes",
        b"II*\x00 tiff",
    ];
    for c in cases {
        assert_eq!(
            code(sanitize(c, Some("passport.jpg"), &policy())),
            "unsupported_type"
        );
    }
    assert_eq!(code(inspect(b"", &policy())), "empty_file");
}

#[test]
fn too_large_is_refused_before_parsing() {
    let mut big = jpeg(16, 16);
    big.resize(10 * 1024 * 1024 + 1, 0);
    assert_eq!(code(inspect(&big, &policy())), "too_large");
    let msg = inspect(&big, &policy()).unwrap_err().customer_message();
    assert!(msg.contains("at most 10 MB"), "{msg}");
    let small = UploadPolicy {
        max_bytes: 100,
        ..policy()
    };
    assert_eq!(code(inspect(&jpeg(16, 16), &small)), "too_large");
}

#[test]
fn zip_bomb_renamed_jpg_is_refused() {
    let bomb = zip_of("passport.jpg", &vec![0u8; 20 * 1024 * 1024]);
    assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
    assert_eq!(
        code(sanitize(&bomb, Some("passport.jpg"), &policy())),
        "archive"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&[0u8; 100_000]).unwrap();
    assert_eq!(code(inspect(&gz.finish().unwrap(), &policy())), "archive");
}

#[test]
fn jpeg_zip_polyglot_is_refused() {
    let mut poly = jpeg(64, 64);
    poly.extend(zip_of("payload.html", b"<p>hidden</p>"));
    // Both a valid JPEG and a valid ZIP.
    image::load_from_memory_with_format(&poly, ImageFormat::Jpeg).unwrap();
    assert!(zip::ZipArchive::new(Cursor::new(&poly)).is_ok());
    assert_eq!(
        code(sanitize(&poly, Some("photo.jpg"), &policy())),
        "polyglot"
    );

    // A ZIP hidden in a comment segment in the middle, followed by a long tail.
    let z = zip_of("x.txt", b"hidden");
    let mut com = vec![0xFF, 0xFE];
    com.extend_from_slice(&((z.len() + 2) as u16).to_be_bytes());
    com.extend_from_slice(&z);
    let mut mid = insert_after_soi(&jpeg(64, 64), &com);
    mid.extend(vec![b' '; 70_000]);
    assert_eq!(code(inspect(&mid, &policy())), "polyglot");

    // PNG with a ZIP appended, PDF with a ZIP appended.
    let mut p = png(8, 8);
    p.extend(zip_of("a", b"b"));
    assert_eq!(code(inspect(&p, &policy())), "polyglot");
    let mut d = pdf("", &[]);
    d.extend(zip_of("a", b"b"));
    assert_eq!(code(inspect(&d, &policy())), "polyglot");
}

#[test]
fn html_and_script_polyglots_are_refused() {
    let mut com = vec![0xFF, 0xFE, 0x00, 0x1c];
    com.extend_from_slice(b"<SCRIPT>alert(1)</SCRIPT>\0");
    let j = insert_after_soi(&jpeg(16, 16), &com);
    image::load_from_memory_with_format(&j, ImageFormat::Jpeg).unwrap();
    assert_eq!(code(inspect(&j, &policy())), "polyglot");

    let p = insert_before_iend(
        &png(8, 8),
        &[png_chunk(b"tEXt", b"c\0<html><body onload=x>")],
    );
    assert_eq!(code(inspect(&p, &policy())), "polyglot");

    let d = pdf(
        "",
        &[b"<< /Length 20 >>\nstream\n<iframe src=x>     \nendstream".to_vec()],
    );
    assert_eq!(code(inspect(&d, &policy())), "polyglot");
}

#[test]
fn compressed_noise_is_not_a_polyglot() {
    // A PDF carrying 8 MB of incompressible bytes (as scanned pages do) passes the polyglot
    // rules: no pattern is short enough to match by chance.
    for seed in [1u64, 2, 3] {
        let mut x = seed;
        let noise: Vec<u8> = (0..8 * 1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut obj =
            format!("<< /Length {} /Filter /DCTDecode >>\nstream\n", noise.len()).into_bytes();
        obj.extend_from_slice(&noise);
        obj.extend_from_slice(b"\nendstream");
        assert!(inspect(&pdf("", &[obj]), &policy()).is_ok(), "seed {seed}");
    }
}

// ---------------------------------------------------------------------------------------------
// PDFs

#[test]
fn plain_pdf_is_kept_byte_for_byte() {
    let benign_objstm = object_stream(
        b"5 0 << /Type /Annot /Subtype /Link /A << /S /URI /URI (https://example.com) >> >>",
        "/FlateDecode",
    );
    let d = pdf("/OpenAction [3 0 R /FitH null]", &[benign_objstm]);
    let clean = sanitize(&d, Some("statement.pdf"), &policy()).unwrap();
    assert_eq!(clean.kind, DocumentKind::Pdf);
    assert_eq!(clean.bytes.as_ref(), d.as_slice());
    assert_eq!(clean.dimensions, None);
    // Trailing whitespace and NULs are tolerated.
    let mut t = d.clone();
    t.extend_from_slice(b"\r\n\0\0 ");
    assert!(inspect(&t, &policy()).is_ok());
}

#[test]
fn pdf_with_javascript_is_refused() {
    let js = pdf(
        "/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>",
        &[],
    );
    assert_eq!(code(inspect(&js, &policy())), "pdf_active_content");
    // Name obfuscated with #xx escapes, as readers decode it.
    let escaped = pdf("/OpenAction << /S /J#61v#61Script /JS (x) >>", &[]);
    assert_eq!(code(inspect(&escaped, &policy())), "pdf_active_content");
    // Hidden in a compressed object stream.
    let hidden = pdf(
        "",
        &[object_stream(
            b"5 0 << /S /JavaScript /JS (app.alert(1)) >>",
            "/FlateDecode",
        )],
    );
    assert!(
        memmem::find(&hidden, b"JavaScript").is_none(),
        "not visible in the raw bytes"
    );
    assert_eq!(code(inspect(&hidden, &policy())), "pdf_active_content");
    // Other active content and attachments.
    for extra in [
        "/OpenAction << /S /Launch /F (cmd.exe) >>",
        "/Names << /EmbeddedFiles 9 0 R >>",
        "/AcroForm << /XFA 9 0 R >>",
        "/OpenAction << /S /SubmitForm /F (https://x) >>",
        "/OpenAction << /S /GoToR /F (other.pdf) >>",
    ] {
        assert_eq!(
            code(inspect(&pdf(extra, &[]), &policy())),
            "pdf_active_content",
            "{extra}"
        );
    }
}

#[test]
fn pdf_structure_rules() {
    // Encrypted.
    let mut enc = pdf("", &[]);
    let at = memmem::rfind(&enc, b"/Root").unwrap();
    enc.splice(at..at, b"/Encrypt 9 0 R ".iter().copied());
    assert_eq!(code(inspect(&enc, &policy())), "pdf_encrypted");
    // No %%EOF.
    let d = pdf("", &[]);
    assert_eq!(code(inspect(&d[..d.len() - 7], &policy())), "pdf_malformed");
    // Data appended after %%EOF.
    let mut appended = d.clone();
    appended.extend_from_slice(b"GIF89a appended payload");
    assert_eq!(code(inspect(&appended, &policy())), "polyglot");
    // Object stream with a filter that cannot be checked.
    let lzw = pdf("", &[object_stream(b"garbage", "/LZWDecode")]);
    assert_eq!(code(inspect(&lzw, &policy())), "pdf_unsupported");
    // Object stream that does not inflate.
    let mut broken = object_stream(b"5 0 << >>", "/FlateDecode");
    let s = memmem::find(&broken, b"stream\n").unwrap() + 7;
    broken[s] ^= 0xff;
    broken[s + 1] ^= 0xff;
    assert_eq!(
        code(inspect(&pdf("", &[broken]), &policy())),
        "pdf_malformed"
    );
    // An object stream whose dictionary is padded far beyond any look-back window, and whose
    // `stream` keyword is followed by spaces before the end of line.
    let padding = "/Pad ".repeat(5000);
    let content = zlib(b"5 0 << /S /JavaScript /JS (app.alert(1)) >>");
    let mut padded = format!(
        "<< /Type /ObjStm {padding} /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream  \n",
        content.len()
    )
    .into_bytes();
    padded.extend_from_slice(&content);
    padded.extend_from_slice(b"\nendstream");
    assert_eq!(
        code(inspect(&pdf("", &[padded]), &policy())),
        "pdf_active_content"
    );
    // Object stream bomb.
    let bomb = pdf(
        "",
        &[object_stream(&vec![b' '; 4 * 1024 * 1024], "/FlateDecode")],
    );
    let tight = UploadPolicy {
        max_pdf_inflated_bytes: 1024 * 1024,
        ..policy()
    };
    assert_eq!(code(inspect(&bomb, &tight)), "pdf_too_complex");
    assert!(inspect(&bomb, &policy()).is_ok());
}

#[test]
fn repeated_stream_keywords_take_linear_time() {
    // 9 MB of `/A /B >>stream` after one `obj`: every keyword is a candidate with the same
    // dictionary start; gathering names incrementally keeps this linear.
    let mut d = b"%PDF-1.7\n1 0 obj\n<< ".to_vec();
    while d.len() < 9 * 1024 * 1024 {
        d.extend_from_slice(b"/A /B >>stream\n");
    }
    d.extend_from_slice(b"\nendobj\n%%EOF\n");
    let t = std::time::Instant::now();
    assert!(inspect(&d, &policy()).is_ok());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// File names

#[test]
fn path_filenames_are_refused() {
    let j = jpeg(8, 8);
    for name in [
        "../../etc/passwd",
        "/etc/passwd",
        "C:\\Users\\x\\passport.jpg",
        "..\\a.jpg",
        "a\0.jpg",
        "a\r\nb.jpg",
        "..",
        "photo\u{202E}gpj.exe",
    ] {
        assert_eq!(
            code(sanitize(&j, Some(name), &policy())),
            "bad_filename",
            "{name:?}"
        );
    }
    let ok = sanitize(&j, Some("  my passport (1).exe "), &policy()).unwrap();
    assert_eq!(ok.display_name, "my passport (1).exe.jpg");
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input

fn small_policy() -> UploadPolicy {
    UploadPolicy {
        max_width: 512,
        max_height: 512,
        max_pixels: 100_000,
        max_decode_bytes: 8 << 20,
        ..UploadPolicy::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = inspect(&bytes, &small_policy());
        let _ = sanitize(&bytes, Some("x.jpg"), &small_policy());
    }

    #[test]
    fn arbitrary_bytes_behind_a_magic_never_panic(
        which in 0usize..3,
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let magic: &[u8] = [&b"\xff\xd8\xff"[..], b"\x89PNG\r\n\x1a\n", b"%PDF-1.7\n"][which];
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&tail);
        let _ = sanitize(&bytes, None, &small_policy());
    }

    #[test]
    fn mutated_files_never_panic(which in 0usize..3, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12)) {
        let mut bytes = match which { 0 => jpeg(24, 16), 1 => png(24, 16), _ => pdf("", &[object_stream(b"5 0 << >>", "/FlateDecode")]) };
        for (at, v) in flips {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        let _ = sanitize(&bytes, None, &small_policy());
    }

    #[test]
    fn arbitrary_filenames_never_panic(name in any::<String>()) {
        if let Ok(s) = doublecheck_vault::sanitize_filename(&name, DocumentKind::Png) {
            prop_assert!(!s.contains('/') && !s.contains('\\') && !s.contains('\0'));
            prop_assert!(s.chars().count() <= 100);
        }
    }
}
