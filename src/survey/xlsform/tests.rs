//! The importer and exporter, and the attacks on them: each hostile file is refused before anything
//! large is built, and says why.

use std::io::Cursor;

use super::*;
use crate::survey::{Join, Kind};

/// Export, import, compare: the definition must come back the same (texts in every language too).
fn round_trip(survey: &Survey) -> Survey {
    let bytes = export(survey).unwrap();
    let (_, back) = import(&bytes).unwrap_or_else(|e| panic!("{e}"));
    if let Some(d) = survey.differs_from(&back) {
        panic!("round trip changed the definition of {}: {d}", survey.slug);
    }
    back
}

/// Whatever the bundled survey says (its questions change with its versions), it round-trips, and
/// in every language Chorus offers.
#[test]
fn the_default_survey_round_trips_in_every_language() {
    let bundled = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
    let back = round_trip(&bundled);
    for lang in crate::i18n::LANGUAGES {
        assert!(back.languages.iter().any(|l| l == lang), "{lang} lost");
        assert_eq!(back.untranslated(lang), bundled.untranslated(lang), "{lang}");
    }
}

/// A definition with what the bundled one may not use: `all` and `any` skip logic, section texts,
/// a scale of numbers, an exclusive option, built-in periods.
const FEATURES: &str = r#"
format = 1
slug = "features"
version = 3
languages = ["en", "fr"]
title = "Features"
intro = "Hello"
[[sections]]
id = "one"
title = "One"
text = "About the first part.\n\nSkip what you like."
[[sections.questions]]
id = "a"
type = "single"
label = "A?"
options = [{ id = "x", label = "X" }, { id = "y", label = "Y" }]
[[sections.questions]]
id = "b"
type = "multiple"
label = "B?"
options = [{ id = "p", label = "P" }, { id = "q", label = "Q" }, { id = "none", label = "None", exclusive = true }]
[[sections.questions]]
id = "c"
type = "scale"
label = "C?"
options = [{ id = "0", label = "0" }, { id = "1", label = "1" }, { id = "2", label = "2" }]
show_if = { all = [{ question = "a", any_of = ["x", "y"] }, { question = "b", any_of = ["p"] }] }
[[sections]]
id = "two"
title = "Two"
[[sections.questions]]
id = "d"
type = "period"
label = "D?"
show_if = { any = [{ question = "a", any_of = ["x"] }, { question = "c", any_of = ["2"] }] }
[[sections.questions]]
id = "e"
type = "text"
label = "E?"
max_length = 50
show_if = { question = "b", any_of = ["p", "q"] }
[translations.fr]
title = "Fonctions"
"section.one.text" = "La première partie."
"q.a" = "A ?"
"#;

#[test]
fn and_or_skip_logic_and_section_texts_round_trip() {
    let s = Survey::parse(FEATURES).unwrap_or_else(|e| panic!("{e}"));
    let (_, c) = s.question("c").unwrap();
    let rule = c.show_if.as_ref().unwrap();
    assert_eq!((rule.join, rule.conditions.len()), (Join::All, 2));
    assert_eq!(s.question("d").unwrap().1.show_if.as_ref().unwrap().join, Join::Any);
    let back = round_trip(&s);
    assert_eq!(back.own_text("fr", "section.one.text"), Some("La première partie."));
    assert_eq!(back.own_text("en", "section.one.text"), Some("About the first part.\n\nSkip what you like."));
}

