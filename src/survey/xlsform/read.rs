//! Reading the workbook, bounded: the container is measured before calamine sees it, and every
//! sheet is measured in a streaming pass before its grid is built.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};

use super::{
    MAX_CELLS, MAX_COLUMNS, MAX_ENTRIES, MAX_ENTRY, MAX_FILE, MAX_ROWS, MAX_STRINGS, MAX_TOTAL, XlsFormError,
    looks_like_xlsx,
};

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
        // calamine reserves room for as many shared strings as the table declares, before reading
        // one: its text is kept (it is under the entry limit) to check that number first.
        let shared = name.replace('\\', "/").to_ascii_lowercase().ends_with("sharedstrings.xml");
        let mut kept = Vec::new();
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
            if shared {
                kept.extend_from_slice(&sink[..got]);
            }
        }
        total += n;
        if shared {
            check_shared_strings(&name, &kept)?;
        }
    }
    Ok(())
}

/// The shared-strings table's declared counts: a few bytes can declare billions of strings, and
/// calamine would reserve memory for all of them. No workbook within the cell limits needs more.
fn check_shared_strings(name: &str, xml: &[u8]) -> Result<(), XlsFormError> {
    let bad = |why: String| XlsFormError::one(format!("file: part {name}: {why}"));
    let mut reader = quick_xml::Reader::from_reader(xml);
    // As calamine reads it, so that nothing it would reach is skipped here.
    let config = reader.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    config.trim_text(false);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))
                if e.local_name().as_ref() == "sst" =>
            {
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| bad(format!("cannot be read ({e})")))?;
                    let key = attr.key.local_name();
                    if !key.as_ref().eq_ignore_ascii_case("count") && !key.as_ref().eq_ignore_ascii_case("uniqueCount")
                    {
                        continue;
                    }
                    let value = attr.value.trim();
                    let n = value.parse::<u64>().ok().filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
                    match n {
                        Some(n) if n <= MAX_STRINGS as u64 => {}
                        _ => {
                            return Err(bad(format!(
                                "declares {value} shared strings, over the limit of {MAX_STRINGS}: refused (a huge shared-strings table)"
                            )));
                        }
                    }
                }
                return Ok(());
            }
            // No table: calamine reserves nothing.
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Err(e) => return Err(bad(format!("cannot be read ({e})"))),
            Ok(_) => {}
        }
    }
}

/// A sheet as rows of trimmed strings, with its first row and column in the workbook (0-based).
pub(super) struct Sheet {
    pub name: String,
    pub origin: (u32, u32),
    pub rows: Vec<Vec<String>>,
}

impl Sheet {
    /// "sheet survey, row 7, column C (relevant)"
    pub fn at(&self, row: usize, col: usize) -> String {
        let header = self.rows.first().and_then(|h| h.get(col)).map(String::as_str).unwrap_or("");
        format!(
            "sheet {}, row {}, column {} ({header})",
            self.name,
            self.origin.0 as usize + row + 1,
            column_letter(self.origin.1 as usize + col)
        )
    }
    pub fn column(&self, name: &str) -> Option<usize> {
        self.rows.first()?.iter().position(|h| h.trim().eq_ignore_ascii_case(name))
    }
    pub fn cell(&self, row: usize, col: Option<usize>) -> &str {
        col.and_then(|c| self.rows.get(row)?.get(c)).map(String::as_str).unwrap_or("")
    }
}

pub(super) fn column_letter(mut col: usize) -> String {
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

pub(super) fn read_sheets(bytes: &[u8]) -> Result<Vec<Sheet>, XlsFormError> {
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
