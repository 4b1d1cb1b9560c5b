//! placeholder
use crate::commands::CmdProc;
pub fn lookup(_name: &str) -> Option<CmdProc> {
    None
}
