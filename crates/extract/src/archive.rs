//! Zip archives: every member is listed, encrypted members are reported,
//! and readable members are extracted recursively (a zip in a zip, a DOCX in
//! a zip...) up to [`Limits::max_depth`](crate::Limits::max_depth).
//!
//! Decompression is bounded by the actual bytes produced, never by the sizes
//! an archive declares: every read goes through [`read_bounded`], which stops
//! at the remaining expansion budget and at the compression-ratio limit.
//! Member names are reported as written and never used as file paths.

use std::io::{Cursor, Read};

use zip::CompressionMethod;
use zip::ZipArchive;

use crate::limits::RATIO_GRACE_BYTES;
use crate::{Ctx, FileKind, Member, ProblemKind, join_path, process, sniff};

/// Why a bounded read stopped early.
#[derive(Debug)]
pub(crate) enum ReadStop {
    /// The member expands more than `max_ratio` times its compressed size.
    Ratio,
    /// The attachment's expansion budget is used up; the bytes read so far
    /// are returned.
    Budget(Vec<u8>),
    /// Corrupt data.
    Error(String),
}

/// Reads a decompressing reader whole, within the budget of `ctx`.
/// `compressed` is the member's declared compressed size (only used for the
/// ratio test; a lie there only makes the budget the binding limit).
pub(crate) fn read_bounded(
    ctx: &mut Ctx<'_>,
    reader: &mut dyn Read,
    compressed: u64,
) -> Result<Vec<u8>, ReadStop> {
    let budget = ctx.budget.expand_left(ctx.limits);
    let ratio_cap = compressed
        .saturating_mul(ctx.limits.max_ratio.max(1))
        .max(RATIO_GRACE_BYTES);
    let cap = budget.min(ratio_cap);
    let mut data = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let want = usize::try_from((cap + 1).saturating_sub(total))
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        if want == 0 {
            break;
        }
        match reader.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                let keep = usize::try_from(cap.saturating_sub(data.len() as u64))
                    .unwrap_or(usize::MAX)
                    .min(n);
                data.extend_from_slice(&chunk[..keep]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                ctx.budget.expanded = ctx.budget.expanded.saturating_add(total);
                return Err(ReadStop::Error(e.to_string()));
            }
        }
    }
    ctx.budget.expanded = ctx.budget.expanded.saturating_add(data.len() as u64);
    if total > cap {
        if cap == ratio_cap && ratio_cap < budget {
            return Err(ReadStop::Ratio);
        }
        return Err(ReadStop::Budget(data));
    }
    Ok(data)
}

/// Kind of a member that cannot be read, from its name.
fn kind_from_name(name: &str) -> FileKind {
    sniff(&[], Some(name), None)
}

/// Lists and extracts the members of a zip archive found at `path`.
pub(crate) fn extract(ctx: &mut Ctx<'_>, bytes: &[u8], path: &str, depth: u32) {
    if depth >= ctx.limits.max_depth {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            format!(
                "Archive nested more than {} levels deep was not opened.",
                ctx.limits.max_depth
            ),
        );
        return;
    }
    let mut archive = match ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            ctx.problem(
                path,
                ProblemKind::Unscannable,
                format!("The zip archive is corrupt or truncated ({e}); only members readable from their local headers were scanned."),
            );
            salvage(ctx, bytes, path, depth);
            return;
        }
    };
    if archive.has_duplicate_names() {
        ctx.problem(
            path,
            ProblemKind::Unscannable,
            "The zip archive has several members with the same name; only one of each was scanned.",
        );
    }
    for i in 0..archive.len() {
        if !take_member_slot(ctx, path) {
            return;
        }
        let (name, is_dir, encrypted, size, compressed, method) = match archive.by_index_data(i) {
            Ok(e) => (
                String::from_utf8_lossy(e.name_raw()).into_owned(),
                e.is_dir(),
                e.encrypted(),
                e.size(),
                e.compressed_size(),
                e.compression(),
            ),
            Err(e) => {
                ctx.problem(
                    path,
                    ProblemKind::Unscannable,
                    format!("Member {i} of the zip archive could not be read ({e})."),
                );
                continue;
            }
        };
        if is_dir {
            ctx.budget.members -= 1;
            continue;
        }
        let mpath = join_path(path, &name);
        if encrypted {
            ctx.out.members.push(Member {
                path: mpath.clone(),
                kind: kind_from_name(&name),
                size,
                encrypted: true,
            });
            ctx.problem(
                &mpath,
                ProblemKind::Encrypted,
                "The archive member is encrypted and could not be scanned.",
            );
            continue;
        }
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            ctx.out.members.push(Member {
                path: mpath.clone(),
                kind: kind_from_name(&name),
                size,
                encrypted: false,
            });
            ctx.problem(
                &mpath,
                ProblemKind::Unsupported,
                format!("The archive member uses an unsupported compression method ({method}) and was not scanned."),
            );
            continue;
        }
        let read = match archive.by_index(i) {
            Ok(mut file) => read_bounded(ctx, &mut file, compressed),
            Err(e) => Err(ReadStop::Error(e.to_string())),
        };
        member(ctx, read, &name, &mpath, size, depth);
    }
}

