//! The table catalogue of a survey (the menu a release chooses from) and the tally that fills the
//! chosen tables in one streaming pass.
//!
//! Every response is reduced to one category per *dimension*, and every table is a partition of its
//! population, so one respondent is in exactly one cell of each table: the L2 sensitivity of every
//! table is 1, which is what the privacy mechanism is calibrated to (docs/privacy.md).
//! - the release total `n` (one cell), `verified` (verified / not verified) and `month` of receipt;
//! - each one-choice question: its options (prefer not to say included), `skipped`, and, for a
//!   question shown only after some answers, `not_asked`;
//! - each multiple-choice question as a whole: `answered`, prefer not to say, `skipped`, `not_asked`;
//! - each option of a multiple-choice question, among those who answered it: `chosen`, `not_chosen`;
//! - two-way tables: each question (or option) by each breakdown question and by month.

use std::collections::{BTreeSet, HashMap};

use crate::survey::{Answer, Kind, Survey, ValidAnswers};

pub const SKIPPED: &str = "skipped";
pub const NOT_ASKED: &str = "not_asked";
pub const ANSWERED: &str = "answered";
pub const CHOSEN: &str = "chosen";
pub const NOT_CHOSEN: &str = "not_chosen";
pub const VERIFIED: &str = "verified";
pub const NOT_VERIFIED: &str = "not_verified";
pub const PNS: &str = "pns";
/// The id of the release total's table.
pub const TOTAL: &str = "n";

/// A response outside a dimension's population (an option of a question it did not answer).
pub const OUTSIDE: u16 = u16::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DimKind {
    Total,
    Verified,
    Month,
    /// A one-choice question (single, scale, period, region).
    Single,
    /// A multiple-choice question as a whole.
    Multiple,
    /// One option of a multiple-choice question; its population is the parent's `answered` category.
    Option {
        parent: usize,
    },
}

/// One way of putting every response of its population into exactly one category.
#[derive(Clone, Debug)]
pub struct Dimension {
    /// `n`, `verified`, `month`, a question id, or `question.option`.
    pub id: String,
    /// The question id (or `n`, `verified`, `month`).
    pub question: String,
    pub option: Option<String>,
    pub kind: DimKind,
    pub categories: Vec<String>,
    /// Categories that are not an answer (prefer not to say, skipped, not asked): left out of the
    /// base of percentages.
    pub non_answers: Vec<usize>,
    /// The `not_asked` category, for questions shown only after some answers.
    pub not_asked: Option<usize>,
    pub breakdown: bool,
    /// The question's index in the survey.
    question_index: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub id: String,
    pub row: usize,
    pub col: Option<usize>,
}

/// The catalogue of one survey version over a list of months: every table a release may choose.
pub struct Catalogue {
    pub dimensions: Vec<Dimension>,
    pub tables: Vec<TableSpec>,
    months: HashMap<String, u16>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no table `{0}` in this survey's catalogue")]
pub struct UnknownTable(pub String);

fn dim(id: String, question: String, kind: DimKind, categories: Vec<String>) -> Dimension {
    Dimension {
        id,
        question,
        option: None,
        kind,
        categories,
        non_answers: vec![],
        not_asked: None,
        breakdown: false,
        question_index: None,
    }
}

impl Catalogue {
    pub fn new(survey: &Survey, months: &[String]) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut dimensions = vec![
            dim(TOTAL.into(), TOTAL.into(), DimKind::Total, strings(&[TOTAL])),
            dim(VERIFIED.into(), VERIFIED.into(), DimKind::Verified, strings(&[VERIFIED, NOT_VERIFIED])),
            Dimension { breakdown: true, ..dim("month".into(), "month".into(), DimKind::Month, months.to_vec()) },
        ];
        for (qi, q) in survey.questions.iter().enumerate() {
            if q.kind == Kind::Text {
                continue; // free text is never tabulated
            }
            let conditional = q.show_if.is_some();
            let mut categories: Vec<String> = match q.kind {
                Kind::Multiple => strings(&[ANSWERED, PNS]),
                _ => q.options.iter().map(|o| o.id.clone()).collect(),
            };
            let pns = categories.len() - 1;
            categories.push(SKIPPED.into());
            let mut non_answers = vec![pns, categories.len() - 1];
            let not_asked = conditional.then(|| {
                categories.push(NOT_ASKED.into());
                non_answers.push(categories.len() - 1);
                categories.len() - 1
            });
            let kind = if q.kind == Kind::Multiple { DimKind::Multiple } else { DimKind::Single };
            let parent = dimensions.len();
            dimensions.push(Dimension {
                non_answers,
                not_asked,
                breakdown: q.breakdown && kind == DimKind::Single,
                question_index: Some(qi),
                ..dim(q.id.clone(), q.id.clone(), kind, categories)
            });
            if q.kind == Kind::Multiple {
                for o in q.options.iter().filter(|o| o.id != PNS) {
                    dimensions.push(Dimension {
                        option: Some(o.id.clone()),
                        question_index: Some(qi),
                        ..dim(
                            format!("{}.{}", q.id, o.id),
                            q.id.clone(),
                            DimKind::Option { parent },
                            strings(&[CHOSEN, NOT_CHOSEN]),
                        )
                    });
                }
            }
        }
        let breakdowns: Vec<usize> = (0..dimensions.len()).filter(|&d| dimensions[d].breakdown).collect();
        let mut tables = Vec::new();
        for (d, dimension) in dimensions.iter().enumerate() {
            tables.push(TableSpec { id: dimension.id.clone(), row: d, col: None });
            if matches!(dimension.kind, DimKind::Total | DimKind::Verified | DimKind::Month) {
                continue;
            }
            // A breakdown crossed with another breakdown appears once (region by status, not also
            // status by region): the transposed table would spend budget on the same numbers.
            for &b in breakdowns.iter().filter(|&&b| b != d && (!dimension.breakdown || b > d)) {
                tables.push(TableSpec { id: format!("{}~{}", dimension.id, dimensions[b].id), row: d, col: Some(b) });
            }
        }
        let months = months.iter().enumerate().map(|(i, m)| (m.clone(), i as u16)).collect();
        Self { dimensions, tables, months }
    }

