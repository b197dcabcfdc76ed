fn main() {
    let d = doublecheck_intent::Detector::new();
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let line = line.replace("\\n", "\n");
        let f = d.find(&line);
        println!("{} | {:?}", if f.is_empty() { "  -  " } else { "FIRE " }, f.iter().map(|s| (s.category, s.document.as_str(), s.confidence)).collect::<Vec<_>>());
        println!("        {line:?}");
    }
}
