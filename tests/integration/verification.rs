//! Figures a lawmaker's staff can check: a published release's JSON and CSV verify with the real
//! `ssh-keygen -Y verify`, the verification page finds a release from a citation or an uploaded file
//! and its signature, and says when it was retracted; the Atom feed lists what is published.

use crate::{
    helpers::{
        Backend, PASSPHRASE, TestApp, run,
        staff::{ADMIN_PW, add, get_as, login, post_as},
    },
    reports::{release, submit},
};

tests! {
    both: [a_published_release_verifies_with_ssh_keygen_and_on_the_verification_page],
    once: [what_cannot_be_checked_is_refused_in_the_readers_language],
}

fn ssh_keygen_verify(dir: &std::path::Path, file: &str, principal: &str) -> (bool, String) {
    let out = std::process::Command::new("ssh-keygen")
        .current_dir(dir)
        .args([
            "-Y",
            "verify",
            "-f",
            "allowed_signers",
            "-I",
            principal,
            "-n",
            "chorus-release",
            "-s",
            &format!("{file}.sig"),
        ])
        .stdin(std::fs::File::open(dir.join(file)).unwrap())
        .output()
        .expect("ssh-keygen runs (Debian's openssh-client)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "chorusboundary7f3a";
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// An upload that cannot be read, a file over the limit and a paste too long for a citation each get
/// the verification page again with the reason in the language asked for, never English-only text.
fn what_cannot_be_checked_is_refused_in_the_readers_language() {
    run(async {
        let app = TestApp::spawn(Backend::Sqlite).await;
        let send = |path: &str, ctype: &str, body: Vec<u8>| {
            app.client
                .post(app.url(path))
                .header("content-type", ctype.to_owned())
                .header("accept-language", "fr-CA,fr;q=0.9")
                .body(body)
                .send()
        };
        let cases: [(&str, &str, Vec<u8>, u16, &str); 3] = [
            (
                "/reports/verify/upload",
                "multipart/form-data; boundary=chorusboundary7f3a",
                b"--chorusboundary7f3a\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno closing boundary"
                    .to_vec(),
                400,
                "n’a pas pu être lu",
            ),
            (
                "/reports/verify/upload",
                "multipart/form-data; boundary=chorusboundary7f3a",
                multipart(&[("file", "big.json", &vec![b'x'; (8 << 20) + 1])]).1,
                413,
                "dépasse la taille que cette page accepte",
            ),
            (
                "/reports/verify",
                "application/x-www-form-urlencoded",
                format!("citation={}", "a".repeat(70_000)).into_bytes(),
                413,
                "trop long pour une ligne de citation",
            ),
        ];
        for (path, ctype, body, status, said) in cases {
            let res = send(path, ctype, body).await.unwrap();
            assert_eq!(res.status().as_u16(), status, "{path} {said}");
            let page = res.text().await.unwrap();
            assert!(page.contains(said) && page.contains("role=\"alert\""), "{path}: {page}");
            assert!(page.contains("<html lang=\"fr\""), "{path}: the page is in French");
        }
    });
}

fn a_published_release_verifies_with_ssh_keygen_and_on_the_verification_page(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 80).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (status, page, _) = release(&app, &s.cookie, &s.csrf, "rho=0.3&tables=age", PASSPHRASE).await;
        assert_eq!(status, 303, "{page}");
        let id = chorus::store::snapshots::list(&mut app.conn(), false).unwrap()[0].id.clone();
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 303);

        // The files, their signatures and the allowed_signers list, as a reader downloads them.
        let dir = tempfile::tempdir().unwrap();
        for (path, name) in [
            (format!("/reports/{id}.json"), "r.json"),
            (format!("/reports/{id}.json.sig"), "r.json.sig"),
            (format!("/reports/{id}.csv"), "r.csv"),
            (format!("/reports/{id}.csv.sig"), "r.csv.sig"),
            ("/reports/allowed_signers".to_owned(), "allowed_signers"),
        ] {
            let (status, _, body) = app.get(&path).await;
            assert_eq!(status, 200, "{path}");
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let principal = "releases@chorus-test-organisation";
        for file in ["r.json", "r.csv"] {
            let (ok, said) = ssh_keygen_verify(dir.path(), file, principal);
            assert!(ok && said.contains("Good"), "ssh-keygen accepts {file}: {said}");
        }
        // One changed byte and the real ssh-keygen refuses it.
        let json = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
        std::fs::write(dir.path().join("r.json"), json.replacen("\"n\":", "\"n\" :", 1)).unwrap();
        let (ok, said) = ssh_keygen_verify(dir.path(), "r.json", principal);
        assert!(!ok, "an altered file fails: {said}");

        // The verification page, from a citation line.
        let (_, _, report) = app.get(&format!("/reports/{id}")).await;
        let sha = report.split("SHA-256 (JSON, en): ").nth(1).unwrap()[..64].to_owned();
        let (status, _, page) =
            app.post_form("/reports/verify", &format!("citation=Chorus+report+SHA-256+{sha}")).await;
        assert_eq!(status, 200);
        assert!(page.contains(&id) && page.contains("This report is current"), "{page}");
        // From an uploaded file and its signature.
        let sig = std::fs::read(dir.path().join("r.json.sig")).unwrap();
        let (ctype, body) = multipart(&[("file", "r.json", json.as_bytes()), ("sig", "r.json.sig", &sig)]);
        let res = app
            .client
            .post(app.url("/reports/verify/upload"))
            .header("content-type", ctype.clone())
            .body(body)
            .send()
            .await
            .unwrap();
        let page = res.text().await.unwrap();
        assert!(page.contains(&id) && page.contains("The signature holds"), "{page}");
        let (_, body) = multipart(&[("file", "r.json", b"{\"forged\": true}"), ("sig", "r.json.sig", &sig)]);
        let res = app
            .client
            .post(app.url("/reports/verify/upload"))
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        let page = res.text().await.unwrap();
        assert!(page.contains("does not hold") && page.contains("No published report"), "{page}");
        // The feed lists it; the signing-key page shows the key.
        let (_, headers, feed) = app.get("/reports/feed.atom").await;
        assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/atom+xml"));
        assert!(feed.contains(&format!("/reports/{id}")) && feed.contains(&sha));
        let (_, _, keys) = app.get("/reports/signing-key").await;
        assert!(keys.contains("ssh-ed25519 ") && keys.contains("ssh-keygen -Y verify"));
        // Retracted: the page says so, and the feed no longer lists it.
        let (status, _) = post_as(
            &app,
            &format!("/staff/reports/{id}/retract"),
            &s.cookie,
            &format!("csrf={}&reason=superseded", s.csrf),
            None,
        )
        .await;
        assert_eq!(status, 303);
        let (_, _, page) = app.post_form("/reports/verify", &format!("citation={sha}")).await;
        assert!(page.contains("was retracted"), "{page}");
        assert!(!app.get("/reports/feed.atom").await.2.contains(&id));
        assert!(get_as(&app, "/staff/audit", &s.cookie).await.2.contains("publish"));
    });
}
