//! XLSForm, the spreadsheet format of KoboToolbox and ODK, read into a Chorus definition and written
//! back. Import emits the TOML text of docs/surveys.md and hands it to [`Survey::parse`], so one
//! validator checks both formats and a stored definition is always TOML.
//!
//! The file is measured before anything parses it: its size, the zip's entries and every entry's real
//! uncompressed size (read through a bounded reader, not taken from the header); then formulas, rows,
//! columns and cells of every sheet in a streaming pass, before calamine builds the sheet's grid. Every unsupported feature is reported at once, each naming the
//! sheet, the row, the column and why Chorus does not take it.

use std::{
    collections::{BTreeMap, HashMap},
    io::{Cursor, Read},
};

use calamine::{Data, Reader, Xlsx};

use super::{Kind, Survey};

/// Largest file accepted, in bytes.
pub const MAX_FILE: usize = 2 * 1024 * 1024;
/// Most entries in the zip container.
pub const MAX_ENTRIES: usize = 64;
/// Largest uncompressed entry (a worksheet, the shared-strings table), in bytes.
pub const MAX_ENTRY: u64 = 8 * 1024 * 1024;
/// Largest uncompressed total, in bytes.
pub const MAX_TOTAL: u64 = 24 * 1024 * 1024;
/// Most rows, columns and cells of one sheet.
pub const MAX_ROWS: usize = 2_000;
pub const MAX_COLUMNS: usize = 64;
pub const MAX_CELLS: usize = 40_000;

/// Everything wrong with a file, one problem a line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct XlsFormError(pub Vec<String>);

impl XlsFormError {
    fn one(s: impl Into<String>) -> Self {
        Self(vec![s.into()])
    }
}

/// True when the bytes look like a zip container (an .xlsx), not a TOML text.
pub fn looks_like_xlsx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Read an XLSForm and produce the definition's TOML text and the validated survey.
pub fn import(bytes: &[u8]) -> Result<(String, Survey), XlsFormError> {
    check_container(bytes)?;
    let sheets = read_sheets(bytes)?;
    let text = to_toml(&sheets)?;
    let survey = Survey::parse(&text)
        .map_err(|e| XlsFormError(e.0.into_iter().map(|m| format!("definition: {m}")).collect()))?;
    Ok((text, survey))
}

// ---- bounds ---------------------------------------------------------------------------------------

/// Size, entries and real uncompressed sizes, before any XML is parsed.
pub fn check_container(bytes: &[u8]) -> Result<(), XlsFormError> {
    if bytes.len() > MAX_FILE {
        return Err(XlsFormError::one(format!(
            "file: {} bytes, over the limit of {MAX_FILE} bytes (2 MB)",
            bytes.len()
        )));
    }
    if !looks_like_xlsx(bytes) {
        return Err(XlsFormError::one("file: not an .xlsx workbook (save the XLSForm as Excel .xlsx)"));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| XlsFormError::one(format!("file: not a readable .xlsx workbook ({e})")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(XlsFormError::one(format!(
            "file: {} parts in the workbook, over the limit of {MAX_ENTRIES}",
            zip.len()
        )));
    }
    let mut total = 0u64;
    let mut sink = [0u8; 8192];
    for i in 0..zip.len() {
        let mut entry =
            zip.by_index(i).map_err(|e| XlsFormError::one(format!("file: part {i} cannot be read ({e})")))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("#{i}"));
        if entry.size() > MAX_ENTRY {
            return Err(XlsFormError::one(format!(
                "file: part {name} unpacks to {} bytes, over the limit of {MAX_ENTRY}",
                entry.size()
            )));
        }
        // The header's size may lie: count what really comes out, and stop one byte past the limit.
        let mut bounded = (&mut entry).take(MAX_ENTRY + 1);
        let mut n = 0u64;
        loop {
            let got = bounded
                .read(&mut sink)
                .map_err(|e| XlsFormError::one(format!("file: part {name} cannot be unpacked ({e})")))?;
            if got == 0 {
                break;
            }
            n += got as u64;
            if n > MAX_ENTRY || total + n > MAX_TOTAL {
                return Err(XlsFormError::one(format!(
                    "file: part {name} unpacks to more than {} bytes: refused as a possible zip bomb",
                    MAX_ENTRY.min(MAX_TOTAL - total)
                )));
            }
        }
        total += n;
    }
    Ok(())
}

