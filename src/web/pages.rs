//! View structs for the respondent templates. Templates receive these, never database rows.

use askama::Template;

use crate::survey::{AnswerError, AnswerErrorKind, Condition, Join, Kind, RawAnswers, Survey};

pub use crate::i18n::Ui;

#[derive(Template)]
#[template(path = "landing.html")]
pub struct Landing<'a> {
    pub ui: Ui<'a>,
    pub surveys: Vec<SurveyLink>,
}

/// An open survey on the landing page: its public path (never its slug), title and stated length.
pub struct SurveyLink {
    pub path: String,
    pub title: String,
    pub minutes: Option<usize>,
}

/// A support organisation as a respondent page shows it.
pub struct Support {
    pub name: String,
    pub reach: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    pub ui: Ui<'a>,
    pub heading: String,
    pub body: String,
}

/// The receipt, shown once after sending. Its language links are buttons of a POST form that carries
/// the receipt back (never a link or a stored copy), so switching language keeps the code on screen.
#[derive(Template)]
#[template(path = "receipt.html")]
pub struct ReceiptPage<'a> {
    pub ui: Ui<'a>,
    /// The code as typed on the withdrawal page (groups joined by dashes).
    pub receipt: String,
    /// The same code in groups, each kept on one line.
    pub groups: Vec<String>,
    /// The survey's public path, posted back with the language buttons.
    pub path: String,
    pub thanks: String,
    pub support: Vec<Support>,
}

#[derive(Template)]
#[template(path = "withdraw.html")]
pub struct Withdraw<'a> {
    pub ui: Ui<'a>,
    pub done: bool,
    /// Why the typed code was not read (a mistyped code), judged from the text alone.
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "safety.html")]
pub struct Safety<'a> {
    pub ui: Ui<'a>,
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct Form<'a> {
    pub ui: Ui<'a>,
    /// The survey's public path (the form's action); empty in the staff preview.
    pub path: String,
    pub title: String,
    pub intro: String,
    pub consent: String,
    pub token: String,
    /// Messages shown at the top, above the error summary (too fast, code problems, nothing answered).
    pub notices: Vec<String>,
    /// The outreach-code field's label (`CodesMode::label_key`, also printed on the cards), or no field.
    pub code_label: Option<String>,
    /// Support organisations, shown under the questions marked `support_after`.
    pub support: Vec<Support>,
    pub errors: Vec<(String, String)>,
    pub questions: Vec<QuestionView>,
    /// The screening step's answer, carried in a hidden field (name, value).
    pub screen: Option<(String, String)>,
    /// Staff preview only: the text a respondent reads instead of the form when her screening answer
    /// ends the survey (respondents never get this field filled).
    pub preview_end: Option<String>,
}

/// The screening step: the survey's first question alone, before the form (a POST, no token yet).
#[derive(Template)]
#[template(path = "screen.html")]
pub struct Screen<'a> {
    pub ui: Ui<'a>,
    /// The survey's public path (never its slug).
    pub path: String,
    pub title: String,
    pub intro: String,
    pub question: QuestionView,
}

/// The hidden field that carries the screening answer into the form, named like the answer fields
/// (`<prefix>.<id>`): only an option that lets the respondent go on (an ending one never reaches a
/// form), and nothing when she skipped it.
pub fn screen_field(survey: &Survey, raw: &RawAnswers, prefix: &str) -> Option<(String, String)> {
    let q = &survey.questions[survey.screen?];
    let given = raw.values(&q.id).first()?.trim();
    let o = &q.options[q.option_index(given)?];
    (!o.ends).then(|| (format!("{prefix}.{}", q.id), o.id.clone()))
}

pub struct OptionView {
    pub id: String,
    pub label: String,
    pub checked: bool,
    /// Stands alone ("None of these", "Prefer not to say"): JavaScript unticks the others.
    pub exclusive: bool,
}

pub struct QuestionView {
    pub id: String,
    /// The field name, new with every rendering of the form (see `public::field_prefix`), so a browser
    /// that restores form state by field name finds nothing to restore.
    pub name: String,
    pub number: usize,
    /// A new section's title and its place: (title, part, of parts).
    pub section_title: Option<(String, usize, usize)>,
    /// A new section's text, if it has one.
    pub section_text: Option<String>,
    pub input: &'static str,
    pub label: String,
    pub help: Option<String>,
    pub hint: String,
    pub options: Vec<OptionView>,
    pub text: String,
    pub max_length: usize,
    pub error: Option<String>,
    /// Skip logic, when the question has any.
    pub show_if: Option<ConditionView>,
    /// Show the support organisations under this question.
    pub support_after: bool,
    /// For a text question: who reads the answers, said under the question.
    pub read_by: Option<String>,
}

/// Skip logic as the form carries it: data attributes for the script, sentences for a reader
/// without JavaScript (who sees every question).
pub struct ConditionView {
    /// The condition questions' ids, space-separated (one id for the usual single condition).
    pub questions: String,
    /// Each condition's option ids, space-separated, conditions separated by `|`.
    pub any_of: String,
    /// `all` or `any`.
    pub join: &'static str,
    /// The sentence above the question(s); for several conditions, the lead-in to `items`.
    pub sentence: String,
    /// For several conditions, one line each.
    pub items: Vec<String>,
}

