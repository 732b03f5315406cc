//! The fixed table catalogue of a survey, and the tally that fills it in one streaming pass.
//!
//! Every answer set is first reduced to one category per *dimension*: each one-choice question is a
//! dimension (its options, "prefer not to say", then "not answered"); each option of a multiple-choice
//! question is a dimension (chosen, not chosen, prefer not to say, not answered); the month of receipt
//! is a dimension. A table counts one dimension, or one crossed with a breakdown dimension.

use std::collections::HashMap;

use crate::survey::{Answer, Kind, Survey, ValidAnswers};

pub const NOT_ANSWERED: &str = "not_answered";
pub const CHOSEN: &str = "chosen";
pub const NOT_CHOSEN: &str = "not_chosen";
/// For one option of a multiple-choice question: "prefer not to say" and "not answered" together.
/// Kept apart, those two rows would repeat in every option's table, each table hiding them with other
/// complements, and one table could then undo another's suppression.
pub const NO_ANSWER: &str = "no_answer";
pub const PNS: &str = "pns";

/// One dimension: a way of putting every response into exactly one category.
#[derive(Clone, Debug)]
pub struct Dimension {
    /// The question id (or `month`).
    pub question: String,
    /// For one option of a multiple-choice question.
    pub option: Option<String>,
    /// Category ids in order; the last is always `not_answered` (except for months).
    pub categories: Vec<String>,
    /// Categories that are not an answer (prefer not to say, not answered): excluded from percentages.
    pub non_answers: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct TableSpec {
    pub id: String,
    pub row: usize,
    pub col: Option<usize>,
}

/// The catalogue of one survey version over a list of months.
pub struct Catalogue {
    pub dimensions: Vec<Dimension>,
    pub tables: Vec<TableSpec>,
    /// For each question index of the survey: its first dimension.
    question_dims: Vec<usize>,
    month_dim: usize,
    months: HashMap<String, u16>,
}

impl Catalogue {
    pub fn new(survey: &Survey, months: &[String]) -> Self {
        let mut dimensions = Vec::new();
        let mut question_dims = Vec::new();
        for q in &survey.questions {
            question_dims.push(dimensions.len());
            match q.kind {
                Kind::Text => {}
                Kind::Multiple => {
                    for o in q.options.iter().filter(|o| o.id != PNS) {
                        dimensions.push(Dimension {
                            question: q.id.clone(),
                            option: Some(o.id.clone()),
                            categories: [CHOSEN, NOT_CHOSEN, NO_ANSWER].map(String::from).to_vec(),
                            non_answers: vec![2],
                        });
                    }
                }
                _ => {
                    let mut categories: Vec<String> = q.options.iter().map(|o| o.id.clone()).collect();
                    categories.push(NOT_ANSWERED.into());
                    let n = categories.len();
                    dimensions.push(Dimension {
                        question: q.id.clone(),
                        option: None,
                        categories,
                        non_answers: vec![n - 2, n - 1],
                    });
                }
            }
        }
        let month_dim = dimensions.len();
        dimensions.push(Dimension {
            question: "month".into(),
            option: None,
            categories: months.to_vec(),
            non_answers: vec![],
        });

        let breakdowns: Vec<usize> = survey
            .questions
            .iter()
            .enumerate()
            .filter(|(_, q)| q.breakdown)
            .map(|(i, _)| question_dims[i])
            .chain(std::iter::once(month_dim))
            .collect();
        let mut tables = Vec::new();
        for (d, dim) in dimensions.iter().enumerate() {
            let base = match &dim.option {
                Some(o) => format!("{}.{o}", dim.question),
                None => dim.question.clone(),
            };
            // Every dimension has its one-way table (months included: responses by month of receipt);
            // the two-way tables take their margins from these.
            tables.push(TableSpec { id: base.clone(), row: d, col: None });
            if d == month_dim {
                continue;
            }
            // A breakdown crossed with another breakdown appears once (region by status, not also
            // status by region): two transposed tables suppressed apart could undo each other.
            let is_breakdown = breakdowns.contains(&d);
            for &b in breakdowns.iter().filter(|&&b| b != d && (!is_breakdown || b > d)) {
                tables.push(TableSpec { id: format!("{base}~{}", dimensions[b].question), row: d, col: Some(b) });
            }
        }
        let months = months.iter().enumerate().map(|(i, m)| (m.clone(), i as u16)).collect();
        Self { dimensions, tables, question_dims, month_dim, months }
    }

