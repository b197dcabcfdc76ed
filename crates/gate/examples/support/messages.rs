//! Realistic clean test messages for the gate's benchmarks, the same in every run.

/// A small deterministic generator (xorshift64*), so every run sends the same messages.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "team",
    "store",
    "schedule",
    "meeting",
    "update",
    "plan",
    "week",
    "next",
    "quarter",
    "customer",
    "service",
    "thanks",
    "for",
    "your",
    "patience",
    "we",
    "will",
    "review",
    "and",
    "confirm",
    "the",
    "details",
    "shortly",
    "our",
    "new",
    "phone",
    "models",
    "arrive",
    "on",
    "monday",
    "please",
    "note",
    "that",
    "opening",
    "hours",
    "change",
    "during",
    "holidays",
    "training",
    "session",
    "agenda",
    "covers",
    "returns",
    "upgrades",
    "accessories",
    "coverage",
    "network",
    "maintenance",
    "tonight",
    "is",
    "expected",
    "to",
    "finish",
    "early",
    "with",
    "no",
    "impact",
    "on",
    "most",
    "plans",
    "a",
    "short",
    "summary",
    "follows",
    "below",
    "let",
    "us",
    "know",
    "if",
    "anything",
    "is",
    "unclear",
    "happy",
    "to",
    "help",
    "regards",
    "promotion",
    "bundle",
    "discount",
    "applies",
    "in",
    "all",
    "locations",
    "inventory",
    "counts",
    "look",
    "good",
    "this",
    "month",
    "feedback",
    "from",
    "the",
    "pilot",
    "was",
    "positive",
    "overall",
];
const FIRST: &[&str] = &[
    "Maria", "James", "Aiko", "Tom", "Priya", "Lucas", "Sofia", "Omar", "Chen", "Grace",
];
const DOMAINS: &[&str] = &["gmail.com", "yahoo.com", "outlook.com", "example.org"];
const SUBJECTS: &[&str] = &[
    "Your upgrade options",
    "Store hours update",
    "Follow-up on your visit",
    "Network maintenance tonight",
    "Training agenda",
    "Monthly summary",
];

fn sentence(rng: &mut Rng) -> String {
    let n = 6 + rng.below(12);
    let mut s = String::new();
    for i in 0..n {
        let w = rng.pick(WORDS);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push(' ');
            s.push_str(w);
        }
    }
    s.push('.');
    s
}

/// Prose of about `bytes` bytes: paragraphs of sentences, lines under 80 characters, CRLF.
fn prose(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 200);
    let mut line = String::new();
    let mut sentences = 0;
    while out.len() + line.len() < bytes {
        let s = sentence(rng);
        for word in s.split(' ') {
            if line.len() + word.len() + 1 > 76 {
                out.push_str(&line);
                out.push_str("\r\n");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        sentences += 1;
        if sentences % 5 == 0 {
            out.push_str(&line);
            out.push_str("\r\n\r\n");
            line.clear();
        }
    }
    out.push_str(&line);
    out.push_str("\r\n");
    out
}

fn html_of(text: &str) -> String {
    let mut out = String::from("<html><body>\r\n");
    for para in text.split("\r\n\r\n").filter(|p| !p.trim().is_empty()) {
        out.push_str("<p>");
        out.push_str(para);
        out.push_str("</p>\r\n");
    }
    out.push_str("</body></html>\r\n");
    out
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::new();
    for chunk in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push_str("\r\n");
    }
    out
}

/// One clean message of about `size` bytes: plain text; or text with an HTML alternative; or
/// text with a small text attachment. Returns (sender, recipient, message).
pub fn message(seed: u64, size: usize) -> (String, String, String) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let first = rng.pick(FIRST);
    let to = format!(
        "{}.{}@{}",
        first.to_lowercase(),
        rng.pick(WORDS),
        rng.pick(DOMAINS)
    );
    let from = "care@phoneco.example".to_string();
    let kind = seed % 10;
    let mut m = format!(
        "From: PhoneCo Care <{from}>\r\nTo: {first} <{to}>\r\nSubject: {}\r\n\
         Date: Tue, 3 Jun 2025 10:{:02}:00 +0000\r\nMessage-ID: <bench-{seed}@phoneco.example>\r\n\
         MIME-Version: 1.0\r\n",
        rng.pick(SUBJECTS),
        seed % 60
    );
    // Room for the MIME framing and the greeting, so the whole message is about `size`.
    let head = m.len() + 150;
    let greeting = format!("Hello {first},\r\n\r\n");
    match kind {
        0..=5 => {
            let body = prose(&mut rng, size.saturating_sub(head).max(200));
            m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
            m.push_str(&greeting);
            m.push_str(&body);
        }
        6..=8 => {
            // The HTML part is a bit larger than the text it repeats.
            let text = prose(&mut rng, (size.saturating_sub(head) * 45 / 100).max(200));
            let b = format!("alt-{seed}");
            m.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n\
                 --{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{greeting}{text}\
                 --{b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}--{b}--\r\n",
                html_of(&format!("{greeting}{text}"))
            ));
        }
        _ => {
            let attached_size = 1000 + rng.below(2000);
            let attached = prose(&mut rng, attached_size);
            let room = size.saturating_sub(head + attached.len() * 4 / 3 + 200);
            let text = prose(&mut rng, room.max(200));
            let b = format!("mix-{seed}");
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n\
                 --{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{greeting}{text}\
                 --{b}\r\nContent-Type: text/plain; name=\"agenda.txt\"\r\n\
                 Content-Disposition: attachment; filename=\"agenda.txt\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}--{b}--\r\n",
                base64_lines(attached.as_bytes())
            ));
        }
    }
    (from, to, m)
}
