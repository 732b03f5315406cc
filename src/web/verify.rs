//! Checking a release: its signatures and signing keys, a verification page (paste a citation or a
//! SHA-256, or upload a file and its signature), and an Atom feed of published releases. No
//! JavaScript; nothing a visitor sends is stored or logged.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{
    AppState,
    body::{self, BodyError},
    respond::{Fields, WebError, WebResult, html, language},
};
use crate::{
    i18n::Ui,
    report::{SnapshotStatus, page, signing},
    seal::verify_signature,
    store::{StoreError, snapshots},
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/verify", web::get().to(verify_page))
        .route("/reports/verify", web::post().to(verify_pasted))
        .route("/reports/verify/upload", web::post().to(verify_upload))
        .route("/reports/signing-key", web::get().to(signing_key_page))
        .route("/reports/allowed_signers", web::get().to(allowed_signers))
        .route("/reports/feed.atom", web::get().to(feed));
}

pub(super) struct Found {
    id: String,
    title: String,
    retracted: bool,
}

pub(super) struct Outcome {
    release: Option<Found>,
    /// Whether the uploaded signature holds (only for uploads).
    signature: Option<bool>,
    sha256: String,
}

#[derive(Template)]
#[template(path = "report_verify.html")]
struct VerifyPage<'a> {
    ui: Ui<'a>,
    result: Option<Outcome>,
    /// The i18n key of what was wrong with what the visitor sent, shown above the forms.
    problem: Option<&'static str>,
}

/// What a visitor sent could not be checked: the page again, saying why in their language.
fn refused(state: &AppState, lang: &str, status: StatusCode, problem: &'static str) -> WebError {
    WebError::page(status, VerifyPage { ui: ui(state, lang), result: None, problem: Some(problem) })
}

struct KeyView {
    from: String,
    until: Option<String>,
    public: String,
}

#[derive(Template)]
#[template(path = "report_signing_key.html")]
struct SigningKeyPage<'a> {
    ui: Ui<'a>,
    keys: Vec<KeyView>,
    allowed: String,
    base: String,
    principal: String,
}

fn ui<'a>(state: &'a AppState, lang: &'a str) -> Ui<'a> {
    Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title }
}

/// The signer identity `ssh-keygen -Y verify -I` is asked for.
fn principal(state: &AppState) -> String {
    let org: String = state
        .config
        .organisation
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    format!("releases@{}", org.trim_matches('-'))
}

/// `YYYY-MM-DD` → `YYYYMMDD`, as allowed_signers wants its dates.
fn compact(date: &str) -> String {
    date.replace('-', "")
}

async fn allowed_lines(state: &web::Data<AppState>) -> Result<(Vec<KeyView>, String), WebError> {
    let rows = state.store.run(signing::public_keys).await?;
    let who = principal(state);
    let mut lines = String::new();
    let mut keys = Vec::new();
    for r in rows {
        let mut options = format!("namespaces=\"chorus-release\",valid-after=\"{}\"", compact(&r.valid_from));
        if let Some(until) = &r.valid_until {
            options.push_str(&format!(",valid-before=\"{}\"", compact(until)));
        }
        lines.push_str(&format!("{who} {options} {}\n", r.public_key));
        keys.push(KeyView { from: r.valid_from, until: r.valid_until, public: r.public_key });
    }
    Ok((keys, lines))
}

async fn signing_key_page(state: web::Data<AppState>, req: HttpRequest) -> WebResult {
    let lang = language(&req, None);
    let (keys, allowed) = allowed_lines(&state).await?;
    let base = state.config.public_url.clone().unwrap_or_default();
    html(StatusCode::OK, SigningKeyPage { ui: ui(&state, lang), keys, allowed, base, principal: principal(&state) })
}

async fn allowed_signers(state: web::Data<AppState>) -> WebResult {
    let (_, lines) = allowed_lines(&state).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"allowed_signers\""))
        .body(lines))
}

async fn verify_page(state: web::Data<AppState>, req: HttpRequest) -> WebResult {
    html(StatusCode::OK, VerifyPage { ui: ui(&state, language(&req, None)), result: None, problem: None })
}

/// The published release with this hash, if any (private releases are never found).
async fn lookup(state: &web::Data<AppState>, sha256: String, lang: &'static str) -> Result<Option<Found>, WebError> {
    let st = state.clone().into_inner();
    let found = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let Some(row) = snapshots::by_hash(c, &sha256)?.filter(|r| r.status != SnapshotStatus::Private) else {
                return Ok(None);
            };
            let title = match st.intake.surveys.version(c, &row.survey_slug, row.survey_version)? {
                Some(s) => s.title(&s.language_for(lang)).to_owned(),
                None => row.survey_slug.clone(),
            };
            let through = st.i18n.t(lang, "report_through").replace("{month}", &row.through_month);
            Ok(Some(Found {
                id: row.id,
                title: format!("{title} — {through}"),
                retracted: row.status == SnapshotStatus::Retracted,
            }))
        })
        .await?;
    Ok(found)
}

