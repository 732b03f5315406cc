//! The stylesheet and script, embedded in the binary: pages link them from /static, and a report file
//! written by `chorus report --format html` carries the stylesheet inline.

pub const STYLE: &str = include_str!("../static/style.css");
pub const SCRIPT: &str = include_str!("../static/chorus.js");