/// Counts one more member; false (with a problem) when the limit is reached.
fn take_member_slot(ctx: &mut Ctx<'_>, path: &str) -> bool {
    if ctx.budget.members >= ctx.limits.max_members {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            format!(
                "The archive has more than {} members; the rest were not listed or scanned.",
                ctx.limits.max_members
            ),
        );
        return false;
    }
    ctx.budget.members += 1;
    true
}

/// Records and extracts one member after reading it.
fn member(
    ctx: &mut Ctx<'_>,
    read: Result<Vec<u8>, ReadStop>,
    name: &str,
    mpath: &str,
    declared: u64,
    depth: u32,
) {
    match read {
        Ok(data) => {
            let kind = sniff(&data, Some(name), None);
            ctx.out.members.push(Member {
                path: mpath.to_owned(),
                kind,
                size: data.len() as u64,
                encrypted: false,
            });
            process(ctx, &data, kind, mpath, depth + 1);
        }
        Err(ReadStop::Ratio) => {
            ctx.out.members.push(Member {
                path: mpath.to_owned(),
                kind: kind_from_name(name),
                size: declared,
                encrypted: false,
            });
            ctx.problem(
                mpath,
                ProblemKind::LimitExceeded,
                format!(
                    "The archive member expands more than {} times its compressed size (a decompression bomb) and was not scanned.",
                    ctx.limits.max_ratio
                ),
            );
        }
        Err(ReadStop::Budget(data)) => {
            let kind = sniff(&data, Some(name), None);
            ctx.out.members.push(Member {
                path: mpath.to_owned(),
                kind,
                size: declared,
                encrypted: false,
            });
            ctx.problem(
                mpath,
                ProblemKind::LimitExceeded,
                format!(
                    "The attachment expands to more than {} bytes; the archive member was not scanned completely.",
                    ctx.limits.max_expanded_bytes
                ),
            );
            // Text survives a cut; other formats need their end.
            if matches!(kind, FileKind::Text | FileKind::Csv | FileKind::Html) {
                process(ctx, &data, kind, mpath, depth + 1);
            }
        }
        Err(ReadStop::Error(e)) => {
            ctx.out.members.push(Member {
                path: mpath.to_owned(),
                kind: kind_from_name(name),
                size: declared,
                encrypted: false,
            });
            ctx.problem(
                mpath,
                ProblemKind::Unscannable,
                format!("The archive member is corrupt ({e}) and was not scanned."),
            );
        }
    }
}

/// Reads members one by one from their local headers, for archives whose
/// central directory is missing (truncated downloads, damaged files).
fn salvage(ctx: &mut Ctx<'_>, bytes: &[u8], path: &str, depth: u32) {
    let mut cursor = Cursor::new(bytes);
    loop {
        let file = zip::read::read_zipfile_from_stream(&mut cursor);
        let mut file = match file {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return,
        };
        let name = String::from_utf8_lossy(file.name_raw()).into_owned();
        if file.is_dir() {
            continue;
        }
        if !take_member_slot(ctx, path) {
            return;
        }
        let mpath = join_path(path, &name);
        let size = file.size();
        let compressed = file.compressed_size();
        if file.encrypted() {
            ctx.out.members.push(Member {
                path: mpath.clone(),
                kind: kind_from_name(&name),
                size,
                encrypted: true,
            });
            ctx.problem(
                &mpath,
                ProblemKind::Encrypted,
                "The archive member is encrypted and could not be scanned.",
            );
            return;
        }
        let read = read_bounded(ctx, &mut file, compressed);
        let failed = matches!(read, Err(ReadStop::Error(_)));
        drop(file);
        member(ctx, read, &name, &mpath, size, depth);
        if failed {
            return;
        }
    }
}