    /// Put one response into its category on every dimension. `answers` must be of the catalogue's version.
    pub fn categorise(&self, survey: &Survey, answers: &ValidAnswers, month: &str, out: &mut Vec<u16>) {
        out.clear();
        out.resize(self.dimensions.len(), 0);
        for (qi, q) in survey.questions.iter().enumerate() {
            let d = self.question_dims[qi];
            match (q.kind, answers.get(qi)) {
                (Kind::Text, _) => {}
                (Kind::Multiple, answer) => {
                    let pns = q.pns_index().map(|p| p as u8);
                    for (dim, (oi, _)) in (d..).zip(q.options.iter().enumerate().filter(|(_, o)| o.id != PNS)) {
                        out[dim] = match answer {
                            None => 2,
                            Some(Answer::Many(os)) if os.len() == 1 && Some(os[0]) == pns => 2,
                            Some(Answer::Many(os)) if os.contains(&(oi as u8)) => 0,
                            Some(_) => 1,
                        };
                    }
                }
                (_, Some(Answer::One(o))) => out[d] = u16::from(*o),
                (_, _) => out[d] = (self.dimensions[d].categories.len() - 1) as u16,
            }
        }
        out[self.month_dim] = self.months.get(month).copied().unwrap_or(0);
    }
}

/// The true counts of every table, accumulated one response at a time (never all responses in memory).
pub struct Tally {
    pub counts: Vec<Vec<u64>>,
    pub shapes: Vec<(usize, usize)>,
    pub n: u64,
}

impl Tally {
    pub fn new(catalogue: &Catalogue) -> Self {
        let shapes: Vec<(usize, usize)> = catalogue
            .tables
            .iter()
            .map(|t| {
                let rows = catalogue.dimensions[t.row].categories.len();
                let cols = t.col.map_or(1, |c| catalogue.dimensions[c].categories.len());
                (rows, cols)
            })
            .collect();
        let counts = shapes.iter().map(|(r, c)| vec![0; r * c]).collect();
        Self { counts, shapes, n: 0 }
    }

    pub fn add(&mut self, catalogue: &Catalogue, categories: &[u16]) {
        self.n += 1;
        for (t, spec) in catalogue.tables.iter().enumerate() {
            let cols = self.shapes[t].1;
            let r = usize::from(categories[spec.row]);
            let c = spec.col.map_or(0, |c| usize::from(categories[c]));
            self.counts[t][r * cols + c] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_no_table_twice() {
        let survey = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
        let cat = Catalogue::new(&survey, &["2026-11".to_owned()]);
        let pairs: Vec<(usize, Option<usize>)> = cat.tables.iter().map(|t| (t.row, t.col)).collect();
        for (row, col) in &pairs {
            if let Some(col) = col {
                assert!(!pairs.contains(&(*col, Some(*row))), "a table and its transpose are both released");
            }
        }
        let ids: std::collections::HashSet<&str> = cat.tables.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids.len(), cat.tables.len(), "table ids are unique");
        assert!(ids.contains("region~status") ^ ids.contains("status~region"));
        assert!(ids.contains("month"), "responses by month of receipt");
        // An option of a multiple-choice question: chosen, not chosen, and one row for no answer.
        let gender_woman = cat.tables.iter().find(|t| t.id == "gender.woman").unwrap();
        assert_eq!(cat.dimensions[gender_woman.row].categories, [CHOSEN, NOT_CHOSEN, NO_ANSWER]);
    }
}
