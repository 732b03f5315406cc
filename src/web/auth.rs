//! Who is asking, for staff routes, as extractors: a handler that takes [`Member`] or [`Admin`] runs
//! only for a live session of that role; one that takes [`MemberForm`] or [`AdminForm`] also gets a
//! form whose Origin and CSRF token were checked. [`OpenForm`] is for the forms before a session
//! exists (sign-in, setup): Origin checked, no CSRF token yet. These checks live here and only here.

use std::{future::Future, marker::PhantomData, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode, web};

use super::{
    AppState,
    body::{self, BodyError},
    respond::{Fields, WebError},
};
use crate::staff::{Role, Staff, same_token};

pub const COOKIE: &str = "chorus_staff";

/// The role a route needs.
pub trait Need {
    const ADMIN: bool;
}

pub struct AnyRole;
pub struct AdminRole;

impl Need for AnyRole {
    const ADMIN: bool = false;
}
impl Need for AdminRole {
    const ADMIN: bool = true;
}

/// A signed-in staff member, any role.
pub struct Member(pub Staff);

/// A signed-in admin.
pub struct Admin(pub Staff);

/// A state-changing request from a signed-in member whose role meets `N`: its form's fields, after
/// the Origin and CSRF checks.
pub struct Posted<N: Need> {
    pub me: Staff,
    pub fields: Fields,
    _need: PhantomData<N>,
}

pub type MemberForm = Posted<AnyRole>;
pub type AdminForm = Posted<AdminRole>;

/// A form posted before any session exists: Origin checked, body read strictly.
pub struct OpenForm(pub Fields);

pub fn session_cookie_value(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("cookie")?.to_str().ok()?;
    header.split(';').find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}="))).map(str::to_owned)
}

fn host(req: &HttpRequest) -> String {
    req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned()
}

/// The session cookie: `Secure` unless the page is served on loopback (plain http on a steward's own
/// machine). Scoped to /staff, so no staff cookie ever reaches a respondent page.
pub fn session_cookie(req: &HttpRequest, token: &str, max_age: i64) -> String {
    let host = host(req);
    let name = host
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(']') || h.starts_with('['))
        .map_or(host.as_str(), |(h, _)| h);
    let loopback = name == "localhost" || name.starts_with("127.") || name == "[::1]";
    let secure = if loopback { "" } else { "; Secure" };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/staff; Max-Age={max_age}{secure}")
}

/// A POST from another site is refused outright, whatever it carries.
fn foreign_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|o| o.to_str().ok()) else { return false };
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    origin == "null" || origin_host != host(req)
}

/// The member a request's session belongs to, or the answer to give instead: a redirect to the
/// sign-in page for a page, 401 for an action, 403 for a role that may not.
async fn member(req: &HttpRequest, admin: bool) -> Result<Staff, WebError> {
    let anonymous = || {
        if req.method() == actix_web::http::Method::GET {
            WebError::redirect("/staff/login")
        } else {
            WebError::plain(StatusCode::UNAUTHORIZED, "Sign in first.")
        }
    };
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| WebError::internal("no application state"))?;
    let Some(token) = session_cookie_value(req) else { return Err(anonymous()) };
    let st = state.clone().into_inner();
    let found = state.store.run(move |c| st.accounts.session(c, &token)).await?;
    match found {
        None => Err(anonymous()),
        Some(s) if admin && s.role != Role::Admin => Err(WebError::plain(StatusCode::FORBIDDEN, "Admins only.")),
        Some(s) => Ok(s),
    }
}

async fn read_fields(req: &HttpRequest, payload: Payload) -> Result<Fields, WebError> {
    if foreign_origin(req) {
        return Err(WebError::plain(StatusCode::FORBIDDEN, "Cross-site request refused."));
    }
    let bytes = body::read(payload).await.and_then(|b| body::parse_form(&b));
    bytes.map(Fields).map_err(|e| match e {
        BodyError::TooLarge => WebError::plain(StatusCode::PAYLOAD_TOO_LARGE, "Too large."),
        BodyError::Malformed(m) => WebError::plain(StatusCode::BAD_REQUEST, m),
    })
}

impl FromRequest for Member {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(Self(member(&req, false).await?)) })
    }
}

impl FromRequest for Admin {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(Self(member(&req, true).await?)) })
    }
}

impl<N: Need + 'static> FromRequest for Posted<N> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            // Origin first: a cross-site request learns nothing, not even whether a session exists.
            if foreign_origin(&req) {
                return Err(WebError::plain(StatusCode::FORBIDDEN, "Cross-site request refused."));
            }
            let me = member(&req, N::ADMIN).await?;
            let fields = read_fields(&req, payload).await?;
            if !same_token(&fields.get("csrf"), &me.csrf) {
                return Err(WebError::plain(
                    StatusCode::FORBIDDEN,
                    "The form's security token is missing or wrong; reload the page.",
                ));
            }
            Ok(Self { me, fields, _need: PhantomData })
        })
    }
}

impl FromRequest for OpenForm {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move { Ok(Self(read_fields(&req, payload).await?)) })
    }
}

/// A file posted by a signed-in admin as multipart/form-data: Origin checked first, the `csrf` field
/// checked, the `file` part read up to `UPLOAD_LIMIT` bytes (one byte more is refused with 413, so a
/// larger body is never held).
pub struct AdminUpload {
    pub me: Staff,
    pub file: Vec<u8>,
}

/// The largest uploaded survey definition (the XLSForm importer checks again, with its own reasons).
pub const UPLOAD_LIMIT: usize = crate::survey::xlsform::MAX_FILE;

impl FromRequest for AdminUpload {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use futures_util::StreamExt;
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            if foreign_origin(&req) {
                return Err(WebError::plain(StatusCode::FORBIDDEN, "Cross-site request refused."));
            }
            let me = member(&req, true).await?;
            let unreadable = || WebError::plain(StatusCode::BAD_REQUEST, "The upload could not be read.");
            let mut form = actix_multipart::Multipart::new(req.headers(), payload);
            let (mut file, mut fields) = (Vec::new(), std::collections::HashMap::new());
            while let Some(part) = form.next().await {
                let mut part = part.map_err(|_| unreadable())?;
                let name = part.content_disposition().and_then(|d| d.get_name()).unwrap_or_default().to_owned();
                // Small fields (csrf, pending id) are capped far lower than the file.
                let cap = if name == "file" { UPLOAD_LIMIT } else { 256 };
                let mut bytes = Vec::new();
                while let Some(chunk) = part.next().await {
                    let chunk = chunk.map_err(|_| unreadable())?;
                    if bytes.len() + chunk.len() > cap {
                        return Err(WebError::plain(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("The file is over the limit of {UPLOAD_LIMIT} bytes (2 MB)."),
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if name == "file" {
                    file = bytes;
                } else if fields.len() < 8 {
                    fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            if !same_token(fields.get("csrf").map(String::as_str).unwrap_or(""), &me.csrf) {
                return Err(WebError::plain(
                    StatusCode::FORBIDDEN,
                    "The form's security token is missing or wrong; reload the page.",
                ));
            }
            Ok(Self { me, file })
        })
    }
}
