//! The survey, choices and settings sheets of an XLSForm, read into the TOML text of a definition.

use std::collections::{BTreeMap, HashMap};

use crate::survey::Join;

use super::{
    XlsFormError,
    read::Sheet,
    relevant::{self, Relevant},
};

/// The language code of a `label::English (en)` column; a bare `label` is English.
pub(super) fn language_of(suffix: &str) -> Option<String> {
    let open = suffix.rfind('(')?;
    let close = suffix.rfind(')')?;
    (close > open + 1).then(|| suffix[open + 1..close].trim().to_owned())
}

/// Column bases that take a language (`label::French (fr)`); `end_text` and `read_by` are Chorus's.
const TRANSLATED: [&str; 8] = ["label", "hint", "form_title", "intro", "consent", "thanks", "end_text", "read_by"];

/// Translatable columns of a sheet: (column, base name, language code).
fn translated_columns(sheet: &Sheet, errors: &mut Vec<String>) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (c, h) in sheet.rows.first().into_iter().flatten().enumerate() {
        let h = h.trim();
        let lower = h.to_ascii_lowercase();
        let Some((base, _)) = lower.split_once("::") else {
            if TRANSLATED.contains(&lower.as_str()) {
                out.push((c, lower.clone(), "en".to_owned()));
            }
            continue;
        };
        if !TRANSLATED.contains(&base) {
            continue;
        }
        match language_of(&h[base.len() + 2..]) {
            Some(code) => out.push((c, base.to_owned(), code)),
            None => errors.push(format!(
                "{}: the language needs its code in parentheses, e.g. label::English (en)",
                sheet.at(0, c)
            )),
        }
    }
    out
}

/// Columns Chorus reads on each sheet (besides the translated ones and `chorus::…`).
const SURVEY_COLUMNS: &[&str] = &["type", "name", "relevant", "required", "constraint", "parameters"];
const CHOICES_COLUMNS: &[&str] = &["list_name", "list name", "name"];
const SETTINGS_COLUMNS: &[&str] = &["form_id", "version", "default_language", "form_title"];

/// Why a column Chorus does not read is refused, when it holds anything.
fn unsupported_column(header: &str) -> &'static str {
    match header {
        "calculation" => "calculations are not supported: every answer is what the respondent chose",
        "repeat_count" => "repeats are not supported: one answer set per respondent",
        "choice_filter" => "choice filters are not supported: every option is always offered",
        "default" => "defaults are not supported: nothing is pre-answered",
        "read_only" => "read-only questions are not supported",
        "trigger" => "triggers are not supported",
        "image" | "audio" | "video" | "media::image" | "media::audio" | "media::video" => {
            "media are not supported: the form loads nothing from elsewhere"
        }
        "constraint_message" | "required_message" => "validation messages are not supported",
        "appearance" => "appearances are not supported: the form looks the same to everyone",
        _ => "Chorus does not read this column",
    }
}

fn refuse_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "calculate" => "calculations are not supported: every answer is what the respondent chose",
        "begin_repeat" | "begin repeat" | "end_repeat" | "end repeat" => {
            "repeats are not supported: one answer set per respondent"
        }
        "geopoint" | "geotrace" | "geoshape" => "locations are not collected: they would identify respondents",
        "image" | "audio" | "video" | "file" | "background-audio" => {
            "files and photos are not collected: they would identify respondents"
        }
        "barcode" => "barcodes are not supported",
        "date" | "time" | "datetime" => {
            "exact dates are not collected: use a period question (select_one chorus_periods)"
        }
        "decimal" => "decimals are not supported: use range with start, end and step 1",
        "acknowledge" | "trigger" => "acknowledgements are not supported",
        "hidden" | "start" | "end" | "today" | "deviceid" | "phonenumber" | "username" | "email" | "audit"
        | "subscriberid" | "simserial" | "start-geopoint" => {
            "metadata are not collected: answers carry nothing about the device or respondent"
        }
        "select_one_from_file" | "select_multiple_from_file" | "select_one_external" => {
            "external choices are not supported: options live in the choices sheet"
        }
        "rank" => "ranking is not supported",
        _ => return None,
    })
}

