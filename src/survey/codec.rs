//! The compact plaintext of an answer set, before padding:
//! `[1]` then, per answered question, `[question index][tag]` and
//! tag 1 `[option]` · tag 2 `[count][option…]` · tag 3 `[u16 length][UTF-8]`.
//! Question and option indices refer to the survey version bound into the ciphertext's associated data.

use zeroize::Zeroizing;

use super::{Answer, Kind, Survey, ValidAnswers};
use crate::seal::SealError;

const VERSION: u8 = 1;

pub(super) fn encode(a: &ValidAnswers) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(128));
    out.push(VERSION);
    for (i, answer) in a.answers.iter().enumerate() {
        let Some(answer) = answer else { continue };
        out.push(i as u8);
        match answer {
            Answer::One(o) => out.extend_from_slice(&[1, *o]),
            Answer::Many(os) => {
                out.extend_from_slice(&[2, os.len() as u8]);
                out.extend_from_slice(os);
            }
            Answer::Text(t) => {
                out.push(3);
                out.extend_from_slice(&(t.len() as u16).to_be_bytes());
                out.extend_from_slice(t.as_bytes());
            }
        }
    }
    out
}

pub(super) fn decode(s: &Survey, bytes: &[u8]) -> Result<ValidAnswers, SealError> {
    let bad = |what| SealError::Format(what);
    let mut answers: Vec<Option<Answer>> = vec![None; s.questions.len()];
    let (&version, mut rest) = bytes.split_first().ok_or(bad("empty answer set"))?;
    if version != VERSION {
        return Err(bad("unknown answer format"));
    }
    let mut take = |n: usize| -> Result<&[u8], SealError> {
        if rest.len() < n {
            return Err(SealError::Format("truncated answer set"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    while let Ok(head) = take(2) {
        let (qi, tag) = (usize::from(head[0]), head[1]);
        let q = s.questions.get(qi).ok_or(bad("question index"))?;
        if answers[qi].is_some() {
            return Err(bad("question twice"));
        }
        let valid_option = |o: u8| usize::from(o) < q.options.len();
        let answer = match (tag, q.kind) {
            (1, kind) if kind.is_closed() && kind != Kind::Multiple => {
                let o = take(1)?[0];
                if !valid_option(o) {
                    return Err(bad("option index"));
                }
                Answer::One(o)
            }
            (2, Kind::Multiple) => {
                let n = usize::from(take(1)?[0]);
                let os = take(n)?.to_vec();
                if !os.iter().all(|o| valid_option(*o)) || !os.windows(2).all(|w| w[0] < w[1]) {
                    return Err(bad("option indices"));
                }
                Answer::Many(os)
            }
            (3, Kind::Text) => {
                let len = take(2)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let text = std::str::from_utf8(take(len)?).map_err(|_| bad("text is not UTF-8"))?;
                Answer::Text(Zeroizing::new(text.to_owned()))
            }
            _ => return Err(bad("answer tag")),
        };
        answers[qi] = Some(answer);
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(ValidAnswers { answers })
}
