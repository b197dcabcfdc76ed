//! Watermarks drawn into a document image's pixels: the viewer's e-mail address and the time,
//! repeated across the whole picture in a small hand-drawn 5×7 pixel font (scaled to the
//! image), white with a dark shadow so that it reads on light and dark backgrounds alike.
//!
//! The image is decoded, marked and encoded again in its own format (PNG stays PNG, JPEG stays
//! JPEG); nothing of the original file (metadata included) passes through. Decoding is bounded
//! (dimensions and memory), so a hostile image cannot exhaust the server.

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use std::io::Cursor;

/// The largest side decoded (the vault's upload checks allow less).
const MAX_SIDE: u32 = 12_000;
/// The most memory the decoder may allocate.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// JPEG quality of the marked copy.
const JPEG_QUALITY: u8 = 90;

/// Why an image could not be marked.
#[derive(Debug)]
pub enum MarkError {
    /// Not a PNG or JPEG content type.
    Unsupported,
    /// Undecodable, too large, or not encodable again.
    Image(String),
}

impl std::fmt::Display for MarkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MarkError::Unsupported => f.write_str("not an image type that can be watermarked"),
            MarkError::Image(e) => write!(f, "image: {e}"),
        }
    }
}

/// The image format for a document's content type, if it is an image we mark.
pub fn image_format(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        _ => None,
    }
}

/// `bytes` (a PNG or JPEG of `content_type`) decoded, marked with `lines` across the picture,
/// and encoded again in the same format.
pub fn mark_image(
    bytes: &[u8],
    content_type: &str,
    lines: &[String],
) -> Result<Vec<u8>, MarkError> {
    let format = image_format(content_type).ok_or(MarkError::Unsupported)?;
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| MarkError::Image(e.to_string()))?;
    let mut rgba = decoded.to_rgba8();
    draw_tiled(&mut rgba, lines);
    let mut out = Cursor::new(Vec::with_capacity(bytes.len()));
    match format {
        ImageFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgba8(rgba).to_rgb8();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            rgb.write_with_encoder(enc)
                .map_err(|e| MarkError::Image(e.to_string()))?;
        }
        _ => {
            rgba.write_to(&mut out, ImageFormat::Png)
                .map_err(|e| MarkError::Image(e.to_string()))?;
        }
    }
    Ok(out.into_inner())
}

/// Draws `lines` as a block, repeated over the whole image in staggered rows.
pub fn draw_tiled(img: &mut RgbaImage, lines: &[String]) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 || lines.is_empty() {
        return;
    }
    let longest = lines
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1)
        .max(1) as u32;
    // The block spans about two thirds of the width; at least one font pixel per image pixel.
    let scale = ((w * 2 / 3) / (longest * ADVANCE)).clamp(1, 16);
    let line_h = (GLYPH_H + 3) * scale;
    let block_w = longest * ADVANCE * scale;
    let block_h = line_h * lines.len() as u32;
    // Sparse enough to read the document between the marks, dense enough that no crop of a
    // useful size escapes one.
    let step_x = block_w + block_w / 2 + 1;
    let step_y = block_h * 2 + block_h / 2 + 1;
    let mut row = 0u32;
    let mut y = (line_h / 2) as i64;
    while y < i64::from(h) {
        let shift = if row.is_multiple_of(2) {
            0
        } else {
            i64::from(step_x / 2)
        };
        let mut x = i64::from(scale * 2) - shift;
        while x < i64::from(w) {
            for (i, line) in lines.iter().enumerate() {
                draw_text(img, x, y + i64::from(line_h) * i as i64, scale, line);
            }
            x += i64::from(step_x);
        }
        y += i64::from(step_y);
        row += 1;
    }
}

/// Glyph cell: 5 pixels wide and 7 high, plus one column of space.
const GLYPH_W: u32 = 5;
const GLYPH_H: u32 = 7;
const ADVANCE: u32 = GLYPH_W + 1;

