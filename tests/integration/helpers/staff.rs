//! Staff members: add one, sign in, and get or post as the signed-in member.

use secrecy::SecretString;

use super::{Headers, TestApp, page::hidden, read_response};

pub const ADMIN_PW: &str = "admin password long enough";
pub const RESEARCHER_PW: &str = "researcher password long";

/// A signed-in member: the session cookie (`name=value`) and the CSRF token of its forms.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Add a staff account straight to the database (`role` is `admin` or `researcher`).
pub fn add(app: &TestApp, name: &str, role: &str, pw: &str) {
    let role = chorus::staff::Role::parse(role).expect("admin or researcher");
    app.state.accounts.add_user(&mut app.conn(), name, role, &SecretString::from(pw.to_owned())).unwrap();
}

/// Sign in through the login form; `None` when the sign-in is refused.
pub async fn login(app: &TestApp, name: &str, pw: &str) -> Option<Session> {
    let (status, headers, _) =
        app.post_form("/staff/login", &format!("name={name}&password={}", pw.replace(' ', "+"))).await;
    if status != 303 {
        return None;
    }
    let set = headers.get("set-cookie")?.to_str().ok()?.to_owned();
    let cookie = set.split(';').next()?.to_owned();
    let (_, _, page) = get_as(app, "/staff", &cookie).await;
    Some(Session { csrf: hidden(&page, "csrf"), cookie })
}

/// GET with a session cookie (`""` for none).
pub async fn get_as(app: &TestApp, path: &str, cookie: &str) -> (u16, Headers, String) {
    let mut req = app.client.get(app.url(path));
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    read_response(req.send().await.unwrap()).await
}

/// POST a form with a session cookie (`""` for none) and, if given, an `Origin` header.
pub async fn post_as(app: &TestApp, path: &str, cookie: &str, body: &str, origin: Option<&str>) -> (u16, String) {
    let mut req = app.client.post(app.url(path)).header("content-type", "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let (status, _, body) = read_response(req.body(body.to_owned()).send().await.unwrap()).await;
    (status, body)
}