/// Most points of a scale made from a number (0 … 10 is eleven).
pub(super) const MAX_SCALE: i64 = 11;
const INTEGER_WHY: &str = "Chorus collects numbers only as a small scale: an exact count, age or amount can identify someone and splits answers into cells too small to release; for time, use select_one chorus_periods";

/// A scale of the whole numbers `a` … `b`, each an option; or why not.
fn scale_bounds(a: i64, b: i64, step: i64) -> Result<(i64, i64), String> {
    if step != 1 {
        return Err(format!("step {step}: a scale counts in steps of 1"));
    }
    if a < 0 {
        return Err(format!("a scale starts at 0 or more (option ids are whole numbers): {a} … {b}"));
    }
    if b <= a {
        return Err(format!("{a} … {b}: the end must be above the start"));
    }
    if b - a + 1 > MAX_SCALE {
        return Err(format!("{a} … {b} is {} points, over {MAX_SCALE} ({INTEGER_WHY})", b - a + 1));
    }
    Ok((a, b))
}

/// `start=A end=B [step=1]` of a range: every key known, every value a whole number.
fn range_parameters(params: &str) -> Result<(i64, i64), String> {
    let usage = "a range needs `start=A end=B` (step 1); it becomes a scale";
    let mut p: HashMap<&str, i64> = HashMap::new();
    for kv in params.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else { return Err(format!("`{kv}`: {usage}")) };
        let (k, v) = (k.trim(), v.trim());
        if !["start", "end", "step"].contains(&k) {
            return Err(format!("`{k}` is not start, end or step: {usage}"));
        }
        let Ok(n) = v.parse::<i64>() else { return Err(format!("{k}={v}: not a whole number ({usage})")) };
        p.insert(k, n);
    }
    match (p.get("start"), p.get("end")) {
        (Some(&a), Some(&b)) => scale_bounds(a, b, p.get("step").copied().unwrap_or(1)),
        _ => Err(usage.to_owned()),
    }
}

/// `. >= A and . <= B` (either order; `>`/`<` are taken as A+1 and B-1): the bounds of an integer.
fn integer_bounds(cons: &str) -> Option<(i64, i64)> {
    let (mut lo, mut hi) = (None, None);
    let mut parts = cons.split("and");
    let (x, y) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    for part in [x, y] {
        let rest = part.strip_prefix('.')?;
        let bound = |prefix: &str| rest.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok());
        if let Some(n) = bound(">=") {
            lo = Some(n);
        } else if let Some(n) = bound("<=") {
            hi = Some(n);
        } else if let Some(n) = bound(">") {
            lo = n.checked_add(1);
        } else if let Some(n) = bound("<") {
            hi = n.checked_sub(1);
        } else {
            return None;
        }
    }
    Some((lo?, hi?))
}

/// A string in each language that gives it: language code → text.
type Texts = BTreeMap<String, String>;

/// A row of the choices sheet: option id, labels, `chorus::exclusive`, `chorus::ends`, `chorus::was`.
type Choice = (String, Texts, bool, bool, Vec<String>);

struct RawQ {
    id: String,
    kind: &'static str,
    list: Option<String>,
    builtin: bool,
    labels: BTreeMap<String, String>,
    hints: BTreeMap<String, String>,
    end_text: BTreeMap<String, String>,
    read_by: BTreeMap<String, String>,
    /// `chorus::was`: the earlier version's question id this one takes answers from.
    was: String,
    max_length: Option<i64>,
    max_selected: Option<i64>,
    show_if: Option<Relevant>,
    breakdown: bool,
    /// `chorus::support_after`: the support list follows this question.
    support_after: bool,
    merge: Vec<String>,
    range: Option<(i64, i64)>,
}

struct RawSection {
    id: String,
    titles: BTreeMap<String, String>,
    /// The group's notes, joined, in each language.
    texts: BTreeMap<String, String>,
    /// Where the section starts, for errors about it.
    at: String,
    questions: Vec<RawQ>,
}

/// Notes joined into one text per language, a blank line between them.
fn append(to: &mut BTreeMap<String, String>, more: BTreeMap<String, String>) {
    for (lang, text) in more {
        let t = to.entry(lang).or_default();
        if !t.is_empty() {
            t.push_str("\n\n");
        }
        t.push_str(&text);
    }
}