/// Draws one line at (`x`, `y`) (top left), `scale` image pixels per font pixel: a dark shadow
/// one font pixel down and right, then the text in white, both blended half-transparent.
pub fn draw_text(img: &mut RgbaImage, x: i64, y: i64, scale: u32, text: &str) {
    let shadow = i64::from(scale.div_ceil(2));
    for (color, alpha, off) in [([0u8, 0, 0], 150u16, shadow), ([255, 255, 255], 170, 0)] {
        let mut cx = x;
        for c in text.chars() {
            let rows = glyph(c);
            for (gy, bits) in rows.iter().enumerate() {
                for gx in 0..GLYPH_W {
                    if bits & (1 << (GLYPH_W - 1 - gx)) != 0 {
                        let px = cx + i64::from(gx * scale) + off;
                        let py = y + gy as i64 * i64::from(scale) + off;
                        fill(img, px, py, scale, color, alpha);
                    }
                }
            }
            cx += i64::from(ADVANCE * scale);
            if cx >= i64::from(img.width()) {
                break;
            }
        }
    }
}

fn fill(img: &mut RgbaImage, x: i64, y: i64, size: u32, color: [u8; 3], alpha: u16) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let s = i64::from(size);
    let (x0, y0) = (x.max(0), y.max(0));
    let (x1, y1) = ((x + s).min(w), (y + s).min(h));
    for py in y0..y1 {
        for px in x0..x1 {
            // In bounds by the clamps above.
            let p: &mut Rgba<u8> = img.get_pixel_mut(px as u32, py as u32);
            for (ch, c) in p.0.iter_mut().take(3).zip(color) {
                let v = (u16::from(*ch) * (255 - alpha) + u16::from(c) * alpha) / 255;
                *ch = v as u8;
            }
            // Fully transparent pixels of a PNG become visible where the mark is.
            p.0[3] = p.0[3].max(alpha as u8);
        }
    }
}

/// The 5×7 bitmap of `c` (rows top to bottom, bit 4 = leftmost column). Letters are drawn as
/// capitals; characters without a glyph as `?`.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ' ' => [0; 7],
        '@' => [0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0E],
        '.' | '·' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_changes_pixels_only_where_drawn() {
        let mut img = RgbaImage::from_pixel(200, 40, Rgba([40, 40, 40, 255]));
        draw_text(&mut img, 2, 2, 2, "A");
        // The top of the "A" (row 0, columns 1..=3) is white-ish; far away is untouched.
        let top = img.get_pixel(2 + 2 * 2, 2);
        assert!(top.0[0] > 150, "{top:?}");
        assert_eq!(img.get_pixel(150, 30).0, [40, 40, 40, 255]);
    }

    #[test]
    fn tiles_cover_the_image_and_odd_sizes_are_safe() {
        let mut img = RgbaImage::from_pixel(640, 480, Rgba([0, 0, 0, 255]));
        draw_tiled(
            &mut img,
            &["viewer@example.com".into(), "2026-01-01 00:00 UTC".into()],
        );
        let changed = |x0: u32, y0: u32, x1: u32, y1: u32| {
            (y0..y1).any(|y| (x0..x1).any(|x| img.get_pixel(x, y).0 != [0, 0, 0, 255]))
        };
        assert!(changed(0, 0, 640, 160), "top third marked");
        assert!(changed(0, 320, 640, 480), "bottom third marked");
        for (w, h) in [(1, 1), (3, 500), (500, 3), (7, 9)] {
            let mut small = RgbaImage::new(w, h);
            draw_tiled(&mut small, &["x@y.z".into(), "z".repeat(300)]);
        }
    }

    #[test]
    fn marked_images_keep_their_size_and_format() {
        let img = RgbaImage::from_pixel(120, 90, Rgba([200, 180, 160, 255]));
        for (fmt, ct) in [
            (ImageFormat::Png, "image/png"),
            (ImageFormat::Jpeg, "image/jpeg"),
        ] {
            let mut buf = Cursor::new(Vec::new());
            DynamicImage::ImageRgba8(img.clone())
                .to_rgb8()
                .write_to(&mut buf, fmt)
                .unwrap();
            let bytes = buf.into_inner();
            let out = mark_image(&bytes, ct, &["rev@example.com".into()]).unwrap();
            assert_ne!(out, bytes);
            let back = image::load_from_memory_with_format(&out, fmt).unwrap();
            assert_eq!((back.width(), back.height()), (120, 90));
        }
        assert!(matches!(
            mark_image(b"not an image", "image/png", &[]),
            Err(MarkError::Image(_))
        ));
        assert!(matches!(
            mark_image(b"%PDF-1.4", "application/pdf", &[]),
            Err(MarkError::Unsupported)
        ));
    }
}