/// A sheet as rows of trimmed strings, with its first row and column in the workbook (0-based).
struct Sheet {
    name: String,
    origin: (u32, u32),
    rows: Vec<Vec<String>>,
}

impl Sheet {
    /// "sheet survey, row 7, column C (relevant)"
    fn at(&self, row: usize, col: usize) -> String {
        let header = self.rows.first().and_then(|h| h.get(col)).map(String::as_str).unwrap_or("");
        format!(
            "sheet {}, row {}, column {} ({header})",
            self.name,
            self.origin.0 as usize + row + 1,
            column_letter(self.origin.1 as usize + col)
        )
    }
    fn column(&self, name: &str) -> Option<usize> {
        self.rows.first()?.iter().position(|h| h.trim().eq_ignore_ascii_case(name))
    }
    fn cell(&self, row: usize, col: Option<usize>) -> &str {
        col.and_then(|c| self.rows.get(row)?.get(c)).map(String::as_str).unwrap_or("")
    }
}

fn column_letter(mut col: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn read_sheets(bytes: &[u8]) -> Result<Vec<Sheet>, XlsFormError> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| XlsFormError::one(format!("file: not a readable .xlsx workbook ({e})")))?;
    let mut errors = Vec::new();
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        if !["survey", "choices", "settings"].contains(&name.as_str()) {
            errors.push(format!("sheet {name}: Chorus reads only the survey, choices and settings sheets"));
            continue;
        }
        // One streaming pass before anything dense is built: calamine's ranges allocate every cell
        // between the first and the last, so two far-apart cells would otherwise take all memory.
        if let Err(problem) = measure(&mut book, &name) {
            errors.push(problem);
            continue;
        }
        let range = match book.worksheet_range(&name) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("sheet {name}: cannot be read ({e})"));
                continue;
            }
        };
        let rows = range.rows().map(|r| r.iter().map(cell_text).collect()).collect();
        sheets.push(Sheet { name, origin: range.start().unwrap_or((0, 0)), rows });
    }
    if errors.is_empty() { Ok(sheets) } else { Err(XlsFormError(errors)) }
}

/// Rows and columns (counted from A1: row 5,000 alone is 5,000 rows), cells and formulas of a sheet,
/// read as a stream of cells.
fn measure<RS: Read + std::io::Seek>(book: &mut Xlsx<RS>, name: &str) -> Result<(), String> {
    let mut cells = book.worksheet_cells_reader(name).map_err(|e| format!("sheet {name}: cannot be read ({e})"))?;
    let (mut rows, mut cols) = (0usize, 0usize);
    loop {
        let cell = cells.next_cell_with_formula().map_err(|e| format!("sheet {name}: cannot be read ({e})"))?;
        let Some(cell) = cell else { break };
        let (r, c) = (cell.pos.0 as usize, cell.pos.1 as usize);
        if cell.formula.as_deref().is_some_and(|f| !f.is_empty()) {
            return Err(format!(
                "sheet {name}, row {}, column {}: a formula; Chorus takes values only (paste as values)",
                r + 1,
                column_letter(c)
            ));
        }
        rows = rows.max(r + 1);
        cols = cols.max(c + 1);
        if rows > MAX_ROWS || cols > MAX_COLUMNS || rows.saturating_mul(cols) > MAX_CELLS {
            return Err(format!(
                "sheet {name}: at least {rows} rows by {cols} columns, over the limits of {MAX_ROWS} rows, {MAX_COLUMNS} columns and {MAX_CELLS} cells"
            ));
        }
    }
    Ok(())
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        // Kept as written (labels may hold line breaks); ids and types are trimmed where they are read.
        other => other.to_string(),
    }
}

// ---- XLSForm to TOML --------------------------------------------------------------------------------

