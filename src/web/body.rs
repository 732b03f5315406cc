//! Request bodies, read by hand so that every failure gets our own clear answer: a body over the
//! limit is 413, invalid UTF-8 or malformed form data is 400 — and nothing is stored.

use actix_web::web;
use futures_util::StreamExt;

pub const LIMIT: usize = 64 * 1024;

#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Malformed(&'static str),
}

pub async fn read(
    mut payload: impl futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
) -> Result<web::BytesMut, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Malformed("the request body could not be read"))?;
        if body.len() + chunk.len() > LIMIT {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parse `application/x-www-form-urlencoded` strictly: invalid percent escapes or UTF-8 are errors,
/// never silently replaced.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, BodyError> {
    let mut out = Vec::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        out.push((decode(name)?, decode(value)?));
    }
    Ok(out)
}

fn decode(raw: &[u8]) -> Result<String, BodyError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(BodyError::Malformed("a % escape is cut short"))?;
                let s = std::str::from_utf8(hex).map_err(|_| BodyError::Malformed("a % escape is not hexadecimal"))?;
                bytes.push(
                    u8::from_str_radix(s, 16).map_err(|_| BodyError::Malformed("a % escape is not hexadecimal"))?,
                );
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| BodyError::Malformed("the form data is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_form_parsing() {
        let f = parse_form(b"q.age=25_34&q.t=caf%C3%A9+ok&empty").unwrap();
        assert_eq!(f[1], ("q.t".into(), "café ok".into()));
        assert_eq!(f[2], ("empty".into(), String::new()));
        assert!(parse_form(b"q.t=%FF%FE").is_err());
        assert!(parse_form(b"q.t=%4").is_err());
        assert!(parse_form(b"q.t=\xff").is_err());
    }
}
