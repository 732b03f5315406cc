use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::Answer;
use crate::{
    i18n::LANGUAGES,
    seal::{PADDED_SIZES, PLAINTEXT_LEN},
};

/// The option id Chorus adds to every closed question.
pub const PNS: &str = "pns";
const MAX_TEXT: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Single,
    Multiple,
    Scale,
    Period,
    Region,
    Text,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Multiple => "multiple",
            Kind::Scale => "scale",
            Kind::Period => "period",
            Kind::Region => "region",
            Kind::Text => "text",
        }
    }
    pub fn is_closed(self) -> bool {
        self != Kind::Text
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodesMode {
    Off,
    Optional,
    Required,
}

impl CodesMode {
    /// The interface-string key of the code box's label: the form shows it and the printed cards
    /// quote it, so a card names the box exactly as the form labels it in that language.
    pub fn label_key(self) -> Option<&'static str> {
        match self {
            CodesMode::Off => None,
            CodesMode::Optional => Some("form_code_label"),
            CodesMode::Required => Some("form_code_label_required"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CodesMode::Off => "off",
            CodesMode::Optional => "optional",
            CodesMode::Required => "required",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub id: String,
    /// For built-in options (regions, periods, "prefer not to say"): the interface-string key.
    pub builtin: Option<String>,
    /// Chosen only on its own (`exclusive = true`, e.g. "None of these"); "prefer not to say" always is.
    pub exclusive: bool,
    /// Ends the survey (`ends = true`, on the screening question's options): nothing is stored.
    pub ends: bool,
    /// Option ids of earlier versions whose answers count as this option (`was = [...]`; a merged
    /// region group lists its provinces itself). See `survey::carry`.
    pub was: Vec<String>,
}

/// One condition of skip logic: the earlier question was answered with one of these options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub question: usize,
    pub any_of: Vec<usize>,
}

impl Condition {
    /// Whether an answer to the condition's question meets it (no answer never does).
    pub fn met_by(&self, answer: Option<&Answer>) -> bool {
        match answer {
            Some(Answer::One(o)) => self.any_of.contains(&usize::from(*o)),
            Some(Answer::Many(os)) => os.iter().any(|o| self.any_of.contains(&usize::from(*o))),
            _ => false,
        }
    }
}

/// How the conditions of a `show_if` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    All,
    Any,
}

/// Skip logic: a question is shown when all (or any) of its conditions hold. Kept in one canonical
/// shape so that two ways of writing the same rule compare equal: a single condition is `All` of one,
/// and `Any` names each question once (its options merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowIf {
    pub join: Join,
    pub conditions: Vec<Condition>,
}