/// The language code of a `label::English (en)` column; a bare `label` is English.
fn language_of(suffix: &str) -> Option<String> {
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
        "integer" => "a bare integer is not supported: use range with start, end and step 1 (it becomes a scale)",
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
    was: String,
    max_length: Option<i64>,
    max_selected: Option<i64>,
    show_if: Option<(String, Vec<String>)>,
    breakdown: bool,
    merge: Vec<String>,
    range: Option<(i64, i64)>,
}

struct RawSection {
    id: String,
    titles: BTreeMap<String, String>,
    questions: Vec<RawQ>,
}

fn to_toml(sheets: &[Sheet]) -> Result<String, XlsFormError> {
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
                sections.push(RawSection { id: name.clone(), titles: texts_of(r, "label"), questions: Vec::new() });
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
            "note" => {
                if sections.iter().all(|s| s.questions.is_empty()) && intro.is_empty() {
                    intro = texts_of(r, "label");
                } else {
                    errors.push(format!(
                        "{}: a note is taken only before the first question (it becomes the introduction)",
                        at(ctype)
                    ));
                }
                continue;
            }
            _ => {}
        }
        let kind: &'static str = match head.as_str() {
            "select_one" => "single",
            "select_multiple" => "multiple",
            "text" => "text",
            "range" => "scale",
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
            merge: Vec::new(),
            range: None,
        };
        // constraint: the two forms Chorus understands.
        let cons = survey.cell(r, ccons).replace(' ', "");
        if !cons.is_empty() {
            let number = |prefix: &str| cons.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok());
            match (kind, number("string-length(.)<="), number("count-selected(.)<=")) {
                ("text", Some(n), _) => q.max_length = Some(n),
                ("multiple", _, Some(n)) => q.max_selected = Some(n),
                _ => errors.push(format!(
                    "{}: only `string-length(.) <= N` (text) and `count-selected(.) <= N` (select_multiple) are supported",
                    at(ccons)
                )),
            }
        }
        let params = survey.cell(r, cparams);
        if head == "range" {
            let mut p: HashMap<&str, i64> = HashMap::new();
            for kv in params.split_whitespace() {
                if let Some((k, v)) = kv.split_once('=')
                    && let Ok(v) = v.parse::<i64>()
                {
                    p.insert(k, v);
                }
            }
            match (p.get("start"), p.get("end"), p.get("step").copied().unwrap_or(1)) {
                (Some(&a), Some(&b), 1) if a >= 0 && b > a && b - a < 20 => q.range = Some((a, b)),
                _ => errors.push(format!(
                    "{}: a range needs `start=A end=B` (step 1, at most 20 values, from 0 up); it becomes a scale",
                    at(cparams)
                )),
            }
        } else if !params.is_empty() {
            errors.push(format!("{}: parameters are taken only for range", at(cparams)));
        }
        let b = survey.cell(r, cbreak).trim().to_ascii_lowercase();
        q.breakdown = ["yes", "true", "true()", "1"].contains(&b.as_str());
        q.merge = survey.cell(r, cmerge).split_whitespace().map(str::to_owned).collect();
        let rel = survey.cell(r, crel).trim();
        if !rel.is_empty() {
            match parse_relevant(rel) {
                Ok(s) => q.show_if = Some(s),
                Err(why) => errors.push(format!("{}: {why}", at(crel))),
            }
        }
        if !in_group && !implicit_open {
            // Questions outside any group form a section of their own.
            let id = format!("part_{}", sections.len() + 1);
            sections.push(RawSection { id, titles: BTreeMap::new(), questions: Vec::new() });
            implicit_open = true;
        }
        if let Some(s) = sections.last_mut() {
            s.questions.push(q);
        }
    }
    if in_group {
        errors.push("sheet survey: a group is never closed (end_group missing)".into());
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
    }
    let consent = setting_texts("consent");
    let thanks = setting_texts("thanks");
    let codes = set("chorus::codes");
    let k = set("chorus::k");
    let minutes = set("chorus::minutes");
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
    if let Ok(m) = minutes.parse::<i64>() {
        doc.insert("minutes".into(), Value::Integer(m));
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
            if q.breakdown {
                qt.insert("breakdown".into(), Value::Boolean(true));
            }
            if !q.merge.is_empty() {
                qt.insert("merge".into(), Value::Array(q.merge.iter().map(|m| s(m)).collect()));
            }
            if let Some((target, any_of)) = &q.show_if {
                let mut si = Table::new();
                si.insert("question".into(), s(target));
                si.insert("any_of".into(), Value::Array(any_of.iter().map(|o| s(o)).collect()));
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

/// `${q} = 'x'`, `selected(${q}, 'x')`, and `or` of those on one question → (question, options).
/// `and`, or conditions on two questions, are refused: Chorus skip logic names one earlier question.
fn parse_relevant(expr: &str) -> Result<(String, Vec<String>), String> {
    let why = "only `${q} = 'x'`, `selected(${q}, 'x')` and `or` of those on one question are supported";
    if expr.split_whitespace().any(|w| w == "and") {
        return Err(format!("`and` is not supported: Chorus skip logic depends on one earlier question ({why})"));
    }
    let mut question: Option<String> = None;
    let mut options = Vec::new();
    for part in expr.split(" or ") {
        let p = part.trim().trim_start_matches('(').trim_end_matches(')').trim();
        let (q, o) = if let Some(inner) = p.strip_prefix("selected(") {
            let (q, o) = inner.split_once(',').ok_or(why)?;
            (q.trim(), o.trim())
        } else if let Some((q, o)) = p.split_once('=') {
            (q.trim(), o.trim())
        } else {
            return Err(why.to_owned());
        };
        let q = q.strip_prefix("${").and_then(|q| q.strip_suffix('}')).ok_or(why)?;
        let o = o
            .strip_prefix('\'')
            .and_then(|o| o.strip_suffix('\''))
            .or_else(|| o.strip_prefix('"').and_then(|o| o.strip_suffix('"')))
            .ok_or(why)?;
        if question.as_deref().is_some_and(|prev| prev != q) {
            return Err(format!(
                "conditions on two questions (`{}` and `{q}`) are not supported: Chorus skip logic depends on one earlier question",
                question.unwrap_or_default()
            ));
        }
        question = Some(q.to_owned());
        options.push(o.to_owned());
    }
    Ok((question.ok_or(why)?, options))
}

// ---- definition to XLSForm --------------------------------------------------------------------------

/// Column headings for a language: `label::English (en)`.
fn heading(base: &str, lang: &str) -> String {
    let name = match lang {
        "en" => "English",
        "fr" => "French",
        "zh-Hans" => "Chinese, Simplified",
        "zh-Hant" => "Chinese, Traditional",
        "ko" => "Korean",
        "vi" => "Vietnamese",
        "th" => "Thai",
        _ => lang,
    };
    format!("{base}::{name} ({lang})")
}

/// Write a definition as an XLSForm workbook that [`import`] reads back to the same definition.
pub fn export(survey: &Survey) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::Workbook;
    let langs = &survey.languages;
    let own = |lang: &str, key: &str| survey.own_text(lang, key).unwrap_or("").to_owned();
    let mut book = Workbook::new();

    // survey sheet
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head: Vec<String> = vec!["type".into(), "name".into()];
    head.extend(langs.iter().map(|l| heading("label", l)));
    head.extend(langs.iter().map(|l| heading("hint", l)));
    head.extend(langs.iter().map(|l| heading("end_text", l)));
    head.extend(langs.iter().map(|l| heading("read_by", l)));
    head.extend(
        ["relevant", "constraint", "chorus::type", "chorus::breakdown", "chorus::merge", "chorus::was"]
            .map(String::from),
    );
    rows.push(head);
    let mut choice_rows: Vec<Vec<String>> = Vec::new();
    for section in &survey.sections {
        let mut r = vec!["begin_group".to_owned(), section.id.clone()];
        r.extend(langs.iter().map(|l| own(l, &format!("section.{}", section.id))));
        rows.push(r);
        for q in &survey.questions[section.questions.clone()] {
            let builtin = q.options.iter().filter(|o| o.id != super::PNS).all(|o| o.builtin.is_some());
            let list = format!("{}_options", q.id);
            let ty = match (q.kind, builtin) {
                (Kind::Text, _) => "text".to_owned(),
                (Kind::Multiple, _) => format!("select_multiple {list}"),
                (Kind::Region, true) => "select_one chorus_regions".to_owned(),
                (Kind::Period, true) => "select_one chorus_periods".to_owned(),
                _ => format!("select_one {list}"),
            };
            let mut r = vec![ty, q.id.clone()];
            r.extend(langs.iter().map(|l| own(l, &format!("q.{}", q.id))));
            r.extend(langs.iter().map(|l| own(l, &format!("q.{}.help", q.id))));
            r.extend(langs.iter().map(|l| own(l, &format!("q.{}.end", q.id))));
            r.extend(langs.iter().map(|l| own(l, &format!("q.{}.read_by", q.id))));
            r.push(q.show_if.as_ref().map_or(String::new(), |c| {
                let target = &survey.questions[c.question];
                let parts: Vec<String> = c
                    .any_of
                    .iter()
                    .map(|&o| format!("selected(${{{}}}, '{}')", target.id, target.options[o].id))
                    .collect();
                parts.join(" or ")
            }));
            r.push(match q.kind {
                Kind::Text => format!("string-length(.) <= {}", q.max_length),
                Kind::Multiple => q.max_selected.map_or(String::new(), |n| format!("count-selected(.) <= {n}")),
                _ => String::new(),
            });
            r.push(match (q.kind, builtin) {
                (Kind::Scale, _) | (Kind::Period, false) | (Kind::Region, false) => q.kind.as_str().to_owned(),
                _ => String::new(),
            });
            r.push(if q.breakdown { "yes".into() } else { String::new() });
            let mut merge = Vec::new();
            if q.kind == Kind::Region && builtin {
                for m in ["prairies", "atlantic", "territories"] {
                    if q.option_index(m).is_some() {
                        merge.push(m);
                    }
                }
            }
            r.push(merge.join(" "));
            r.push(q.was.clone().unwrap_or_default());
            rows.push(r);
            if q.kind.is_closed() && !builtin {
                for o in q.options.iter().filter(|o| o.id != super::PNS) {
                    let mut c = vec![list.clone(), o.id.clone()];
                    c.extend(langs.iter().map(|l| own(l, &format!("q.{}.o.{}", q.id, o.id))));
                    c.push(if o.exclusive { "yes".into() } else { String::new() });
                    c.push(if o.ends { "yes".into() } else { String::new() });
                    c.push(o.was.join(" "));
                    choice_rows.push(c);
                }
            }
        }
        rows.push(vec!["end_group".into()]);
    }
    write_sheet(&mut book, "survey", &rows)?;
    let mut chead = vec!["list_name".to_owned(), "name".to_owned()];
    chead.extend(langs.iter().map(|l| heading("label", l)));
    chead.extend(["chorus::exclusive", "chorus::ends", "chorus::was"].map(String::from));
    choice_rows.insert(0, chead);
    write_sheet(&mut book, "choices", &choice_rows)?;

    let mut shead: Vec<String> = vec!["form_id".into(), "version".into(), "default_language".into()];
    let mut svals: Vec<String> = vec![survey.slug.clone(), survey.version.to_string(), "English (en)".into()];
    for base in ["form_title", "intro", "consent", "thanks"] {
        let key = if base == "form_title" { "title" } else { base };
        if survey.own_text("en", key).is_some() {
            for l in langs {
                shead.push(heading(base, l));
                svals.push(own(l, key));
            }
        }
    }
    shead.extend(["chorus::codes", "chorus::k", "chorus::review", "chorus::minutes"].map(String::from));
    svals.push(survey.codes.as_str().to_owned());
    svals.push(survey.k.to_string());
    svals.push(survey.needs_review.join(" "));
    svals.push(survey.minutes.map(|m| m.to_string()).unwrap_or_default());
    write_sheet(&mut book, "settings", &[shead, svals])?;
    book.save_to_buffer()
}

fn write_sheet(
    book: &mut rust_xlsxwriter::Workbook,
    name: &str,
    rows: &[Vec<String>],
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let sheet = book.add_worksheet();
    sheet.set_name(name)?;
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32, c as u16, v)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevant_forms() {
        assert_eq!(parse_relevant("${a} = 'x'").unwrap(), ("a".into(), vec!["x".into()]));
        assert_eq!(
            parse_relevant("selected(${a}, 'x') or selected(${a}, 'y')").unwrap(),
            ("a".into(), vec!["x".into(), "y".into()])
        );
        assert!(parse_relevant("${a} = 'x' and ${b} = 'y'").unwrap_err().contains("and"));
        assert!(parse_relevant("${a} = 'x' or ${b} = 'y'").unwrap_err().contains("two questions"));
        assert!(parse_relevant("${a} > 3").is_err());
    }

    #[test]
    fn the_default_survey_round_trips_in_every_language() {
        let harms = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
        let bytes = export(&harms).unwrap();
        let (_, back) = import(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.languages.len(), 7);
        if let Some(d) = harms.differs_from(&back) {
            panic!("round trip changed the definition: {d}");
        }
    }

    #[test]
    fn bombs_and_junk_are_refused_before_parsing() {
        assert!(import(b"format = 1").unwrap_err().to_string().contains("not an .xlsx"));
        assert!(import(&vec![b'P'; MAX_FILE + 1]).unwrap_err().to_string().contains("over the limit"));
        // A zip whose one entry unpacks far past the limit, while the file stays small.
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            w.start_file("xl/sharedStrings.xml", opts).unwrap();
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..9 {
                std::io::Write::write_all(&mut w, &zeros).unwrap();
            }
            w.finish().unwrap();
        }
        let bytes = buf.into_inner();
        assert!(bytes.len() < MAX_FILE);
        let e = import(&bytes).unwrap_err().to_string();
        assert!(e.contains("sharedStrings") && e.contains("limit") || e.contains("zip bomb"), "{e}");
    }

    /// A workbook of one survey sheet, written by `fill`.
    fn workbook(fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("survey").unwrap();
        fill(sheet);
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn formulas_and_oversized_sheets_are_refused() {
        let with_formula = workbook(|s| {
            s.write_string(0, 0, "type").unwrap();
            s.write_formula(1, 1, "=1+1").unwrap();
        });
        let e = import(&with_formula).unwrap_err().to_string();
        assert!(e.contains("sheet survey, row 2, column B: a formula"), "{e}");
        let tall = workbook(|s| {
            s.write_string(MAX_ROWS as u32 + 1, 0, "x").unwrap();
        });
        let e = import(&tall).unwrap_err().to_string();
        assert!(e.contains("rows") && e.contains("over the limits"), "{e}");
        // Two cells at opposite corners of a sheet: refused without building the grid between them.
        let corners = workbook(|s| {
            s.write_string(0, 0, "type").unwrap();
            s.write_string(1_048_575, 16_383, "x").unwrap();
        });
        let e = import(&corners).unwrap_err().to_string();
        assert!(e.contains("over the limits"), "{e}");
    }

    #[test]
    fn the_example_file_imports_and_every_problem_is_named_at_once() {
        let (_, ex) = import(include_bytes!("../../tests/data/example.xlsx")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ex.slug.as_str(), ex.version, ex.languages.len()), ("night-shift", 1, 2));
        let (_, places) = ex.question("places").unwrap();
        assert_eq!(places.max_selected, Some(2));
        assert!(places.show_if.is_some());
        assert_eq!(ex.question("safety").unwrap().1.kind, Kind::Scale);
        assert!(ex.question("region").unwrap().1.option_index("atlantic").is_some());
        assert_eq!(ex.question("comments").unwrap().1.max_length, 100);
        assert_eq!(ex.own_text("en", "intro"), Some("Ten questions about night work. Skip any of them."));
        let e = import(include_bytes!("../../tests/data/unsupported.xlsx")).unwrap_err().0;
        assert!(e.len() >= 4, "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("sheet survey, row 2, column A (type): type `calculate`")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("sheet survey, row 2, column E (calculation)")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("sheet survey, row 3, column D (required)")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("sheet survey, row 4, column D (required)")), "{e:?}");
    }
}
