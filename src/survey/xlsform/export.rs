//! A definition written back as an XLSForm workbook.

use super::relevant::{self, Relevant};
use crate::survey::{Kind, Survey};

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
        [
            "relevant",
            "constraint",
            "chorus::type",
            "chorus::breakdown",
            "chorus::merge",
            "chorus::support_after",
            "chorus::was",
        ]
        .map(String::from),
    );
    rows.push(head);
    let mut choice_rows: Vec<Vec<String>> = Vec::new();
    for section in &survey.sections {
        let mut r = vec!["begin_group".to_owned(), section.id.clone()];
        r.extend(langs.iter().map(|l| own(l, &format!("section.{}", section.id))));
        rows.push(r);
        // The section's text: a note, first in its group.
        let text = format!("section.{}.text", section.id);
        if survey.own_text("en", &text).is_some() {
            let mut r = vec!["note".to_owned(), format!("{}_text", section.id)];
            r.extend(langs.iter().map(|l| own(l, &text)));
            rows.push(r);
        }
        for q in &survey.questions[section.questions.clone()] {
            let builtin = q.options.iter().filter(|o| o.id != crate::survey::PNS).all(|o| o.builtin.is_some());
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
            r.push(q.show_if.as_ref().map_or(String::new(), |rule| {
                let conditions = rule
                    .conditions
                    .iter()
                    .map(|c| {
                        let target = &survey.questions[c.question];
                        (target.id.clone(), c.any_of.iter().map(|&o| target.options[o].id.clone()).collect())
                    })
                    .collect();
                relevant::write(&Relevant { join: rule.join, conditions })
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
            r.push(if q.support_after { "yes".into() } else { String::new() });
            r.push(q.was.clone().unwrap_or_default());
            rows.push(r);
            if q.kind.is_closed() && !builtin {
                for o in q.options.iter().filter(|o| o.id != crate::survey::PNS) {
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
    shead.extend(
        ["chorus::codes", "chorus::k", "chorus::review", "chorus::minutes", "chorus::sealed_size"].map(String::from),
    );
    svals.push(survey.codes.as_str().to_owned());
    svals.push(survey.k.to_string());
    svals.push(survey.needs_review.join(" "));
    svals.push(survey.minutes.map_or(String::new(), |m| m.to_string()));
    svals.push(survey.sealed_size.to_string());
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
