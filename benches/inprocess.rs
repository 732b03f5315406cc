//! In-process benchmarks: no database, no HTTP.
//!
//! - `seal`: sealing and opening one answer set, beside raw XChaCha20-Poly1305 on a buffer of the
//!   same size (`PLAINTEXT_LEN`), so the overhead of `seal_answer` / `open_answer` (random nonce,
//!   associated-data binding, padding check, zeroizing buffers) shows as a ratio. Target: ≤ 2× raw.
//! - `validate`: `Survey::validate` of one realistic `RawAnswers`, and the compact codec.
//! - `aggregate`: `Tally::add` over pre-categorised synthetic responses, reported in cells/s
//!   (one cell = one table increment; a response touches `catalogue.tables.len()` cells).
//!
//! Run: `cargo bench --bench inprocess -- --warm-up-time 1 --measurement-time 3`

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce, aead::Aead};
use chorus::{
    report::catalogue::{Catalogue, Tally},
    seal::{AnswerAad, EpochKey, PLAINTEXT_LEN, open_answer, seal_answer},
    survey::{Answer, DEFAULT_SURVEY, RawAnswers, Survey, ValidAnswers},
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// How many distinct synthetic answer sets the per-answer benchmarks cycle through, so that one
/// unusually short or long set does not decide the result.
const POOL: usize = 256;
/// Responses tallied per iteration of the aggregation benchmark.
const RESPONSES: usize = 1000;

fn survey() -> Survey {
    Survey::parse(DEFAULT_SURVEY).expect("the bundled survey parses")
}

fn synthetic_pool(survey: &Survey, n: usize) -> Vec<ValidAnswers> {
    let mut rng = rand::rng();
    (0..n).map(|_| chorus::dev::synthetic_answers(survey, &mut rng)).collect()
}

/// The form a respondent's browser would send for these answers (option ids per question id).
fn raw_from(survey: &Survey, answers: &ValidAnswers) -> RawAnswers {
    let mut raw = RawAnswers::default();
    for (qi, q) in survey.questions.iter().enumerate() {
        let values = match answers.get(qi) {
            None => continue,
            Some(Answer::One(o)) => vec![q.options[usize::from(*o)].id.clone()],
            Some(Answer::Many(os)) => os.iter().map(|o| q.options[usize::from(*o)].id.clone()).collect(),
            Some(Answer::Text(t)) => vec![t.to_string()],
        };
        raw.0.insert(q.id.clone(), values);
    }
    raw
}

fn bench_seal(c: &mut Criterion) {
    let survey = survey();
    let answers = chorus::dev::synthetic_answers(&survey, &mut rand::rng());
    let padded = survey.encode(&answers).expect("a synthetic answer set fits");
    let key = EpochKey::generate();
    let response_id = hex::encode(chorus::seal::random::<16>());
    let epoch_id = hex::encode(chorus::seal::random::<16>());
    let aad = AnswerAad {
        response_id: &response_id,
        survey_slug: &survey.slug,
        survey_version: survey.version,
        epoch_id: &epoch_id,
        month: "2026-11",
        verified: false,
        synthetic: false,
    };
    let sealed = seal_answer(&key, &aad, &padded);
    assert_eq!(open_answer(&key, &aad, sealed.as_bytes()).unwrap().payload(), padded.payload());

    // Raw AEAD on the same number of bytes: cipher built once, fixed nonce, no associated data.
    let raw_key: [u8; 32] = chorus::seal::random();
    let cipher = XChaCha20Poly1305::new(&raw_key.into());
    let nonce = XNonce::from(chorus::seal::random::<24>());
    let buf = vec![0x5au8; PLAINTEXT_LEN];
    let raw_ct = cipher.encrypt(&nonce, buf.as_slice()).unwrap();

    let mut g = c.benchmark_group("seal");
    g.throughput(Throughput::Bytes(PLAINTEXT_LEN as u64));
    g.bench_function("seal_answer", |b| b.iter(|| seal_answer(black_box(&key), black_box(&aad), black_box(&padded))));
    g.bench_function("raw_encrypt", |b| {
        b.iter(|| cipher.encrypt(black_box(&nonce), black_box(buf.as_slice())).unwrap())
    });
    g.bench_function("open_answer", |b| {
        b.iter(|| open_answer(black_box(&key), black_box(&aad), black_box(sealed.as_bytes())).unwrap())
    });
    g.bench_function("raw_decrypt", |b| {
        b.iter(|| cipher.decrypt(black_box(&nonce), black_box(raw_ct.as_slice())).unwrap())
    });
    g.finish();
}

fn bench_validate(c: &mut Criterion) {
    let survey = survey();
    let pool = synthetic_pool(&survey, POOL);
    let raws: Vec<RawAnswers> = pool.iter().map(|a| raw_from(&survey, a)).collect();
    for (raw, answers) in raws.iter().zip(&pool) {
        assert_eq!(&survey.validate(raw).expect("round trip"), answers);
    }
    let padded: Vec<_> = pool.iter().map(|a| survey.encode(a).unwrap()).collect();

    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("validate", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            survey.validate(black_box(&raws[i])).unwrap()
        })
    });
    let mut i = 0;
    g.bench_function("encode", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            survey.encode(black_box(&pool[i])).unwrap()
        })
    });
    let mut i = 0;
    g.bench_function("decode", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            survey.decode(black_box(&padded[i])).unwrap()
        })
    });
    let mut i = 0;
    g.bench_function("encode_decode", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            let p = survey.encode(black_box(&pool[i])).unwrap();
            survey.decode(&p).unwrap()
        })
    });
    g.finish();
}

fn bench_aggregate(c: &mut Criterion) {
    let survey = survey();
    let months: Vec<String> = (1..=12).map(|m| format!("2026-{m:02}")).collect();
    let catalogue = Catalogue::new(&survey, &months);
    let pool = synthetic_pool(&survey, RESPONSES);
    let categories: Vec<Vec<u16>> = pool
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut out = Vec::new();
            catalogue.categorise(&survey, a, &months[i % months.len()], i % 3 == 0, &mut out);
            out
        })
        .collect();
    // The full catalogue: every table a release could choose.
    let all: std::collections::BTreeSet<usize> = (0..catalogue.tables.len()).collect();
    let tables = catalogue.tables.len();
    let cells = (tables * RESPONSES) as u64;

    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(cells));
    g.bench_function(format!("tally_add/{RESPONSES}x{tables}_tables"), |b| {
        b.iter_batched_ref(
            || Tally::new(&catalogue, &all),
            |tally| {
                for cats in &categories {
                    tally.add(black_box(cats));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Criterion prints cells/s ("elem/s"); this turns it round into the figure worth quoting in a
    // comment: the time to tally one million cells. A plain timed loop, outside criterion's statistics.
    let mut tally = Tally::new(&catalogue, &all);
    let rounds = 200u32;
    let start = Instant::now();
    for _ in 0..rounds {
        for cats in &categories {
            tally.add(black_box(cats));
        }
    }
    let elapsed: Duration = start.elapsed();
    black_box(&tally);
    let ns_per_cell = elapsed.as_nanos() as f64 / (cells as f64 * f64::from(rounds));
    println!(
        "aggregate: {tables} tables per response; {ns_per_cell:.2} ns/cell = {:.2} ms per million cells",
        ns_per_cell * 1e6 / 1e6 // ns per cell × 1e6 cells, in ms
    );
}

criterion_group!(benches, bench_seal, bench_validate, bench_aggregate);
criterion_main!(benches);
