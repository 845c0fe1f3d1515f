// The generated benchmark document, shared by `masking.rs` and the wasm harness in
// `testdata/masking/wasm-bench` (included with `include!`).

/// A deterministic document of about `target` bytes: an array of records, each with 20
/// fields, one of which is sensitive (an e-mail, phone, card or SSN under a sensitive key).
pub fn document(target: usize) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let mut out = String::from("[");
    let mut i = 0u64;
    while out.len() + 600 < target.max(700) || i == 0 {
        if i > 0 {
            out.push(',');
        }
        let r = next();
        let w = |k: u64| words[((r >> k) % 8) as usize];
        let sensitive = match r % 4 {
            0 => format!("\"email\":\"{}.{}@example.com\"", w(3), i),
            1 => format!("\"phone\":\"+1 (555) {:03}-{:04}\"", r % 1000, i % 10000),
            2 => "\"card_number\":\"4111 1111 1111 1111\"".to_string(),
            _ => format!(
                "\"ssn\":\"{:03}-{:02}-{:04}\"",
                r % 900 + 100,
                r % 90 + 10,
                i % 10000
            ),
        };
        out.push_str(&format!(
            "{{\"id\":{i},\"name\":\"{} {}\",\"title\":\"{} of {}\",\"active\":{},\"score\":{}.{},\
\"created\":\"2026-11-{:02}T12:00:00Z\",\"tags\":[\"{}\",\"{}\"],\"city\":\"{}\",\"country\":\"NL\",\
\"note\":\"{} {} {} {}\",\"count\":{},\"ratio\":0.{},\"parent\":null,\"kind\":\"{}\",\"lang\":\"en\",\
\"zip\":\"{}\",\"level\":{},{}}}",
            w(5), w(8), w(11), w(14), r % 2 == 0, r % 100, r % 10, r % 28 + 1, w(17), w(20),
            w(23), w(26), w(29), w(32), w(35), r % 1000, r % 997, w(38), r % 90000 + 10000,
            r % 10, sensitive
        ));
        i += 1;
    }
    out.push(']');
    out.into_bytes()
}