/// A workbook of named sheets, each given as rows of cells (written as strings; "" is left empty).
fn book(sheets: &[(&str, &[&[&str]])]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !v.is_empty() {
                    sheet.write_string(r as u32, c as u16, *v).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

const HEAD: &[&str] = &["type", "name", "label", "relevant", "constraint", "parameters"];
const CHOICES: &[&[&str]] = &[&["list_name", "name", "label"], &["yn", "yes", "Yes"], &["yn", "no", "No"]];
const SETTINGS: &[&[&str]] = &[&["form_id", "version", "form_title"], &["t-form", "1", "T"]];

fn form(survey: &[&[&str]]) -> Result<Survey, Vec<String>> {
    let mut rows = vec![HEAD];
    rows.extend_from_slice(survey);
    import(&book(&[("survey", &rows), ("choices", CHOICES), ("settings", SETTINGS)])).map(|(_, s)| s).map_err(|e| e.0)
}

#[test]
fn relevant_with_and_and_or_becomes_show_if() {
    let s = form(&[
        &["select_one yn", "a", "A?"],
        &["select_one yn", "b", "B?"],
        &["select_one yn", "both", "Both?", "${a} = 'yes' and selected(${b}, 'yes')"],
        &["select_one yn", "either", "Either?", "${a} = 'yes' or ${b} = 'no'"],
        &["text", "one", "One?", "${a} = 'yes' or ${a} = 'no'"],
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let rule = |id: &str| s.question(id).unwrap().1.show_if.clone().unwrap();
    assert_eq!((rule("both").join, rule("both").conditions.len()), (Join::All, 2));
    assert_eq!((rule("either").join, rule("either").conditions.len()), (Join::Any, 2));
    assert_eq!(rule("one").conditions.len(), 1);
    assert_eq!(rule("one").conditions[0].any_of.len(), 2);
    round_trip(&s);
    // Refused with sheet, row and column: a later question, a missing option, an `or` of `and`s.
    let e = form(&[
        &["select_one yn", "a", "A?", "${b} = 'yes'"],
        &["select_one yn", "b", "B?", "${a} = 'maybe'"],
        &["text", "c", "C?", "${a} = 'yes' and ${b} = 'yes' or ${a} = 'no'"],
    ])
    .unwrap_err();
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 4, column D (relevant): an `or` of `and`s")), "{e:?}");
    let e = form(&[&["select_one yn", "a", "A?", "${b} = 'yes'"], &["select_one yn", "b", "B?", "${a} = 'maybe'"]])
        .unwrap_err();
    assert!(e.iter().any(|m| m.contains("\"b\" is not an earlier question")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("\"a\" has no option \"maybe\"")), "{e:?}");
}

#[test]
fn notes_become_section_texts() {
    let s = form(&[
        &["note", "hello", "Welcome."],
        &["note", "hello2", "Take your time."],
        &["begin_group", "g", "Group"],
        &["select_one yn", "a", "A?"],
        &["note", "n1", "About what follows."],
        &["select_one yn", "b", "B?"],
        &["note", "n2", "And more."],
        &["end_group"],
        &["select_one yn", "c", "C?"],
        &["note", "n3", "A part of its own."],
        &["select_one yn", "d", "D?"],
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(s.own_text("en", "intro"), Some("Welcome.\n\nTake your time."));
    assert_eq!(s.own_text("en", "section.g.text"), Some("About what follows.\n\nAnd more."));
    assert_eq!(s.sections.len(), 3, "{:?}", s.sections);
    let last = &s.sections[2];
    assert_eq!(s.own_text("en", &format!("section.{}.text", last.id)), Some("A part of its own."));
    assert_eq!(s.questions[last.questions.clone()].iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["d"]);
    round_trip(&s);
    // A note that no question follows would never be shown: refused, saying where and why.
    let e = form(&[&["select_one yn", "a", "A?"], &["note", "bye", "Thanks."]]).unwrap_err();
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 3, column A (type): notes with no question")), "{e:?}");
    let e = form(&[&["begin_group", "g", "G"], &["note", "n", "Only a note."], &["end_group"], &["text", "t", "T?"]])
        .unwrap_err();
    assert!(e.iter().any(|m| m.contains("row 2") && m.contains("never be seen")), "{e:?}");
}

#[test]
fn bounded_numbers_become_scales_and_the_rest_is_refused() {
    let s = form(&[
        &["integer", "pain", "Pain?", "", ". >= 0 and . <= 10"],
        &["range", "calm", "Calm?", "", "", "start=1 end=5 step=1"],
        &["integer", "steps", "Steps?", "", ".<4 and .>0"],
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let ids = |id: &str| {
        let (_, q) = s.question(id).unwrap();
        assert_eq!(q.kind, Kind::Scale);
        q.options.iter().map(|o| o.id.clone()).collect::<Vec<_>>().join(" ")
    };
    assert_eq!(ids("pain"), "0 1 2 3 4 5 6 7 8 9 10 pns");
    assert_eq!(ids("calm"), "1 2 3 4 5 pns");
    assert_eq!(ids("steps"), "1 2 3 pns");
    round_trip(&s);
    let e = form(&[
        &["integer", "age", "Age?"],
        &["integer", "income", "Income?", "", ". >= 0 and . <= 100000"],
        &["integer", "neg", "Neg?", "", ". >= -2 and . <= 2"],
        &["range", "half", "Half?", "", "", "start=1 end=5 step=0.5"],
        &["range", "wide", "Wide?", "", "", "start=0 end=20"],
        &["range", "odd", "Odd?", "", "", "start=1 end=5 colour=red"],
        &["decimal", "dec", "Dec?"],
    ])
    .unwrap_err();
    let has = |row: usize, col: &str, what: &str| {
        let at = format!("sheet survey, row {row}, column {col}");
        assert!(e.iter().any(|m| m.starts_with(&at) && m.contains(what)), "{at} {what}: {e:?}");
    };
    has(2, "E (constraint)", "needs both bounds");
    has(3, "E (constraint)", "over 11");
    has(4, "E (constraint)", "starts at 0");
    has(5, "F (parameters)", "not a whole number");
    has(6, "F (parameters)", "21 points");
    has(7, "F (parameters)", "`colour` is not start, end or step");
    has(8, "A (type)", "decimals are not supported");
    assert_eq!(e.len(), 7, "every problem at once: {e:?}");
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
    let (_, ex) = import(include_bytes!("../../../tests/data/example.xlsx")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ex.slug.as_str(), ex.version, ex.languages.len()), ("night-shift", 1, 2));
    let (_, places) = ex.question("places").unwrap();
    assert_eq!(places.max_selected, Some(2));
    assert!(places.show_if.is_some());
    assert_eq!(ex.question("safety").unwrap().1.kind, Kind::Scale);
    assert!(ex.question("region").unwrap().1.option_index("atlantic").is_some());
    assert_eq!(ex.question("comments").unwrap().1.max_length, 100);
    assert_eq!(ex.own_text("en", "intro"), Some("Ten questions about night work. Skip any of them."));
    assert_eq!(
        ex.own_text("fr", "section.about.text"),
        Some("Les petites régions sont regroupées pour que personne ne se distingue.")
    );
    let e = import(include_bytes!("../../../tests/data/unsupported.xlsx")).unwrap_err().0;
    assert!(e.len() >= 4, "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 2, column A (type): type `calculate`")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 2, column E (calculation)")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 3, column D (required)")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 4, column D (required)")), "{e:?}");
}

/// A zip whose entries each inflate to `real` bytes, while (with `declared`) its central directory and
/// local headers say otherwise: the sizes a reader trusts if it believes the header.
fn lying_zip(entries: &[&str], real: usize, declared: Option<u32>) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let zeros = vec![b' '; real];
        for name in entries {
            w.start_file(*name, opts).unwrap();
            std::io::Write::write_all(&mut w, &zeros).unwrap();
        }
        w.finish().unwrap();
    }
    let mut bytes = buf.into_inner();
    let Some(declared) = declared else { return bytes };
    let mut patched = 0;
    for i in 0..bytes.len().saturating_sub(30) {
        let at = match &bytes[i..i + 4] {
            b"PK\x03\x04" => i + 22, // local header: uncompressed size
            b"PK\x01\x02" => i + 24, // central directory: uncompressed size
            _ => continue,
        };
        bytes[at..at + 4].copy_from_slice(&declared.to_le_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2 * entries.len(), "every header patched");
    bytes
}

/// The attack: headers that say "1 KB" over a part that inflates to 9 MB. The bound must hold on
/// what is really inflated, not on what the header declares (the zip reader stops at the declared
/// size, and Chorus's own count stops at the limit). And parts each under the per-part limit that
/// add up past the total are counted as they inflate.
#[test]
fn a_zip_header_that_lies_about_its_size_is_refused() {
    let one = lying_zip(&["xl/worksheets/sheet1.xml"], 9 << 20, Some(1024));
    assert!(one.len() < MAX_FILE);
    let mut z = zip::ZipArchive::new(Cursor::new(&one)).unwrap();
    assert_eq!(z.by_index(0).unwrap().size(), 1024, "the header lies");
    let e = import(&one).unwrap_err().to_string();
    assert!(
        e.contains("xl/worksheets/sheet1.xml") && (e.contains("larger than its declared") || e.contains("zip bomb")),
        "{e}"
    );
    let many = lying_zip(&["a.xml", "b.xml", "c.xml", "d.xml"], 7 << 20, None);
    let e = import(&many).unwrap_err().to_string();
    assert!(e.contains("d.xml") && e.contains("zip bomb"), "{e}");
}

/// A few bytes can declare billions of shared strings; calamine would reserve memory for each.
#[test]
fn a_huge_shared_strings_table_is_refused() {
    let sheet = r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#;
    let make = |count: &str| {
        let strings = format!(
            r#"<?xml version="1.0"?><!-- padding --><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="{count}"><si><t>type</t></si></sst>"#
        );
        workbook_parts(&[("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", &strings)])
    };
    for count in ["4000000000000", "99999999999999999999999", "1e12", "120001"] {
        let e = import(&make(count)).unwrap_err().to_string();
        assert!(e.contains("sharedStrings.xml") && e.contains("shared strings, over the limit"), "{count}: {e}");
    }
    // A table of honest size reads on (and fails later, for what the sheet lacks).
    let e = import(&make("1")).unwrap_err().to_string();
    assert!(!e.contains("shared strings"), "{e}");
}

/// A minimal workbook with one sheet named survey, from its parts' XML.
fn workbook_parts(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let fixed = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            (
                "xl/workbook.xml",
                r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="survey" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
            ),
        ];
        for (name, xml) in fixed.iter().chain(parts) {
            w.start_file(*name, opts).unwrap();
            std::io::Write::write_all(&mut w, xml.as_bytes()).unwrap();
        }
        w.finish().unwrap();
    }
    buf.into_inner()
}

/// Problems in several sheets are all named at once: a formula in one, too many rows in another.
#[test]
fn sheet_problems_are_reported_together() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let s = book.add_worksheet();
    s.set_name("survey").unwrap();
    s.write_string(0, 0, "type").unwrap();
    s.write_formula(3, 2, "=1+1").unwrap();
    let c = book.add_worksheet();
    c.set_name("choices").unwrap();
    c.write_string(MAX_ROWS as u32 + 5, 0, "x").unwrap();
    let w = book.add_worksheet();
    w.set_name("settings").unwrap();
    w.write_string(0, MAX_COLUMNS as u16 + 1, "x").unwrap();
    let e = import(&book.save_to_buffer().unwrap()).unwrap_err().0;
    assert!(e.iter().any(|m| m.starts_with("sheet survey, row 4, column C: a formula")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("sheet choices: at least") && m.contains("rows")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("sheet settings: at least") && m.contains("columns")), "{e:?}");
}

#[test]
fn stated_length_and_support_after_survive_the_round_trip() {
    // The bundled survey states 10 minutes and marks `violence`; another length shows it is read back.
    let text = crate::survey::DEFAULT_SURVEY.replacen("minutes = 10\n", "minutes = 9\n", 1);
    let harms = Survey::parse(&text).unwrap();
    assert_eq!(harms.minutes, Some(9));
    assert!(harms.question("violence").unwrap().1.support_after);
    let (_, back) = import(&export(&harms).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.minutes, Some(9));
    assert!(back.question("violence").unwrap().1.support_after);
    assert!(!back.question("age").unwrap().1.support_after);
    assert_eq!(harms.differs_from(&back), None);
}
