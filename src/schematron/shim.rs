//! TEMPORARY until xpath2.rs lands.
pub struct Untranslatable { pub expr: String, pub reason: String }
pub fn to_xpath1(e: &str) -> Result<String, Untranslatable> { Ok(e.to_string()) }
pub fn pattern_to_xpath1(e: &str) -> Result<String, Untranslatable> { Ok(e.to_string()) }
pub fn compile_regex(p: &str, _f: &str) -> Result<regex::Regex, String> { regex::Regex::new(p).map_err(|e| e.to_string()) }
pub fn castable(_v: &str, _t: &str) -> Result<bool, String> { Ok(true) }
pub fn double_to_string(d: f64) -> String { if d.fract()==0.0 && d.abs()<1e15 { format!("{}", d as i64) } else { format!("{d}") } }
