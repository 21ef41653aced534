//! `app generate-inventory` (hidden): an inventory of N loopback devices, written atomically enough for scripts
//! (to a temp file beside OUT, then renamed).

use std::io::Write;

use super::args::GenerateArgs;
use super::CommandError;
use crate::inventory::generate;
use crate::observe::exit::ExitCode;

pub fn generate(args: &GenerateArgs) -> Result<ExitCode, CommandError> {
    let error = |source| CommandError::WriteFile {
        path: args.out.clone(),
        source,
    };
    let dir = args
        .out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        generate::write(args.devices, &args.prefix, &mut out).map_err(error)?;
        out.flush().map_err(error)?;
    }
    tmp.persist(&args.out).map_err(|e| error(e.error))?;
    Ok(ExitCode::Ok)
}
