//! Replays the kept fuzzing corpus (`fuzz/corpus/`) through the harnesses.

fn replay(dir: &str, f: fn(&[u8])) -> usize {
    let path = format!("{}/../fuzz/corpus/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{path}: {e}")) {
        let p = entry.unwrap().path();
        f(&std::fs::read(&p).unwrap());
        n += 1;
    }
    n
}

#[test]
fn the_json_corpus_replays() {
    assert!(replay("json", cheap_fuzz::json) > 0);
}

#[test]
fn the_request_corpus_replays() {
    assert!(replay("request", cheap_fuzz::request) > 0);
}