pub(super) fn to_toml(sheets: &[Sheet]) -> Result<String, XlsFormError> {
    let mut errors = Vec::new();
    let find = |n: &str| sheets.iter().find(|s| s.name == n);
    let Some(survey) = find("survey") else {
        return Err(XlsFormError::one("sheet survey: missing (an XLSForm has a survey sheet)"));
    };
    let empty = Sheet { name: "choices".into(), origin: (0, 0), rows: Vec::new() };
    let choices = find("choices").unwrap_or(&empty);
    let settings_empty = Sheet { name: "settings".into(), origin: (0, 0), rows: Vec::new() };
    let settings = find("settings").unwrap_or(&settings_empty);

    // Language order: English first, then as the columns first name them.
    let mut languages: Vec<String> = vec!["en".into()];
    let survey_tr = translated_columns(survey, &mut errors);
    let choices_tr = translated_columns(choices, &mut errors);
    let settings_tr = translated_columns(settings, &mut errors);
    for (_, _, lang) in survey_tr.iter().chain(&choices_tr).chain(&settings_tr) {
        if !languages.contains(lang) {
            languages.push(lang.clone());
        }
    }

    // Columns nobody reads must be empty.
    for (sheet, known) in [(survey, SURVEY_COLUMNS), (choices, CHOICES_COLUMNS), (settings, SETTINGS_COLUMNS)] {
        let translated: Vec<usize> = translated_columns(sheet, &mut Vec::new()).iter().map(|t| t.0).collect();
        for (c, h) in sheet.rows.first().into_iter().flatten().enumerate() {
            let lower = h.trim().to_ascii_lowercase();
            if lower.is_empty()
                || translated.contains(&c)
                || known.contains(&lower.as_str())
                || lower.starts_with("chorus::")
            {
                continue;
            }
            for r in 1..sheet.rows.len() {
                if !sheet.cell(r, Some(c)).trim().is_empty() {
                    errors.push(format!("{}: {}", sheet.at(r, c), unsupported_column(&lower)));
                }
            }
        }
    }

    // Choices: list → [(id, labels, exclusive, ends, was)] in order.
    let mut lists: HashMap<String, Vec<Choice>> = HashMap::new();
    let list_col = choices.column("list_name").or_else(|| choices.column("list name"));
    let cname = choices.column("name");
    // Chorus's own column: an option chosen only on its own ("None of these").
    let cexclusive = choices.column("chorus::exclusive");
    // And: an option that ends the survey (the screening question's "No"); earlier option ids it stands for.
    let (cends, cwas) = (choices.column("chorus::ends"), choices.column("chorus::was"));
    for r in 1..choices.rows.len() {
        let list = choices.cell(r, list_col).trim();
        let id = choices.cell(r, cname).trim();
        if list.is_empty() && id.is_empty() {
            continue;
        }
        if list.is_empty() || id.is_empty() {
            errors.push(format!(
                "{}: a choice needs both list_name and name",
                choices.at(r, cname.or(list_col).unwrap_or(0))
            ));
            continue;
        }
        let labels = choices_tr
            .iter()
            .filter(|(_, base, _)| base == "label")
            .filter_map(|(c, _, lang)| {
                let v = choices.cell(r, Some(*c));
                (!v.is_empty()).then(|| (lang.clone(), v.to_owned()))
            })
            .collect();
        let yes = |c| matches!(choices.cell(r, c).trim().to_ascii_lowercase().as_str(), "yes" | "true" | "1");
        let (exclusive, ends) = (yes(cexclusive), yes(cends));
        let was = choices.cell(r, cwas).split_whitespace().map(str::to_owned).collect();
        lists.entry(list.to_owned()).or_default().push((id.to_owned(), labels, exclusive, ends, was));
    }

    // Survey rows.
    let col = |n: &str| survey.column(n);
    let (ctype, cname, crel, creq, ccons, cparams) =
        (col("type"), col("name"), col("relevant"), col("required"), col("constraint"), col("parameters"));
    let (cbreak, cmerge, ckind) = (col("chorus::breakdown"), col("chorus::merge"), col("chorus::type"));
    let csupport = col("chorus::support_after");
    let cwas = col("chorus::was");
    if ctype.is_none() || cname.is_none() {
        errors.push("sheet survey, row 1: the type and name columns are required".into());
        return Err(XlsFormError(errors));
    }
    let texts_of = |r: usize, base: &str| -> BTreeMap<String, String> {
        survey_tr
            .iter()
            .filter(|(_, b, _)| b == base)
            .filter_map(|(c, _, lang)| {
                let v = survey.cell(r, Some(*c));
                (!v.is_empty()).then(|| (lang.clone(), v.to_owned()))
            })
            .collect()
    };
    let mut sections: Vec<RawSection> = Vec::new();
    let mut in_group = false;
    let mut implicit_open = false;
    let mut intro: BTreeMap<String, String> = BTreeMap::new();
    let mut intro_at: Option<String> = None;
    for r in 1..survey.rows.len() {
        let at = |c: Option<usize>| survey.at(r, c.unwrap_or(0));
        let t = survey.cell(r, ctype).trim().to_owned();
        let name = survey.cell(r, cname).trim().to_owned();
        if t.is_empty() && name.is_empty() && survey.rows[r].iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let mut words = t.split_whitespace();
        let head = words.next().unwrap_or("").to_ascii_lowercase();
        let list = words.next().map(str::to_owned);
        let req = survey.cell(r, creq).trim().to_ascii_lowercase();
        if !["", "no", "false", "false()"].contains(&req.as_str()) {
            errors.push(format!(
                "{}: `required` is not supported: no answer is ever required here, every question may be skipped",
                at(creq)
            ));
        }
        if let Some(why) = refuse_type(&head) {
            errors.push(format!("{}: type `{t}`: {why}", at(ctype)));
            continue;
        }
        match head.as_str() {
            "begin_group" | "begin group" => {
                if in_group {
                    errors
                        .push(format!("{}: groups inside groups are not supported: a section is one level", at(ctype)));
                }
                in_group = true;
                implicit_open = false;
                sections.push(RawSection {
                    id: name.clone(),
                    titles: texts_of(r, "label"),
                    texts: BTreeMap::new(),
                    at: at(ctype),
                    questions: Vec::new(),
                });
                if !survey.cell(r, crel).is_empty() {
                    errors
                        .push(format!("{}: `relevant` on a group is not supported: put it on each question", at(crel)));
                }
                continue;
            }
            "end_group" | "end group" => {
                if !in_group {
                    errors.push(format!("{}: end_group without begin_group", at(ctype)));
                }
                in_group = false;
                continue;
            }
            // A note in a group is the section's text, wherever it stands in the group; before any
            // question and outside any group, the introduction; after questions, outside any group,
            // the text of a new untitled section that the questions after it join.
            "note" => {
                if in_group {
                    if let Some(s) = sections.last_mut() {
                        append(&mut s.texts, texts_of(r, "label"));
                    }
                } else if sections.is_empty() {
                    append(&mut intro, texts_of(r, "label"));
                    intro_at.get_or_insert_with(|| at(ctype));
                } else if let Some(s) = sections.last_mut().filter(|s| implicit_open && s.questions.is_empty()) {
                    append(&mut s.texts, texts_of(r, "label"));
                } else {
                    let id = format!("part_{}", sections.len() + 1);
                    let texts = texts_of(r, "label");
                    sections.push(RawSection {
                        id,
                        titles: BTreeMap::new(),
                        texts,
                        at: at(ctype),
                        questions: Vec::new(),
                    });
                    implicit_open = true;
                }
                if !survey.cell(r, crel).is_empty() {
                    errors.push(format!("{}: `relevant` on a note is not supported: a note is always shown", at(crel)));
                }
                continue;
            }
            _ => {}
        }
        let kind: &'static str = match head.as_str() {
            "select_one" => "single",
            "select_multiple" => "multiple",
            "text" => "text",
            "range" | "integer" => "scale",
            "" => {
                errors.push(format!("{}: the type is empty", at(ctype)));
                continue;
            }
            _ => {
                errors.push(format!("{}: type `{t}` is not part of the XLSForm subset Chorus reads", at(ctype)));
                continue;
            }
        };
        let kind = match (kind, survey.cell(r, ckind).trim()) {
            (k, "") => k,
            ("single", "scale") => "scale",
            ("single", "period") => "period",
            ("single", "region") => "region",
            (_, other) => {
                errors.push(format!(
                    "{}: `{other}` is not scale, period or region, or the type is not select_one",
                    at(ckind)
                ));
                kind
            }
        };
        let builtin = matches!(list.as_deref(), Some("chorus_regions" | "chorus_periods"));
        let kind = match list.as_deref() {
            Some("chorus_regions") => "region",
            Some("chorus_periods") => "period",
            _ => kind,
        };
        if (head == "select_one" || head == "select_multiple") && list.is_none() {
            errors.push(format!("{}: `{head}` needs a list name (e.g. `{head} yes_no`)", at(ctype)));
        }
        if let Some(l) = &list
            && !builtin
            && !lists.contains_key(l)
        {
            errors.push(format!("{}: the list `{l}` has no choices in the choices sheet", at(ctype)));
        }
        let mut q = RawQ {
            id: name.clone(),
            kind,
            list: if builtin { None } else { list },
            builtin,
            labels: texts_of(r, "label"),
            hints: texts_of(r, "hint"),
            end_text: texts_of(r, "end_text"),
            read_by: texts_of(r, "read_by"),
            was: survey.cell(r, cwas).trim().to_owned(),
            max_length: None,
            max_selected: None,
            show_if: None,
            breakdown: false,
            support_after: false,
            merge: Vec::new(),
            range: None,
        };
        // constraint: the two forms Chorus understands.
        let cons = survey.cell(r, ccons).replace(' ', "");
        let params = survey.cell(r, cparams);
        if head == "integer" {
            // Bounds come from the constraint; a number without both bounds is refused.
            match integer_bounds(&cons).map(|(a, b)| scale_bounds(a, b, 1)) {
                Some(Ok(range)) => q.range = Some(range),
                Some(Err(why)) => errors.push(format!("{}: {why}", at(ccons))),
                None => errors.push(format!(
                    "{}: an integer needs both bounds, as `. >= A and . <= B`; it becomes a scale of A … B ({INTEGER_WHY})",
                    at(ccons)
                )),
            }
        } else if !cons.is_empty() {
            let number = |prefix: &str| cons.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok());
            match (kind, number("string-length(.)<="), number("count-selected(.)<=")) {
                ("text", Some(n), _) => q.max_length = Some(n),
                ("multiple", _, Some(n)) => q.max_selected = Some(n),
                _ => errors.push(format!(
                    "{}: only `string-length(.) <= N` (text), `count-selected(.) <= N` (select_multiple) and `. >= A and . <= B` (integer) are supported",
                    at(ccons)
                )),
            }
        }
        if head == "range" {
            match range_parameters(params) {
                Ok(range) => q.range = Some(range),
                Err(why) => errors.push(format!("{}: {why}", at(cparams))),
            }
        } else if !params.is_empty() {
            errors.push(format!("{}: parameters are taken only for range", at(cparams)));
        }
        let b = survey.cell(r, cbreak).trim().to_ascii_lowercase();
        q.breakdown = ["yes", "true", "true()", "1"].contains(&b.as_str());
        let sa = survey.cell(r, csupport).trim().to_ascii_lowercase();
        q.support_after = ["yes", "true", "true()", "1"].contains(&sa.as_str());
        q.merge = survey.cell(r, cmerge).split_whitespace().map(str::to_owned).collect();
        let rel = survey.cell(r, crel).trim();
        if !rel.is_empty() {
            match relevant::parse(rel) {
                Ok(s) => q.show_if = Some(s),
                Err(why) => errors.push(format!("{}: {why}", at(crel))),
            }
        }
        if !in_group && !implicit_open {
            // Questions outside any group form a section of their own.
            let id = format!("part_{}", sections.len() + 1);
            sections.push(RawSection {
                id,
                titles: BTreeMap::new(),
                texts: BTreeMap::new(),
                at: at(ctype),
                questions: Vec::new(),
            });
            implicit_open = true;
        }
        if let Some(s) = sections.last_mut() {
            s.questions.push(q);
        }
    }
    if in_group {
        errors.push("sheet survey: a group is never closed (end_group missing)".into());
    }
    for s in sections.iter().filter(|s| s.questions.is_empty() && !s.texts.is_empty()) {
        errors.push(format!(
            "{}: notes with no question after them in their section: a section's text is shown with its first question, so it would never be seen (move the note into a group that has questions)",
            s.at
        ));
    }

    // Settings.
    let set = |n: &str| settings.cell(1, settings.column(n)).trim().to_owned();
    let slug = set("form_id");
    let version = set("version");
    let default_language = set("default_language");
    let english = default_language.is_empty()
        || default_language == "English"
        || default_language == "en"
        || language_of(&default_language).as_deref() == Some("en");
    if !english {
        errors.push(format!(
            "{}: the default language must be English (en): Chorus falls back to English",
            settings.at(1, settings.column("default_language").unwrap_or(0))
        ));
    }
    if slug.is_empty() {
        errors.push("sheet settings, row 2: form_id is required (it becomes the survey's slug)".into());
    }
    let version: i64 = match version.parse() {
        Ok(v) => v,
        Err(_) => {
            errors.push(format!(
                "{}: version must be a whole number (Chorus versions count 1, 2, 3 …)",
                settings.at(1, settings.column("version").unwrap_or(0))
            ));
            1
        }
    };
    let setting_texts = |base: &str| -> BTreeMap<String, String> {
        settings_tr
            .iter()
            .filter(|(_, b, _)| b == base)
            .filter_map(|(c, _, lang)| {
                let v = settings.cell(1, Some(*c));
                (!v.is_empty()).then(|| (lang.clone(), v.to_owned()))
            })
            .collect()
    };
    let title = setting_texts("form_title");
    let mut intro_texts = setting_texts("intro");
    if intro_texts.is_empty() {
        intro_texts = intro;
    } else if let Some(at) = intro_at {
        errors.push(format!(
            "{at}: a note before the first question is the introduction, and the settings sheet gives one too: keep one"
        ));
    }
    let consent = setting_texts("consent");
    let thanks = setting_texts("thanks");
    let codes = set("chorus::codes");
    let k = set("chorus::k");
    let minutes = set("chorus::minutes");
    let sealed_size = set("chorus::sealed_size");
    let review: Vec<String> = set("chorus::review").split_whitespace().map(str::to_owned).collect();

    if !errors.is_empty() {
        return Err(XlsFormError(errors));
    }

    // Build the TOML document.
    use toml::{Table, Value};
    let s = |v: &str| Value::String(v.to_owned());
    let en = |m: &BTreeMap<String, String>| m.get("en").cloned().unwrap_or_default();
    let mut doc = Table::new();
    doc.insert("format".into(), Value::Integer(1));
    doc.insert("slug".into(), s(&slug));
    doc.insert("version".into(), Value::Integer(version));
    doc.insert("languages".into(), Value::Array(languages.iter().map(|l| s(l)).collect()));
    if !codes.is_empty() {
        doc.insert("codes".into(), s(&codes));
    }
    if let Ok(k) = k.parse::<i64>() {
        doc.insert("k".into(), Value::Integer(k));
    }
    if let Ok(m) = minutes.trim().parse::<i64>() {
        doc.insert("minutes".into(), Value::Integer(m));
    }
    if let Ok(n) = sealed_size.trim().parse::<i64>() {
        doc.insert("sealed_size".into(), Value::Integer(n));
    }
    doc.insert("title".into(), s(&en(&title)));
    let mut tr: BTreeMap<String, Table> = languages.iter().skip(1).map(|l| (l.clone(), Table::new())).collect();
    let mut put = |key: &str, m: &BTreeMap<String, String>| {
        for (lang, v) in m {
            if let Some(t) = tr.get_mut(lang) {
                t.insert(key.to_owned(), s(v));
            }
        }
    };
    put("title", &title);
    for (key, m) in [("intro", &intro_texts), ("consent", &consent), ("thanks", &thanks)] {
        if m.contains_key("en") {
            doc.insert(key.into(), s(&en(m)));
        }
        put(key, m);
    }
    let mut out_sections = Vec::new();
    for sec in &sections {
        let mut st = Table::new();
        st.insert("id".into(), s(&sec.id));
        st.insert("title".into(), s(&en(&sec.titles)));
        put(&format!("section.{}", sec.id), &sec.titles);
        if sec.texts.contains_key("en") {
            st.insert("text".into(), s(&en(&sec.texts)));
        }
        put(&format!("section.{}.text", sec.id), &sec.texts);
        let mut qs = Vec::new();
        for q in &sec.questions {
            let mut qt = Table::new();
            qt.insert("id".into(), s(&q.id));
            qt.insert("type".into(), s(q.kind));
            qt.insert("label".into(), s(&en(&q.labels)));
            put(&format!("q.{}", q.id), &q.labels);
            if q.hints.contains_key("en") {
                qt.insert("help".into(), s(&en(&q.hints)));
            }
            put(&format!("q.{}.help", q.id), &q.hints);
            for (field, key, m) in [("end_text", "end", &q.end_text), ("read_by", "read_by", &q.read_by)] {
                if m.contains_key("en") {
                    qt.insert(field.into(), s(&en(m)));
                }
                put(&format!("q.{}.{key}", q.id), m);
            }
            if !q.was.is_empty() {
                qt.insert("was".into(), s(&q.was));
            }
            let mut options = Vec::new();
            if let Some(list) = &q.list {
                for (id, labels, exclusive, ends, was) in lists.get(list).into_iter().flatten() {
                    let mut o = Table::new();
                    o.insert("id".into(), s(id));
                    o.insert("label".into(), s(&en(labels)));
                    if *exclusive {
                        o.insert("exclusive".into(), Value::Boolean(true));
                    }
                    if *ends {
                        o.insert("ends".into(), Value::Boolean(true));
                    }
                    if !was.is_empty() {
                        o.insert("was".into(), Value::Array(was.iter().map(|w| s(w)).collect()));
                    }
                    put(&format!("q.{}.o.{id}", q.id), labels);
                    options.push(Value::Table(o));
                }
            }
            if let Some((a, b)) = q.range {
                for n in a..=b {
                    let mut o = Table::new();
                    o.insert("id".into(), s(&n.to_string()));
                    o.insert("label".into(), s(&n.to_string()));
                    options.push(Value::Table(o));
                }
            }
            if !q.builtin && (q.list.is_some() || q.range.is_some()) {
                qt.insert("options".into(), Value::Array(options));
            }
            if let Some(n) = q.max_selected {
                qt.insert("max_selected".into(), Value::Integer(n));
            }
            if let Some(n) = q.max_length {
                qt.insert("max_length".into(), Value::Integer(n));
            }
            if q.support_after {
                qt.insert("support_after".into(), Value::Boolean(true));
            }
            if q.breakdown {
                qt.insert("breakdown".into(), Value::Boolean(true));
            }
            if !q.merge.is_empty() {
                qt.insert("merge".into(), Value::Array(q.merge.iter().map(|m| s(m)).collect()));
            }
            if let Some(rel) = &q.show_if {
                let condition = |(target, any_of): &(String, Vec<String>)| {
                    let mut c = Table::new();
                    c.insert("question".into(), s(target));
                    c.insert("any_of".into(), Value::Array(any_of.iter().map(|o| s(o)).collect()));
                    c
                };
                let si = match (rel.join, rel.conditions.as_slice()) {
                    (_, [one]) => condition(one),
                    (join, many) => {
                        let key = if join == Join::All { "all" } else { "any" };
                        Table::from_iter([(
                            key.to_owned(),
                            Value::Array(many.iter().map(|c| Value::Table(condition(c))).collect()),
                        )])
                    }
                };
                qt.insert("show_if".into(), Value::Table(si));
            }
            qs.push(Value::Table(qt));
        }
        st.insert("questions".into(), Value::Array(qs));
        out_sections.push(Value::Table(st));
    }
    doc.insert("sections".into(), Value::Array(out_sections));
    let mut translations = Table::new();
    for (lang, mut t) in tr {
        if review.contains(&lang) {
            t.insert("review".into(), Value::Boolean(true));
        }
        if !t.is_empty() {
            translations.insert(lang, Value::Table(t));
        }
    }
    if !translations.is_empty() {
        doc.insert("translations".into(), Value::Table(translations));
    }
    toml::to_string(&doc).map_err(|e| XlsFormError::one(format!("definition: {e}")))
}
