//! Measures `html_to_text` throughput on a synthetic email body.
//! Run with `cargo run --release -p doublecheck-extract --example html_speed`.

use std::time::Instant;

fn main() {
    let unit = "<div class=\"row\"><p style=\"margin:0\">Hola <b>Ana</b>, env&iacute;e su \
                <span>licencia</span> de conducir &amp; n&uacute;mero&nbsp;de pasaporte.</p>\
                <table><tr><td>Nombre</td><td>SSN</td></tr><tr><td>Ann</td><td>123-45-6789</td></tr></table>\
                <!-- tracking --><script>var x = '<p>';</script><br/></div>\n";
    let html = unit.repeat((16 << 20) / unit.len());
    let mut best = f64::MAX;
    let mut out_len = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let text = doublecheck_extract::html_to_text(&html);
        best = best.min(t.elapsed().as_secs_f64());
        out_len = text.len();
    }
    let mb = html.len() as f64 / 1e6;
    println!(
        "html_to_text: {:.1} MB in {:.3} s -> {:.0} MB/s ({} bytes of text)",
        mb,
        best,
        mb / best,
        out_len
    );
}
