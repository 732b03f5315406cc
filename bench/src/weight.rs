//! `--weight`: what the respondent form weighs in each launch language — its HTML and every
//! same-origin stylesheet and script it names, uncompressed and as sent to a client that accepts
//! gzip — against the 50 KB budget (docs/benchmarks.md).

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use super::start_chorus;

const LANGUAGES: [&str; 7] = ["en", "fr", "zh-Hans", "zh-Hant", "ko", "vi", "th"];
const BUDGET: usize = 50 * 1000;

/// One response as it crossed the wire.
struct Fetched {
    status: u16,
    headers: String,
    /// The body as sent (compressed if the server chose to), chunked framing removed.
    body: Vec<u8>,
}

/// A plain HTTP/1.1 GET on its own connection (closed after), so the bytes counted are exactly the
/// server's.
fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Fetched {
    fetch(base, path, headers, None)
}

/// GET, or POST of a urlencoded body, on its own connection.
fn fetch(base: &str, path: &str, headers: &[(&str, &str)], form: Option<&str>) -> Fetched {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to chorus");
    let method = if form.is_some() { "POST" } else { "GET" };
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = form {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = raw[split..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Fetched { status, headers: head, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// The same-origin stylesheets and scripts a page names (`href="/…css"`, `src="/…"`).
fn subresources(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in html.split('<').filter(|t| t.starts_with("link ") || t.starts_with("script ")) {
        let is_style = tag.starts_with("link ") && tag.contains("rel=\"stylesheet\"");
        let attr = if tag.starts_with("script ") { "src=\"" } else { "href=\"" };
        if !(is_style || tag.starts_with("script ")) {
            continue;
        }
        if let Some(start) = tag.find(attr) {
            let rest = &tag[start + attr.len()..];
            if let Some(end) = rest.find('"')
                && rest.starts_with('/')
            {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out
}

pub fn run() {
    let server = start_chorus(None);
    // The default survey opens on its screening step (GET); the form itself is the answer to it (POST).
    for (what, form) in
        [("screening step, GET", None), ("form, POST after \"yes\" on the screening step", Some(SCREENED))]
    {
        weigh(&server.base, what, form);
    }
}

/// The screening step answered "yes": what a respondent's phone loads next, the whole questionnaire.
const SCREENED: &str = "step=screen&q.adult=yes";

fn weigh(base: &str, what: &str, form: Option<&str>) {
    println!("\nRespondent page /s/15977e8c ({what}, with Accept-Language), HTML + same-origin CSS + JS:\n");
    println!("| language | HTML bytes | CSS+JS bytes | total bytes | total gzip (as sent) | requests | within 50 KB |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for lang in LANGUAGES {
        let plain = fetch(base, "/s/15977e8c", &[("Accept-Language", lang)], form);
        assert_eq!(plain.status, 200, "/s/15977e8c in {lang}");
        let zipped = fetch(base, "/s/15977e8c", &[("Accept-Language", lang), ("Accept-Encoding", "gzip")], form);
        assert!(zipped.headers.contains("content-encoding: gzip"), "the form is compressed when gzip is accepted");
        let html = String::from_utf8_lossy(&plain.body).into_owned();
        let (mut sub, mut sub_gz, mut requests) = (0, 0, 1);
        for path in subresources(&html) {
            let r = get(base, &path, &[]);
            let z = get(base, &path, &[("Accept-Encoding", "gzip")]);
            sub += r.body.len();
            sub_gz += z.body.len();
            requests += 1;
        }
        let total = plain.body.len() + sub;
        println!(
            "| {lang} | {} | {sub} | {total} | {} | {requests} | {} |",
            plain.body.len(),
            zipped.body.len() + sub_gz,
            if total <= BUDGET { "yes" } else { "NO" }
        );
    }
}
