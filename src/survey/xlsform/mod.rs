//! XLSForm, the spreadsheet format of KoboToolbox and ODK, read into a Chorus definition and written
//! back. Import emits the TOML text of docs/surveys.md and hands it to [`Survey::parse`], so one
//! validator checks both formats and a stored definition is always TOML.
//!
//! The file is measured before anything parses it: its size, the zip's entries and every entry's real
//! uncompressed size (read through a bounded reader, not taken from the header); then formulas, rows,
//! columns and cells of every sheet in a streaming pass, before calamine builds the sheet's grid
//! (`read`). Every unsupported feature is reported at once, each naming the sheet, the row, the
//! column and why Chorus does not take it (`sheets`, `relevant`). `export` writes a definition back.

mod export;
mod read;
mod relevant;
mod sheets;

pub use export::export;
pub use read::check_container;

use super::Survey;

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
/// Most shared strings a workbook may declare: every cell of the three sheets, at most.
pub const MAX_STRINGS: usize = 3 * MAX_CELLS;

/// Everything wrong with a file, one problem a line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct XlsFormError(pub Vec<String>);

impl XlsFormError {
    pub(super) fn one(s: impl Into<String>) -> Self {
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
    let sheets = read::read_sheets(bytes)?;
    let text = sheets::to_toml(&sheets)?;
    let survey = Survey::parse(&text)
        .map_err(|e| XlsFormError(e.0.into_iter().map(|m| format!("definition: {m}")).collect()))?;
    Ok((text, survey))
}

#[cfg(test)]
mod tests;
