//! `xlsform::import` on arbitrary bytes: every input must give `Ok` or an `XlsFormError`, never a
//! panic, an abort on memory or a hang; the bounds (size, zip entries, real uncompressed sizes, rows,
//! columns, cells) are checked before calamine parses. A workbook that imports must export again and
//! re-import to the same definition.
#![no_main]

use chorus::survey::xlsform;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((_, survey)) = xlsform::import(data) else { return };
    let again = xlsform::export(&survey).expect("a valid definition exports");
    let (_, back) = xlsform::import(&again).expect("an exported definition imports");
    assert!(survey.differs_from(&back).is_none(), "{:?}", survey.differs_from(&back));
});