/// Build the form's questions, keeping what the respondent entered and placing errors beside them.
/// Each question's field is named `<prefix>.<question id>`. The screening question is asked on its
/// own step: `screening` gives it alone, otherwise the form leaves it out (and does not count it).
pub fn questions(
    survey: &Survey,
    ui: &Ui<'_>,
    raw: &RawAnswers,
    errors: &[AnswerError],
    prefix: &str,
    screening: bool,
) -> Vec<QuestionView> {
    let lang = ui.lang;
    let mut last_section = usize::MAX;
    let in_form = |s: &crate::survey::Section| s.questions.clone().any(|i| Some(i) != survey.screen);
    let parts = survey.sections.iter().filter(|s| in_form(s)).count();
    survey
        .questions
        .iter()
        .enumerate()
        .filter(|(i, _)| (Some(*i) == survey.screen) == screening)
        .map(|(i, q)| {
            let section_text = (q.section != last_section && !screening)
                .then(|| survey.text(lang, &format!("section.{}.text", survey.sections[q.section].id)))
                .flatten()
                .filter(|t| !t.trim().is_empty())
                .map(str::to_owned);
            let section_title = (q.section != last_section && !screening).then(|| {
                last_section = q.section;
                let part = survey.sections[..=q.section].iter().filter(|s| in_form(s)).count();
                let title =
                    survey.text(lang, &format!("section.{}", survey.sections[q.section].id)).unwrap_or_default();
                (title.to_owned(), part, parts)
            });
            let given = raw.values(&q.id);
            let options = q
                .options
                .iter()
                .map(|o| OptionView {
                    id: o.id.clone(),
                    label: survey.option_label(ui.i18n, lang, q, o),
                    checked: given.iter().any(|g| g == &o.id),
                    exclusive: q.kind == Kind::Multiple && o.exclusive,
                })
                .collect();
            let hint = match (q.kind, q.max_selected) {
                (Kind::Text, _) => ui.tn("form_text_limit", &q.max_length),
                (Kind::Multiple, Some(n)) => ui.tn("form_choose_up_to", &n),
                (Kind::Multiple, None) => ui.t("form_choose_many").to_owned(),
                _ => ui.t("form_choose_one").to_owned(),
            };
            let show_if = q.show_if.as_ref().map(|rule| {
                // "If you answered Yes or No to question 3", or "anything but None" when that is shorter.
                let options = |c: &Condition| -> (bool, String) {
                    let target = &survey.questions[c.question];
                    let label = |o: usize| survey.option_label(ui.i18n, lang, target, &target.options[o]);
                    let others: Vec<usize> = (0..target.options.len())
                        .filter(|o| !c.any_of.contains(o) && Some(*o) != target.pns_index())
                        .collect();
                    let (other, named) = if !others.is_empty() && others.len() < c.any_of.len() {
                        (true, others)
                    } else {
                        (false, c.any_of.clone())
                    };
                    (other, named.into_iter().map(label).collect::<Vec<_>>().join(ui.t("form_or")))
                };
                let fill = |key: &str, c: &Condition, names: &str| {
                    ui.t(key).replace("{options}", names).replace("{n}", &survey.number(c.question).to_string())
                };
                let (sentence, items) = match rule.conditions.as_slice() {
                    [c] => {
                        let (other, names) = options(c);
                        (fill(if other { "form_if_answered_other" } else { "form_if_answered" }, c, &names), Vec::new())
                    }
                    many => {
                        let lead = if rule.join == Join::All { "form_if_all" } else { "form_if_any" };
                        let items = many
                            .iter()
                            .map(|c| {
                                let (other, names) = options(c);
                                fill(if other { "form_answered_other" } else { "form_answered" }, c, &names)
                            })
                            .collect();
                        (ui.t(lead).to_owned(), items)
                    }
                };
                let ids = |c: &Condition| {
                    let target = &survey.questions[c.question];
                    c.any_of.iter().map(|&o| target.options[o].id.as_str()).collect::<Vec<_>>().join(" ")
                };
                ConditionView {
                    questions: rule
                        .conditions
                        .iter()
                        .map(|c| survey.questions[c.question].id.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    any_of: rule.conditions.iter().map(ids).collect::<Vec<_>>().join("|"),
                    join: if rule.join == Join::All { "all" } else { "any" },
                    sentence,
                    items,
                }
            });
            let error = errors.iter().find(|e| e.question == q.id).map(|e| match (e.kind, e.ui_key()) {
                (AnswerErrorKind::ExclusiveWithOthers(o), (key, _)) => ui.t(key).replace(
                    "{option}",
                    &q.options.get(o).map(|o| survey.option_label(ui.i18n, lang, q, o)).unwrap_or_default(),
                ),
                (_, (key, Some(n))) => ui.tn(key, &n),
                (_, (key, None)) => ui.t(key).to_owned(),
            });
            QuestionView {
                id: q.id.clone(),
                name: format!("{prefix}.{}", q.id),
                number: survey.number(i),
                section_title,
                section_text,
                input: match q.kind {
                    Kind::Multiple => "checkbox",
                    Kind::Text => "text",
                    _ => "radio",
                },
                label: survey.text(lang, &format!("q.{}", q.id)).unwrap_or(&q.id).to_owned(),
                help: survey.text(lang, &format!("q.{}.help", q.id)).map(str::to_owned),
                hint,
                options,
                text: if q.kind == Kind::Text { given.first().cloned().unwrap_or_default() } else { String::new() },
                max_length: q.max_length,
                error,
                show_if,
                support_after: q.support_after,
                read_by: survey.text(lang, &format!("q.{}.read_by", q.id)).map(str::to_owned),
            }
        })
        .collect()
}