/// A SHA-256 in hex, found anywhere in what was pasted (a citation line carries one).
fn find_sha256(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_hexdigit()).find(|w| w.len() == 64).map(str::to_ascii_lowercase)
}

async fn verify_pasted(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> WebResult {
    let fields = body::read(payload).await.and_then(|b| body::parse_form(&b)).map(Fields).map_err(|e| {
        let lang = language(&req, None);
        match e {
            BodyError::TooLarge => refused(&state, lang, StatusCode::PAYLOAD_TOO_LARGE, "verify_too_long"),
            BodyError::Malformed(_) => refused(&state, lang, StatusCode::BAD_REQUEST, "verify_unreadable"),
        }
    })?;
    let lang = language(&req, Some(&fields));
    let pasted = fields.get("citation");
    let result = match find_sha256(&pasted) {
        Some(sha256) => Some(Outcome { release: lookup(&state, sha256.clone(), lang).await?, signature: None, sha256 }),
        None => Some(Outcome { release: None, signature: None, sha256: "—".into() }),
    };
    html(StatusCode::OK, VerifyPage { ui: ui(&state, lang), result, problem: None })
}

/// The most an uploaded release file or signature may weigh.
const UPLOAD_LIMIT: usize = 8 << 20;

async fn verify_upload(state: web::Data<AppState>, req: HttpRequest, mut form: Multipart) -> WebResult {
    let (mut file, mut sig, mut lang_field) = (Vec::new(), Vec::new(), String::new());
    // The form's own `lang` field may come after a part that fails, so a refusal speaks the
    // language the request asked for (`?lang=`, else Accept-Language).
    let asked = language(&req, None);
    let unreadable = || refused(&state, asked, StatusCode::BAD_REQUEST, "verify_unreadable");
    while let Some(part) = form.next().await {
        let mut part = part.map_err(|_| unreadable())?;
        let name = part.content_disposition().and_then(|d| d.get_name()).unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            if bytes.len() + chunk.len() > UPLOAD_LIMIT {
                return Err(refused(&state, asked, StatusCode::PAYLOAD_TOO_LARGE, "verify_too_large"));
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" => file = bytes,
            "sig" => sig = bytes,
            "lang" => lang_field = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
    let lang = crate::i18n::negotiate(Some(&lang_field), None);
    let lang = if lang_field.is_empty() { asked } else { lang };
    let sha256 = hex::encode(Sha256::digest(&file));
    let release = lookup(&state, sha256.clone(), lang).await?;
    let signature = if sig.is_empty() {
        None
    } else {
        let rows = state.store.run(signing::public_keys).await?;
        let sig = String::from_utf8_lossy(&sig).into_owned();
        Some(rows.iter().any(|k| verify_signature(&k.public_key, &file, &sig)))
    };
    let result = Some(Outcome { release, signature, sha256 });
    html(StatusCode::OK, VerifyPage { ui: ui(&state, lang), result, problem: None })
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Published releases, newest first, for partner organisations and journalists to follow.
async fn feed(state: web::Data<AppState>) -> WebResult {
    let st = state.clone().into_inner();
    let rows = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let mut out = Vec::new();
            for row in snapshots::list(c, true)?.into_iter().filter(|r| r.status == SnapshotStatus::Published) {
                let title = page::listed_title(c, &st.intake.surveys, &st.i18n, &row, "en")?;
                out.push((row, title));
            }
            Ok(out)
        })
        .await?;
    let base = state.config.public_url.clone().unwrap_or_default();
    let updated = rows.first().and_then(|(r, _)| r.published.clone()).unwrap_or_else(|| "2026-01-01".into());
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>{}: published reports</title>\n<id>{}/reports</id>\n<link href=\"{}/reports/feed.atom\" rel=\"self\"/>\n<updated>{updated}T00:00:00Z</updated>\n<author><name>{}</name></author>\n",
        xml(&state.config.organisation),
        xml(&base),
        xml(&base),
        xml(&state.config.organisation)
    );
    for (row, title) in rows {
        let date = row.published.clone().unwrap_or_default();
        out.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{}/reports/{}</id>\n<link href=\"{}/reports/{}\"/>\n<updated>{date}T00:00:00Z</updated>\n<summary>n = {} respondents (after noise); SHA-256 of the JSON: {}</summary>\n</entry>\n",
            xml(&title),
            xml(&base),
            row.id,
            xml(&base),
            row.id,
            row.n,
            row.json_sha256
        ));
    }
    out.push_str("</feed>\n");
    Ok(HttpResponse::Ok().content_type("application/atom+xml; charset=utf-8").body(out))
}