    pub fn table(&self, id: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.id == id)
    }

    /// The tables a release needs to publish `chosen` consistently: each chosen table, and the tables
    /// its margins come from (a two-way table's one-way tables; an option's question; the total).
    pub fn closure(&self, chosen: &[String]) -> Result<BTreeSet<usize>, UnknownTable> {
        let mut out = BTreeSet::from([0, 1]); // n and verified: every release states both
        let one_way = |d: usize| self.table(&self.dimensions[d].id).expect("every dimension has a one-way table");
        for id in chosen {
            let t = self.table(id).ok_or_else(|| UnknownTable(id.clone()))?;
            let spec = &self.tables[t];
            out.insert(t);
            out.insert(one_way(spec.row));
            if let Some(c) = spec.col {
                out.insert(one_way(c));
            }
            if let DimKind::Option { parent } = self.dimensions[spec.row].kind {
                out.insert(one_way(parent));
                if let Some(c) = spec.col {
                    let id = format!("{}~{}", self.dimensions[parent].id, self.dimensions[c].id);
                    out.insert(self.table(&id).expect("the parent question has the same breakdowns"));
                }
            }
        }
        Ok(out)
    }

    /// Put one response into its category on every dimension (`OUTSIDE` where it is not in the
    /// population). `answers` must be of the catalogue's survey version.
    pub fn categorise(&self, survey: &Survey, answers: &ValidAnswers, month: &str, verified: bool, out: &mut Vec<u16>) {
        out.clear();
        out.resize(self.dimensions.len(), 0);
        let mut answered_parent: Option<(usize, Option<&Answer>)> = None;
        for (d, dimension) in self.dimensions.iter().enumerate() {
            out[d] = match dimension.kind {
                DimKind::Total => 0,
                DimKind::Verified => u16::from(!verified),
                DimKind::Month => self.months.get(month).copied().unwrap_or(0),
                DimKind::Single | DimKind::Multiple => {
                    let qi = dimension.question_index.expect("question dimension");
                    let q = &survey.questions[qi];
                    let answer = answers.get(qi);
                    answered_parent = Some((d, answer));
                    let skipped = (dimension.categories.len() - 1 - usize::from(dimension.not_asked.is_some())) as u16;
                    if !asked(survey, qi, answers) {
                        dimension.not_asked.map_or(skipped, |i| i as u16)
                    } else {
                        match (q.kind, answer) {
                            (_, None) => skipped,
                            (Kind::Multiple, Some(Answer::Many(os)))
                                if os.len() == 1 && Some(usize::from(os[0])) == q.pns_index() =>
                            {
                                1
                            }
                            (Kind::Multiple, Some(_)) => 0,
                            (_, Some(Answer::One(o))) => u16::from(*o),
                            (_, Some(_)) => skipped,
                        }
                    }
                }
                DimKind::Option { parent } => match answered_parent {
                    Some((p, Some(Answer::Many(os)))) if p == parent && out[parent] == 0 => {
                        let q = &survey.questions[dimension.question_index.expect("option dimension")];
                        let oi = q.option_index(dimension.option.as_deref().unwrap_or_default());
                        if oi.is_some_and(|oi| os.contains(&(oi as u8))) { 0 } else { 1 }
                    }
                    _ => OUTSIDE,
                },
            };
        }
    }
}

/// Whether a respondent was shown the question: always, or when an earlier answer meets its condition.
fn asked(survey: &Survey, qi: usize, answers: &ValidAnswers) -> bool {
    let Some(rule) = &survey.questions[qi].show_if else { return true };
    rule.holds(|c| asked(survey, c.question, answers) && c.met_by(answers.get(c.question)))
}