impl ShowIf {
    /// Whether the rule holds, given a test for each condition (the caller decides what an earlier
    /// question's answer is, e.g. after its own skip logic dropped it).
    pub fn holds(&self, mut met: impl FnMut(&Condition) -> bool) -> bool {
        match self.join {
            Join::All => self.conditions.iter().all(&mut met),
            Join::Any => self.conditions.iter().any(&mut met),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: String,
    pub kind: Kind,
    /// For closed questions, the options in order, "prefer not to say" last.
    pub options: Vec<Opt>,
    pub max_selected: Option<usize>,
    pub max_length: usize,
    pub breakdown: bool,
    pub show_if: Option<ShowIf>,
    pub section: usize,
    /// The id of an earlier version's question whose answers this one takes when the earlier version
    /// has no question of this id (`was = "old_id"`, e.g. one list split in two).
    pub was: Option<String>,
    /// Show the deployment's support organisations under this question (after questions about
    /// violence or assault). Kept apart from `show_if`: it changes what is shown, never what is asked.
    pub support_after: bool,
}

impl Question {
    pub fn option_index(&self, id: &str) -> Option<usize> {
        self.options.iter().position(|o| o.id == id)
    }
    pub fn pns_index(&self) -> Option<usize> {
        self.kind.is_closed().then(|| self.options.len() - 1)
    }
    /// The screening question: one of its options ends the survey.
    pub fn screens(&self) -> bool {
        self.options.iter().any(|o| o.ends)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub id: String,
    pub questions: std::ops::Range<usize>,
}

/// A validated survey definition.
#[derive(Debug, Clone)]
pub struct Survey {
    pub slug: String,
    pub version: i32,
    pub languages: Vec<String>,
    pub codes: CodesMode,
    pub k: u32,
    /// The screening question (always the first), asked on a step of its own before the form.
    pub screen: Option<usize>,
    /// The retention period the definition asks for (days), applied when it is imported.
    pub retention_days: Option<i32>,
    pub sections: Vec<Section>,
    pub questions: Vec<Question>,
    /// Languages whose translation awaits community review.
    pub needs_review: Vec<String>,
    /// About how many minutes the survey takes on a phone, as the landing page states it.
    pub minutes: Option<u32>,
    /// The size every answer set of this version is padded to before sealing (`seal::PADDED_SIZES`):
    /// `sealed_size` in the definition, else `PLAINTEXT_LEN`, so versions stored before the field
    /// existed keep the size their stored answers have.
    pub sealed_size: usize,
    texts: HashMap<String, HashMap<String, String>>,
    index: HashMap<String, usize>,
    /// The definition as imported, kept verbatim for export.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct DefinitionError(pub Vec<String>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurvey {
    format: u32,
    slug: String,
    version: i32,
    languages: Vec<String>,
    codes: Option<String>,
    k: Option<u32>,
    /// Days the sealed answers are kept after the survey closes and its final release is made.
    retention_days: Option<i32>,
    title: String,
    intro: Option<String>,
    consent: Option<String>,
    thanks: Option<String>,
    minutes: Option<u32>,
    /// Bytes every answer set is padded to before sealing: 64, 128, 256, 512 or 1024 (the default).
    sealed_size: Option<usize>,
    sections: Vec<RawSection>,
    #[serde(default)]
    translations: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    id: String,
    title: String,
    /// A paragraph shown under the title (an XLSForm group's notes).
    text: Option<String>,
    questions: Vec<RawQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    label: String,
    help: Option<String>,
    options: Option<Vec<RawOption>>,
    max_selected: Option<u32>,
    max_length: Option<u32>,
    breakdown: Option<bool>,
    show_if: Option<RawShowIf>,
    merge: Option<Vec<String>>,
    end_text: Option<String>,
    read_by: Option<String>,
    was: Option<String>,
    support_after: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    id: String,
    label: String,
    exclusive: Option<bool>,
    ends: Option<bool>,
    was: Option<Vec<String>>,
}

/// `{ question, any_of }`, or `{ all = [ {question, any_of}, … ] }`, or `{ any = [ … ] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShowIf {
    question: Option<String>,
    any_of: Option<Vec<String>>,
    all: Option<Vec<RawCondition>>,
    any: Option<Vec<RawCondition>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    question: String,
    any_of: Vec<String>,
}

/// Most conditions in one `show_if`: a rule longer than this is unreadable on the form.
const MAX_CONDITIONS: usize = 8;

const REGIONS: &[&str] = &["bc", "ab", "sk", "mb", "on", "qc", "nb", "ns", "pe", "nl", "yt", "nt", "nu", "outside"];
const ATLANTIC: &[&str] = &["nb", "ns", "pe", "nl"];
const PRAIRIES: &[&str] = &["ab", "sk", "mb"];
const TERRITORIES: &[&str] = &["yt", "nt", "nu"];
/// Region groups a `merge` may name, each with the provinces or territories it stands for.
const REGION_GROUPS: &[(&str, &[&str])] =
    &[("prairies", PRAIRIES), ("atlantic", ATLANTIC), ("territories", TERRITORIES)];
const PERIODS: &[&str] = &["last_3m", "3_12m", "1_2y", "over_2y"];

fn valid_id(id: &str, max: usize) -> bool {
    !id.is_empty() && id.len() <= max && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_slug(s: &str) -> bool {
    (2..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Survey {
    /// Parse and validate a definition; every problem is reported, each naming where it is.
    pub fn parse(source: &str) -> Result<Self, DefinitionError> {
        let raw: RawSurvey = toml::from_str(source).map_err(|e| DefinitionError(vec![e.to_string()]))?;
        let mut errors = Vec::new();
        let mut err = |s: String| errors.push(s);

        if raw.format != 1 {
            err(format!("format: {} is not a known format (use 1)", raw.format));
        }
        if !valid_slug(&raw.slug) {
            err(format!("slug: `{}` must be 2-40 characters of a-z, 0-9 and -", raw.slug));
        }
        if raw.version < 1 {
            err("version: must be 1 or more".into());
        }
        if raw.languages.first().map(String::as_str) != Some("en") {
            err("languages: must start with \"en\"".into());
        }
        for lang in &raw.languages {
            if !LANGUAGES.contains(&lang.as_str()) {
                err(format!("languages: `{lang}` is not supported (supported: {})", LANGUAGES.join(", ")));
            }
        }
        let codes = match raw.codes.as_deref().unwrap_or("off") {
            "off" => CodesMode::Off,
            "optional" => CodesMode::Optional,
            "required" => CodesMode::Required,
            other => {
                err(format!("codes: `{other}` must be \"off\", \"optional\" or \"required\""));
                CodesMode::Off
            }
        };
        let k = raw.k.unwrap_or(10);
        if k < 5 {
            err(format!("k: {k} is below the floor of 5"));
        }
        if let Some(days) = raw.retention_days.filter(|d| !(1..=36_500).contains(d)) {
            err(format!("retention_days: {days} must be between 1 and 36500"));
        }
        if raw.title.trim().is_empty() {
            err("title: is empty".into());
        }
        if raw.minutes.is_some_and(|m| !(1..=120).contains(&m)) {
            err("minutes: must be between 1 and 120".into());
        }

        let mut en: HashMap<String, String> = HashMap::new();
        en.insert("title".into(), raw.title.clone());
        for (key, value) in [("intro", &raw.intro), ("consent", &raw.consent), ("thanks", &raw.thanks)] {
            if let Some(v) = value {
                en.insert(key.into(), v.clone());
            }
        }

        let mut sections = Vec::new();
        let mut questions: Vec<Question> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut section_ids = HashSet::new();
        for raw_section in &raw.sections {
            if !valid_slug(&raw_section.id) && !valid_id(&raw_section.id, 40) {
                err(format!("section `{}`: id must use a-z, 0-9, - or _", raw_section.id));
            }
            if !section_ids.insert(raw_section.id.clone()) {
                err(format!("section `{}`: id is used twice", raw_section.id));
            }
            en.insert(format!("section.{}", raw_section.id), raw_section.title.clone());
            if let Some(text) = &raw_section.text {
                en.insert(format!("section.{}.text", raw_section.id), text.clone());
            }
            let start = questions.len();
            for rq in &raw_section.questions {
                let q = &rq.id;
                let at = |field: &str, msg: &str| format!("question \"{q}\": {field}: {msg}");
                if !valid_id(q, 40) {
                    err(at("id", "must be 1-40 characters of a-z, 0-9 and _"));
                }
                if index.contains_key(q) {
                    err(at("id", "is used twice"));
                }
                let kind = match rq.kind.as_str() {
                    "single" => Kind::Single,
                    "multiple" => Kind::Multiple,
                    "scale" => Kind::Scale,
                    "period" => Kind::Period,
                    "region" => Kind::Region,
                    "text" => Kind::Text,
                    other => {
                        err(at(
                            "type",
                            &format!("`{other}` is not one of single, multiple, scale, period, region, text"),
                        ));
                        Kind::Single
                    }
                };
                if rq.label.trim().is_empty() {
                    err(at("label", "is empty"));
                }
                en.insert(format!("q.{q}"), rq.label.clone());
                if let Some(help) = &rq.help {
                    en.insert(format!("q.{q}.help"), help.clone());
                }
                let mut options = Vec::new();
                match (&rq.options, kind) {
                    (Some(_), Kind::Text) => err(at("options", "a text question has no options")),
                    (None, Kind::Region) => {
                        let merge = rq.merge.clone().unwrap_or_default();
                        for m in &merge {
                            if !REGION_GROUPS.iter().any(|(g, _)| g == m) {
                                err(at(
                                    "merge",
                                    &format!("`{m}` is not \"prairies\", \"atlantic\" or \"territories\""),
                                ));
                            }
                        }
                        // A group takes the place of its first member; answers given under a member's
                        // id (before the merge) count as the group.
                        for r in REGIONS {
                            let group = REGION_GROUPS
                                .iter()
                                .find(|(g, members)| members.contains(r) && merge.iter().any(|m| m == g));
                            match group {
                                Some((g, members)) if members[0] == *r => {
                                    let mut o = builtin(g, "region_");
                                    o.was = members.iter().map(|m| (*m).to_owned()).collect();
                                    options.push(o);
                                }
                                Some(_) => {}
                                None => options.push(builtin(r, "region_")),
                            }
                        }
                    }
                    (None, Kind::Period) => options.extend(PERIODS.iter().map(|p| builtin(p, "period_"))),
                    (None, Kind::Text) => {}
                    (None, _) => err(at("options", "a closed question needs options")),
                    (Some(opts), _) => {
                        let mut claimed = HashSet::new();
                        if opts.is_empty() {
                            err(at("options", "is empty"));
                        }
                        let mut seen = HashSet::new();
                        for o in opts {
                            let oat = |field: &str, msg: &str| {
                                format!("question \"{q}\": option \"{}\": {field}: {msg}", o.id)
                            };
                            if !valid_id(&o.id, 40) {
                                err(oat("id", "must be 1-40 characters of a-z, 0-9 and _"));
                            }
                            if o.id == PNS {
                                err(oat("id", "\"pns\" is reserved: Chorus adds \"Prefer not to say\" itself"));
                            }
                            if !seen.insert(o.id.clone()) {
                                err(oat("id", "is used twice"));
                            }
                            if o.label.trim().is_empty() {
                                err(oat("label", "is empty"));
                            }
                            en.insert(format!("q.{q}.o.{}", o.id), o.label.clone());
                            let exclusive = o.exclusive.unwrap_or(false);
                            if exclusive && kind != Kind::Multiple {
                                err(oat("exclusive", "only for an option of a multiple-choice question"));
                            }
                            let ends = o.ends.unwrap_or(false);
                            if ends && kind != Kind::Single {
                                err(oat("ends", "only for an option of a one-choice (single) question"));
                            }
                            let was = o.was.clone().unwrap_or_default();
                            for w in &was {
                                if !valid_id(w, 40) {
                                    err(oat("was", &format!("`{w}` is not an option id")));
                                } else if opts.iter().any(|other| &other.id == w) {
                                    err(oat(
                                        "was",
                                        &format!("\"{w}\" is an option of this version: it keeps its own meaning"),
                                    ));
                                } else if !claimed.insert(w.clone()) {
                                    err(oat("was", &format!("\"{w}\" is claimed by two options")));
                                }
                            }
                            options.push(Opt { id: o.id.clone(), builtin: None, exclusive, ends, was });
                        }
                    }
                }
                let screens = options.iter().any(|o| o.ends);
                match (&rq.end_text, screens) {
                    (Some(t), true) if !t.trim().is_empty() => {
                        en.insert(format!("q.{q}.end"), t.clone());
                    }
                    (Some(_), true) => err(at("end_text", "is empty")),
                    (None, true) => {
                        err(at("end_text", "a question with an option that ends the survey needs the text shown then"))
                    }
                    (Some(_), false) => err(at("end_text", "only for a question with an option marked `ends`")),
                    (None, false) => {}
                }
                if screens {
                    if !questions.is_empty() {
                        err(at("ends", "only the survey's first question can end it (it is asked before the form)"));
                    }
                    if rq.show_if.is_some() {
                        err(at("show_if", "the screening question is always asked"));
                    }
                    if options.iter().all(|o| o.ends) {
                        err(at("ends", "at least one option must let the respondent go on"));
                    }
                }
                // Required of a text question by `import_problems` (new imports), not here: versions
                // stored before `read_by` existed must still load, or their answers would not count.
                match (&rq.read_by, kind) {
                    (Some(t), Kind::Text) if !t.trim().is_empty() => {
                        en.insert(format!("q.{q}.read_by"), t.clone());
                    }
                    (Some(_), Kind::Text) => err(at("read_by", "is empty")),
                    (Some(_), _) => err(at("read_by", "only for a text question")),
                    (None, _) => {}
                }
                if let Some(w) = &rq.was
                    && (!valid_id(w, 40) || w == q)
                {
                    err(at("was", &format!("`{w}` must be another question's id")));
                }
                if rq.merge.is_some() && (kind != Kind::Region || rq.options.is_some()) {
                    err(at("merge", "only for a region question with the built-in list"));
                }
                if kind.is_closed() {
                    options.push(Opt {
                        id: PNS.into(),
                        builtin: Some("prefer_not_to_say".into()),
                        exclusive: true,
                        ends: false,
                        was: Vec::new(),
                    });
                }
                if options.len() > 255 {
                    err(at("options", "more than 254 options"));
                }
                let max_selected = match (rq.max_selected, kind) {
                    (Some(n), Kind::Multiple) if n >= 1 => Some(n as usize),
                    (Some(_), Kind::Multiple) => {
                        err(at("max_selected", "must be 1 or more"));
                        None
                    }
                    (Some(_), _) => {
                        err(at("max_selected", "only for a multiple-choice question"));
                        None
                    }
                    (None, _) => None,
                };
                let max_length = match (rq.max_length, kind) {
                    (Some(n), Kind::Text) if (1..=MAX_TEXT).contains(&n) => n as usize,
                    (Some(n), Kind::Text) => {
                        err(at("max_length", &format!("{n} must be between 1 and {MAX_TEXT}")));
                        MAX_TEXT as usize
                    }
                    (Some(_), _) => {
                        err(at("max_length", "only for a text question"));
                        0
                    }
                    (None, Kind::Text) => MAX_TEXT as usize,
                    (None, _) => 0,
                };
                let breakdown = rq.breakdown.unwrap_or(false);
                if breakdown && (kind == Kind::Text || kind == Kind::Multiple) {
                    err(at("breakdown", "only a one-choice question can be a report breakdown"));
                }
                let show_if = rq.show_if.as_ref().and_then(|s| {
                    let (join, raw): (Join, Vec<(&String, &Vec<String>)>) =
                        match (&s.question, &s.any_of, &s.all, &s.any) {
                            (Some(q), Some(o), None, None) => (Join::All, vec![(q, o)]),
                            (None, None, Some(c), None) => {
                                (Join::All, c.iter().map(|c| (&c.question, &c.any_of)).collect())
                            }
                            (None, None, None, Some(c)) => {
                                (Join::Any, c.iter().map(|c| (&c.question, &c.any_of)).collect())
                            }
                            _ => {
                                err(at(
                                    "show_if",
                                    "give `question` and `any_of`, or `all = [...]`, or `any = [...]` of those",
                                ));
                                return None;
                            }
                        };
                    if raw.is_empty() {
                        err(at("show_if", "has no conditions"));
                        return None;
                    }
                    if raw.len() > MAX_CONDITIONS {
                        err(at("show_if", &format!("more than {MAX_CONDITIONS} conditions")));
                        return None;
                    }
                    let mut conditions: Vec<Condition> = Vec::new();
                    let mut problems = Vec::new();
                    for (target_id, opts) in raw {
                        let Some(&target) = index.get(target_id) else {
                            problems
                                .push(at("show_if", &format!("question \"{target_id}\" is not an earlier question")));
                            continue;
                        };
                        let tq: &Question = &questions[target];
                        if !tq.kind.is_closed() {
                            problems.push(at("show_if", &format!("question \"{target_id}\" is a text question")));
                            continue;
                        }
                        if opts.is_empty() {
                            problems.push(at("show_if", &format!("any_of for \"{target_id}\" is empty")));
                        }
                        let mut any_of = Vec::new();
                        for o in opts {
                            match tq.option_index(o) {
                                Some(i) => any_of.push(i),
                                None => problems.push(at("show_if", &format!("\"{target_id}\" has no option \"{o}\""))),
                            }
                        }
                        // `any` of two conditions on one question is one condition with both options.
                        match conditions.iter_mut().find(|c| join == Join::Any && c.question == target) {
                            Some(c) => {
                                for o in any_of {
                                    if !c.any_of.contains(&o) {
                                        c.any_of.push(o);
                                    }
                                }
                            }
                            None => conditions.push(Condition { question: target, any_of }),
                        }
                    }
                    if !problems.is_empty() {
                        problems.into_iter().for_each(&mut err);
                        return None;
                    }
                    let join = if conditions.len() == 1 { Join::All } else { join };
                    Some(ShowIf { join, conditions })
                });
                index.insert(q.clone(), questions.len());
                questions.push(Question {
                    id: q.clone(),
                    kind,
                    options,
                    max_selected,
                    max_length,
                    breakdown,
                    show_if,
                    section: sections.len(),
                    was: rq.was.clone(),
                    support_after: rq.support_after.unwrap_or(false),
                });
            }
            sections.push(Section { id: raw_section.id.clone(), questions: start..questions.len() });
        }
        if questions.is_empty() {
            err("sections: the survey has no questions".into());
        }
        if questions.len() > 255 {
            err("sections: more than 255 questions".into());
        }
        let worst = 1 + questions
            .iter()
            .map(|q| match q.kind {
                Kind::Text => 4 + 4 * q.max_length,
                Kind::Multiple => 3 + q.options.len(),
                _ => 3,
            })
            .sum::<usize>();
        let sealed_size = raw.sealed_size.unwrap_or(PLAINTEXT_LEN);
        if !PADDED_SIZES.contains(&sealed_size) {
            err(format!("sealed_size: must be one of {PADDED_SIZES:?}"));
        } else if worst > sealed_size - 2 {
            err(format!(
                "sections: the longest possible answer set takes {worst} bytes, over the {} a sealed size of {sealed_size} holds; {}",
                sealed_size - 2,
                if sealed_size < PLAINTEXT_LEN { "raise sealed_size" } else { "shorten max_length of text questions" }
            ));
        }

        let mut texts = HashMap::new();
        let mut needs_review = Vec::new();
        for (lang, table) in &raw.translations {
            if !raw.languages.contains(lang) {
                err(format!("translations.{lang}: the language is not listed in `languages`"));
                continue;
            }
            let mut map = HashMap::new();
            for (key, value) in table {
                match (key.as_str(), value) {
                    ("review", toml::Value::Boolean(b)) => {
                        if *b {
                            needs_review.push(lang.clone());
                        }
                    }
                    (_, toml::Value::String(s)) if en.contains_key(key) => {
                        map.insert(key.clone(), s.clone());
                    }
                    (_, toml::Value::String(_)) => {
                        err(format!("translations.{lang}: `{key}` names no English string"));
                    }
                    _ => err(format!("translations.{lang}: `{key}` must be a string")),
                }
            }
            texts.insert(lang.clone(), map);
        }
        texts.insert("en".into(), en);

        if !errors.is_empty() {
            return Err(DefinitionError(errors));
        }
        Ok(Survey {
            slug: raw.slug,
            version: raw.version,
            languages: raw.languages,
            codes,
            k,
            screen: questions.first().filter(|q| q.screens()).map(|_| 0),
            retention_days: raw.retention_days,
            sections,
            questions,
            needs_review,
            minutes: raw.minutes,
            sealed_size,
            texts,
            index,
            source: source.to_owned(),
        })
    }

    /// What a definition imported now must meet beyond what every stored version met (checked by
    /// `survey::edit::propose`, the one import path, and for the bundled survey): a text question
    /// says who reads its answers (`read_by`).
    pub fn import_problems(&self) -> Vec<String> {
        self.questions
            .iter()
            .filter(|q| q.kind == Kind::Text && self.own_text("en", &format!("q.{}.read_by", q.id)).is_none())
            .map(|q| {
                format!(
                    "question \"{}\": read_by: a text question must say who reads the answers (shown under the question)",
                    q.id
                )
            })
            .collect()
    }

    pub fn question(&self, id: &str) -> Option<(usize, &Question)> {
        self.index.get(id).map(|&i| (i, &self.questions[i]))
    }

    /// A survey string in `lang`, falling back to English.
    pub fn text(&self, lang: &str, key: &str) -> Option<&str> {
        self.texts
            .get(lang)
            .and_then(|m| m.get(key))
            .or_else(|| self.texts.get("en").and_then(|m| m.get(key)))
            .map(String::as_str)
    }

    /// A survey string as written in `lang`, without falling back to English.
    pub fn own_text(&self, lang: &str, key: &str) -> Option<&str> {
        self.texts.get(lang).and_then(|m| m.get(key)).map(String::as_str)
    }

    /// The English strings `lang` does not translate, as keys (`q.age.o.18_24`), in form order.
    pub fn untranslated(&self, lang: &str) -> Vec<String> {
        self.text_keys().into_iter().filter(|k| self.own_text(lang, k).is_none()).collect()
    }

    /// Every key with English text, in form order.
    pub fn text_keys(&self) -> Vec<String> {
        let mut keys = vec!["title".to_owned(), "intro".into(), "consent".into(), "thanks".into()];
        for s in &self.sections {
            keys.push(format!("section.{}", s.id));
            keys.push(format!("section.{}.text", s.id));
            for q in &self.questions[s.questions.clone()] {
                keys.push(format!("q.{}", q.id));
                keys.push(format!("q.{}.help", q.id));
                keys.push(format!("q.{}.end", q.id));
                keys.push(format!("q.{}.read_by", q.id));
                keys.extend(q.options.iter().map(|o| format!("q.{}.o.{}", q.id, o.id)));
            }
        }
        keys.into_iter().filter(|k| self.own_text("en", k).is_some_and(|t| !t.trim().is_empty())).collect()
    }

    /// None when two definitions say the same thing (the source text aside), else the first difference.
    pub fn differs_from(&self, other: &Survey) -> Option<String> {
        let pairs = [
            ("slug", self.slug == other.slug),
            ("version", self.version == other.version),
            ("languages", self.languages == other.languages),
            ("codes", self.codes == other.codes),
            ("k", self.k == other.k),
            ("retention_days", self.retention_days == other.retention_days),
            ("sections", self.sections == other.sections),
            ("questions", self.questions == other.questions),
            ("needs_review", self.needs_review == other.needs_review),
            ("minutes", self.minutes == other.minutes),
            ("sealed_size", self.sealed_size == other.sealed_size),
            ("texts", self.texts == other.texts),
        ];
        if let Some((name, _)) = pairs.iter().find(|(_, same)| !same) {
            if *name == "texts" {
                for (lang, m) in &self.texts {
                    for (k, v) in m {
                        if other.own_text(lang, k) != Some(v.as_str()) {
                            return Some(format!("texts: {lang} {k}: {v:?} vs {:?}", other.own_text(lang, k)));
                        }
                    }
                }
            }
            return Some((*name).to_owned());
        }
        None
    }

    /// A question's skip logic in ids, for the staff diff: `officials: bylaw, rcmp and age: 18_24`.
    pub fn describe(&self, show_if: Option<&ShowIf>) -> String {
        let Some(s) = show_if else { return "always shown".to_owned() };
        let parts: Vec<String> = s
            .conditions
            .iter()
            .map(|c| {
                let q = &self.questions[c.question];
                let opts: Vec<&str> = c.any_of.iter().map(|&o| q.options[o].id.as_str()).collect();
                format!("{}: {}", q.id, opts.join(", "))
            })
            .collect();
        parts.join(if s.join == Join::All { " and " } else { " or " })
    }

    pub fn title(&self, lang: &str) -> &str {
        self.text(lang, "title").unwrap_or(&self.slug)
    }

    /// An option's label: built-in options come from the interface strings.
    pub fn option_label(&self, i18n: &crate::i18n::I18n, lang: &str, q: &Question, o: &Opt) -> String {
        match &o.builtin {
            Some(key) => i18n.t(lang, key).to_owned(),
            None => self.text(lang, &format!("q.{}.o.{}", q.id, o.id)).unwrap_or(&o.id).to_owned(),
        }
    }

    /// The best language of this survey for a requested one.
    pub fn language_for(&self, lang: &str) -> String {
        if self.languages.iter().any(|l| l == lang) { lang.to_owned() } else { "en".to_owned() }
    }
}

fn builtin(id: &str, prefix: &str) -> Opt {
    Opt { id: id.to_owned(), builtin: Some(format!("{prefix}{id}")), exclusive: false, ends: false, was: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_survey_is_valid() {
        let s = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.slug, "harms");
        for lang in LANGUAGES {
            assert!(s.languages.iter().any(|l| l == lang), "{lang} missing");
        }
        let (_, region) = s.question("region").unwrap();
        assert!(region.option_index("atlantic").is_some() && region.option_index("ns").is_none());
        for group in ["prairies", "territories"] {
            assert!(region.option_index(group).is_some(), "{group} is one option");
        }
        assert!(region.option_index("ab").is_none() && region.option_index("yt").is_none());
    }

    /// Issue 16: about 10 minutes on a phone, no list past about 10 options, the age question first
    /// and able to end the survey, no free text, and the stated length true in every language.
    #[test]
    fn the_default_survey_is_short_and_says_how_long_it_takes() {
        let s = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
        assert!((15..=18).contains(&s.questions.len()), "{} questions", s.questions.len());
        assert_eq!(s.minutes, Some(10));
        assert_eq!(s.screen.map(|i| s.questions[i].id.as_str()), Some("adult"));
        assert!(s.questions.iter().all(|q| q.kind != Kind::Text), "no free text nobody reads");
        for q in &s.questions {
            // Ten options and "Prefer not to say".
            assert!(q.options.len() <= 11, "{}: {} options", q.id, q.options.len());
        }
        for lang in &s.languages {
            let minutes = s.minutes.unwrap().to_string();
            assert!(s.text(lang, "intro").unwrap().contains(&minutes), "{lang}: the intro states the length");
        }
        // The support list follows the questions about violence and assault (issue 16 item 4).
        for id in ["violence", "what_happened_to_you"] {
            assert!(s.question(id).unwrap().1.support_after, "{id}: support follows it");
        }
        let (_, worry) = s.question("worry").unwrap();
        for o in &worry.options[..worry.options.len() - 1] {
            let label = s.own_text("en", &format!("q.worry.o.{}", o.id)).unwrap();
            assert!(label.chars().any(char::is_alphabetic), "every point of the scale has words: {label}");
        }
        // A multiple-choice list where a skip would be ambiguous has a "None of these" standing alone.
        for id in
            ["officials", "what_happened", "what_happened_to_you", "provider_harm", "provider_actions", "changes_after"]
        {
            let (_, q) = s.question(id).unwrap();
            assert!(q.options.iter().any(|o| o.id == "none" && o.exclusive), "{id}");
        }
    }

    #[test]
    fn errors_name_the_question_and_field() {
        let src = r#"
format = 1
slug = "t"
version = 1
languages = ["en"]
title = "T"
[[sections]]
id = "a"
title = "A"
[[sections.questions]]
id = "q1"
type = "single"
label = "Q1"
options = [{ id = "pns", label = "x" }, { id = "Bad Id", label = "" }, { id = "none", label = "None", exclusive = true }]
[[sections.questions]]
id = "q2"
type = "text"
label = "Q2"
max_length = 5000
show_if = { question = "q9", any_of = ["x"] }
"#;
        let e = Survey::parse(src).unwrap_err().to_string();
        assert!(e.contains("slug"), "{e}");
        assert!(e.contains("question \"q1\": option \"pns\": id"), "{e}");
        assert!(e.contains("question \"q1\": option \"Bad Id\": label: is empty"), "{e}");
        assert!(e.contains("question \"q1\": option \"none\": exclusive: only for"), "{e}");
        assert!(e.contains("question \"q2\": max_length"), "{e}");
        assert!(e.contains("question \"q2\": show_if"), "{e}");
    }
    #[test]
    fn minutes_and_support_after_are_read_and_checked() {
        let base = |extra: &str, q: &str| {
            format!(
                "format = 1\nslug = \"x1\"\nversion = 1\nlanguages = [\"en\"]\ntitle = \"T\"\n{extra}\n\
                 [[sections]]\nid = \"s\"\ntitle = \"S\"\n[[sections.questions]]\nid = \"q1\"\ntype = \"single\"\n\
                 label = \"L\"\n{q}\noptions = [{{ id = \"a\", label = \"A\" }}]\n"
            )
        };
        let s = Survey::parse(&base("minutes = 8", "support_after = true")).unwrap();
        assert_eq!(s.minutes, Some(8));
        assert!(s.questions[0].support_after);
        let s = Survey::parse(&base("", "")).unwrap();
        assert_eq!(s.minutes, None);
        assert!(!s.questions[0].support_after, "off unless asked for");
        let e = Survey::parse(&base("minutes = 0", "")).unwrap_err().to_string();
        assert!(e.contains("minutes"), "{e}");
    }

    #[test]
    fn sealed_size_defaults_to_the_largest_and_must_hold_the_longest_answer_set() {
        let survey = |extra: &str, options: usize| {
            let options: Vec<String> = (0..options).map(|i| format!("{{ id = \"o{i}\", label = \"O\" }}")).collect();
            format!(
                "format = 1\nslug = \"x1\"\nversion = 1\nlanguages = [\"en\"]\ntitle = \"T\"\n{extra}\n\
                 [[sections]]\nid = \"s\"\ntitle = \"S\"\n[[sections.questions]]\nid = \"q1\"\ntype = \"multiple\"\n\
                 label = \"L\"\noptions = [{}]\n",
                options.join(", ")
            )
        };
        assert_eq!(Survey::parse(&survey("", 3)).unwrap().sealed_size, PLAINTEXT_LEN, "absent: the old size");
        let small = Survey::parse(&survey("sealed_size = 64", 3)).unwrap();
        assert_eq!(small.sealed_size, 64);
        let answers = small.validate(&crate::survey::RawAnswers::default()).unwrap();
        assert_eq!(small.encode(&answers).unwrap().size(), 64);
        // 58 options and "prefer not to say": 1 + 3 + 59 = 63 bytes at most, over the 62 that 64 holds.
        let e = Survey::parse(&survey("sealed_size = 64", 58)).unwrap_err().to_string();
        assert!(e.contains("raise sealed_size"), "{e}");
        assert!(Survey::parse(&survey("sealed_size = 64", 57)).is_ok());
        let e = Survey::parse(&survey("sealed_size = 100", 3)).unwrap_err().to_string();
        assert!(e.contains("sealed_size: must be one of"), "{e}");
        // The default survey is all closed questions: 256 bytes hold its longest answer set (130).
        assert_eq!(Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap().sealed_size, 256);
    }

    const HEAD: &str = r#"
format = 1
slug = "tt"
version = 1
languages = ["en"]
title = "T"
[[sections]]
id = "a"
title = "A"
[[sections.questions]]
id = "q1"
type = "single"
label = "Q1"
options = [{ id = "x", label = "X" }, { id = "y", label = "Y" }]
[[sections.questions]]
id = "t"
type = "text"
label = "T"
max_length = 20
"#;

    fn with_rule(rule: &str) -> Result<Survey, String> {
        Survey::parse(&format!("{HEAD}[[sections.questions]]\nid = \"q2\"\ntype = \"text\"\nlabel = \"Q2\"\nmax_length = 20\nshow_if = {rule}\n"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn show_if_takes_one_condition_or_all_or_any_of_several() {
        let rule = |r: &str| {
            with_rule(r).unwrap_or_else(|e| panic!("{r}: {e}")).question("q2").unwrap().1.show_if.clone().unwrap()
        };
        let one = rule(r#"{ question = "q1", any_of = ["x"] }"#);
        assert_eq!(one, ShowIf { join: Join::All, conditions: vec![Condition { question: 0, any_of: vec![0] }] });
        // The same rule written as all or any of one condition is the same rule.
        assert_eq!(rule(r#"{ all = [{ question = "q1", any_of = ["x"] }] }"#), one);
        assert_eq!(rule(r#"{ any = [{ question = "q1", any_of = ["x"] }] }"#), one);
        // any of two conditions on one question is one condition.
        let merged =
            rule(r#"{ any = [{ question = "q1", any_of = ["x"] }, { question = "q1", any_of = ["y", "x"] }] }"#);
        assert_eq!(merged.conditions, vec![Condition { question: 0, any_of: vec![0, 1] }]);
        let all = rule(r#"{ all = [{ question = "q1", any_of = ["x"] }, { question = "q1", any_of = ["y"] }] }"#);
        assert_eq!((all.join, all.conditions.len()), (Join::All, 2));
        for (r, why) in [
            (r#"{ question = "q1", any_of = ["x"], all = [] }"#, "give `question` and `any_of`"),
            (r#"{ question = "q1" }"#, "give `question` and `any_of`"),
            (r#"{ all = [] }"#, "has no conditions"),
            (r#"{ any = [{ question = "q9", any_of = ["x"] }] }"#, "\"q9\" is not an earlier question"),
            (
                r#"{ all = [{ question = "q1", any_of = ["z"] }, { question = "t", any_of = ["x"] }] }"#,
                "\"q1\" has no option \"z\"",
            ),
            (
                r#"{ all = [{ question = "q1", any_of = ["x"] }, { question = "t", any_of = ["x"] }] }"#,
                "\"t\" is a text question",
            ),
            (
                r#"{ all = [{ question = "q1", any_of = [] }, { question = "q1", any_of = ["x"] }] }"#,
                "any_of for \"q1\" is empty",
            ),
            (r#"{ all = [{ question = "q2", any_of = ["x"] }] }"#, "\"q2\" is not an earlier question"),
        ] {
            let e = with_rule(r).unwrap_err();
            assert!(e.contains("question \"q2\": show_if") && e.contains(why), "{r}: {e}");
        }
    }
}
