//! Reading what a page shows: hidden inputs, the receipt, and links to other origins.

/// The value of a hidden input in an HTML page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in page")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The receipt code shown on a receipt page.
pub fn receipt_in(html: &str) -> String {
    let start = html.find("class=\"code\" translate=\"no\">").expect("receipt on page")
        + "class=\"code\" translate=\"no\">".len();
    html[start..].split('<').next().unwrap().to_owned()
}

/// The first `src=`, `href=`, `action=` or `srcset=` in a page, or `url(` or `@import` in CSS, that
/// points at another origin; every one must be local.
pub fn names_another_origin(text: &str) -> Option<String> {
    for attr in ["src=\"", "href=\"", "action=\"", "url(", "@import", "srcset=\""] {
        for (i, _) in text.match_indices(attr) {
            let value: String = text[i + attr.len()..].chars().take_while(|c| *c != '"' && *c != ')').collect();
            let v = value.trim_matches(|c| c == '\'' || c == ' ');
            if v.starts_with("//") || v.contains("://") {
                return Some(value);
            }
        }
    }
    None
}