/// The true counts of the chosen tables, accumulated one response at a time (never all responses in
/// memory). They exist only inside a release run and never leave `report::release`.
pub struct Tally {
    pub tables: Vec<usize>,
    pub counts: Vec<Vec<u64>>,
    pub shapes: Vec<(usize, usize)>,
}

impl Tally {
    pub fn new(catalogue: &Catalogue, tables: &BTreeSet<usize>) -> Self {
        let tables: Vec<usize> = tables.iter().copied().collect();
        let shapes: Vec<(usize, usize)> = tables
            .iter()
            .map(|&t| {
                let spec = &catalogue.tables[t];
                let rows = catalogue.dimensions[spec.row].categories.len();
                let cols = spec.col.map_or(1, |c| catalogue.dimensions[c].categories.len());
                (rows, cols)
            })
            .collect();
        let counts = shapes.iter().map(|(r, c)| vec![0; r * c]).collect();
        Self { tables, counts, shapes }
    }

    pub fn add(&mut self, catalogue: &Catalogue, categories: &[u16]) {
        for (i, &t) in self.tables.iter().enumerate() {
            let spec = &catalogue.tables[t];
            let r = categories[spec.row];
            let c = spec.col.map_or(0, |c| categories[c]);
            if r == OUTSIDE || c == OUTSIDE {
                continue;
            }
            let cols = self.shapes[i].1;
            self.counts[i][usize::from(r) * cols + usize::from(c)] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survey::RawAnswers;

    fn survey() -> Survey {
        Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap()
    }

    #[test]
    fn every_table_of_the_default_survey_is_in_the_menu_once() {
        let cat = Catalogue::new(&survey(), &["2026-11".to_owned()]);
        let pairs: Vec<(usize, Option<usize>)> = cat.tables.iter().map(|t| (t.row, t.col)).collect();
        for (row, col) in &pairs {
            if let Some(col) = col {
                assert!(!pairs.contains(&(*col, Some(*row))), "a table and its transpose are both listed");
            }
        }
        let ids: BTreeSet<&str> = cat.tables.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids.len(), cat.tables.len(), "table ids are unique");
        assert!(ids.contains("region~status") ^ ids.contains("status~region"));
        for id in ["n", "verified", "month", "officials", "officials.cbsa_immigration", "officials~month"] {
            assert!(ids.contains(id), "{id}");
        }
        let what = &cat.dimensions[cat.tables[cat.table("what_happened").unwrap()].row];
        assert_eq!(
            what.categories.last().map(String::as_str),
            Some(NOT_ASKED),
            "a conditional question says who was not asked"
        );
    }

    #[test]
    fn every_response_is_in_one_cell_of_each_table_of_its_population() {
        let s = survey();
        let months = ["2026-10".to_owned(), "2026-11".to_owned()];
        let cat = Catalogue::new(&s, &months);
        let all: BTreeSet<usize> = (0..cat.tables.len()).collect();
        let mut tally = Tally::new(&cat, &all);
        let mut rng = rand::rng();
        let mut categories = Vec::new();
        let n = 200;
        for i in 0..n {
            let answers = crate::dev::synthetic_answers(&s, &mut rng);
            cat.categorise(&s, &answers, &months[i % 2], i % 3 == 0, &mut categories);
            tally.add(&cat, &categories);
        }
        for (i, &t) in tally.tables.iter().enumerate() {
            let spec = &cat.tables[t];
            let total: u64 = tally.counts[i].iter().sum();
            match cat.dimensions[spec.row].kind {
                DimKind::Option { parent } => {
                    let answered = tally.counts
                        [tally.tables.iter().position(|&x| cat.tables[x].id == cat.dimensions[parent].id).unwrap()][0];
                    assert_eq!(total, answered, "{}: an option's population is those who answered", spec.id);
                }
                _ => assert_eq!(total, n as u64, "{}: every response in exactly one cell", spec.id),
            }
        }
    }

    #[test]
    fn not_asked_and_skipped_are_told_apart() {
        let s = survey();
        let cat = Catalogue::new(&s, &["2026-11".to_owned()]);
        let d = cat.dimensions.iter().position(|d| d.id == "targeted").unwrap();
        let mut categories = Vec::new();
        let mut raw = RawAnswers::default();
        raw.0.insert("officials".into(), vec!["none".into()]);
        let none = s.validate(&raw).unwrap();
        cat.categorise(&s, &none, "2026-11", false, &mut categories);
        assert_eq!(cat.dimensions[d].categories[usize::from(categories[d])], NOT_ASKED);
        raw.0.insert("officials".into(), vec!["city_police".into()]);
        let police = s.validate(&raw).unwrap();
        cat.categorise(&s, &police, "2026-11", false, &mut categories);
        assert_eq!(cat.dimensions[d].categories[usize::from(categories[d])], SKIPPED);
    }
}
