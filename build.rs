//! Build script: the commit and the build date for `app --version` (`APP_GIT_COMMIT`, `APP_BUILD_DATE`), "unknown"
//! where git or `date` is not available (a source tarball, a minimal container).

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let commit = output("git", &["rev-parse", "--short", "HEAD"]);
    let date = output("date", &["-u", "+%Y-%m-%d"]);
    println!(
        "cargo:rustc-env=APP_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!(
        "cargo:rustc-env=APP_BUILD_DATE={}",
        date.as_deref().unwrap_or("unknown")
    );
    // Run again when HEAD moves: HEAD itself (a checkout) and the branch it points at (a commit). In a worktree
    // `.git` is a file, so ask git where they are.
    if commit.is_some() {
        for name in [
            "HEAD".to_string(),
            output("git", &["symbolic-ref", "-q", "HEAD"]).unwrap_or_default(),
        ] {
            if name.is_empty() {
                continue;
            }
            if let Some(path) = output("git", &["rev-parse", "--git-path", &name]) {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
