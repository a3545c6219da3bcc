//! An old rotation function's deployment package, read in memory: which native modules it
//! carries and for which Python, the PostgreSQL version of its `libpq.so.5`, and what its
//! `lambda_function.py` can do (TLS, MySQL's version test). The zip is read with the `zip`
//! crate and ELF files with `goblin`; nothing is unpacked to disk or executed, and every read
//! is bounded, so a zip bomb, a path trick or a file that only claims to be ELF is bad input
//! with a reason, not a crash.

use goblin::elf::Elf;
use std::io::Read;

/// Bounds on what is read. The defaults are Lambda's own limits for a zip package.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The zip itself (Lambda: 50 MB for a direct upload; a package from S3 can be larger,
    /// but no unzipped package may exceed 250 MB).
    pub zip_bytes: u64,
    /// Entries in the zip.
    pub entries: usize,
    /// All entries' declared sizes together (Lambda: 250 MB unzipped).
    pub unzipped_bytes: u64,
    /// One file that is read (the handler source, an ELF file).
    pub file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            zip_bytes: 250 * 1024 * 1024,
            entries: 50_000,
            unzipped_bytes: 250 * 1024 * 1024,
            file_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a package could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Larger than the bound.
    #[error("the package is {size} bytes, more than the {limit} bytes read")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// Not a zip archive, or a broken one.
    #[error("the package is not a readable zip archive: {0}")]
    NotAZip(String),
    /// More entries, or more unzipped bytes, than a Lambda package may have.
    #[error("the package declares {0}, more than a Lambda package may hold")]
    Bomb(String),
}

/// A compiled Python extension module (`_pg.cpython-37m-x86_64-linux-gnu.so`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeModule {
    /// Its path in the package.
    pub path: String,
    /// The ABI tag of its file name: `cpython-37m`, `cpython-39`, `abi3`.
    pub abi: String,
    /// The Python version the tag requires (`(3, 7)`), none for the stable ABI.
    pub python: Option<(u32, u32)>,
}

/// The bundled `libpq.so.5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Libpq {
    /// Its path in the package.
    pub path: String,
    /// Its RUNPATH and RPATH entries.
    pub runpaths: Vec<String>,
    /// The PostgreSQL major version it came from, and where that was read.
    pub major: Option<(u32, &'static str)>,
}

/// What the handler source shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Handler {
    /// It passes TLS settings to its driver (the reference functions since December 2021).
    pub tls: bool,
    /// It picks MySQL's password statement by a version starting with "8", falling back to
    /// `PASSWORD()` (removed in MySQL 8.0.11) for every other version, 9.x included.
    pub mysql_version_test_8_only: bool,
}

/// What was read from a package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bundle {
    /// Entries in the zip.
    pub entries: usize,
    /// Native extension modules.
    pub native_modules: Vec<NativeModule>,
    /// The bundled libpq, if any.
    pub libpq: Option<Libpq>,
    /// `lambda_function.py`, if present and readable.
    pub handler: Option<Handler>,
    /// Files passed over, and why (not ELF, too large, an unsafe path).
    pub passed_over: Vec<String>,
}

/// The handler module of the reference functions.
const HANDLER: &str = "lambda_function.py";

/// Reads a package.
pub fn read(zip_bytes: &[u8], limits: Limits) -> Result<Bundle, BundleError> {
    let size = zip_bytes.len() as u64;
    if size > limits.zip_bytes {
        return Err(BundleError::TooLarge {
            size,
            limit: limits.zip_bytes,
        });
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .map_err(|e| BundleError::NotAZip(e.to_string()))?;
    if archive.len() > limits.entries {
        return Err(BundleError::Bomb(format!("{} entries", archive.len())));
    }
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| BundleError::NotAZip(e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > limits.unzipped_bytes {
        return Err(BundleError::Bomb(format!("{declared} unzipped bytes")));
    }
    let mut bundle = Bundle {
        entries: archive.len(),
        ..Bundle::default()
    };
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                bundle.passed_over.push(format!("entry {i}: {e}"));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        // An absolute path or `..` would escape the package: report it, never follow it.
        let Some(path) = entry
            .enclosed_name()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
        else {
            bundle
                .passed_over
                .push(format!("{}: an unsafe path", printable(entry.name())));
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        let wanted = name == HANDLER && !path.contains('/')
            || is_libpq(&name)
            || native_abi(&name).is_some();
        if !wanted {
            continue;
        }
        if entry.size() > limits.file_bytes {
            bundle.passed_over.push(format!(
                "{path}: {} bytes, more than the {} read",
                entry.size(),
                limits.file_bytes
            ));
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        // `take` bounds the read even when the declared size lies.
        if let Err(e) = (&mut entry)
            .take(limits.file_bytes + 1)
            .read_to_end(&mut bytes)
        {
            bundle.passed_over.push(format!("{path}: {e}"));
            continue;
        }
        if bytes.len() as u64 > limits.file_bytes {
            bundle
                .passed_over
                .push(format!("{path}: larger than it declared"));
            continue;
        }
        if name == HANDLER {
            bundle.handler = Some(handler(&String::from_utf8_lossy(&bytes)));
        } else if is_libpq(&name) {
            match Elf::parse(&bytes) {
                Ok(elf) => {
                    let libpq = read_libpq(&path, &name, &elf, &bytes);
                    // A versioned file (libpq.so.5.7) says more than the bare soname copy.
                    if bundle.libpq.as_ref().is_none_or(|l| l.major.is_none()) {
                        bundle.libpq = Some(libpq);
                    }
                }
                Err(e) => bundle
                    .passed_over
                    .push(format!("{path}: not an ELF file ({e})")),
            }
        } else if let Some(abi) = native_abi(&name) {
            match Elf::parse(&bytes) {
                Ok(_) => bundle.native_modules.push(NativeModule {
                    path: path.clone(),
                    python: abi_python(&abi),
                    abi,
                }),
                Err(e) => bundle
                    .passed_over
                    .push(format!("{path}: not an ELF file ({e})")),
            }
        }
    }
    Ok(bundle)
}

/// A file name as it may be printed: no control characters, bounded.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn is_libpq(name: &str) -> bool {
    name == "libpq.so.5" || name.starts_with("libpq.so.5.")
}

/// The ABI tag of an extension module's file name: `X.cpython-37m-x86_64-linux-gnu.so` →
/// `cpython-37m`, `X.abi3.so` → `abi3`; none for other files.
fn native_abi(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".so")?;
    let tag = stem.split('.').nth(1)?;
    if tag == "abi3" {
        return Some(tag.to_string());
    }
    let rest = tag.strip_prefix("cpython-")?;
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (!version.is_empty()).then(|| format!("cpython-{version}"))
}

/// The Python version of a `cpython-XY[m]` tag (`cpython-37m` → 3.7, `cpython-310` → 3.10).
fn abi_python(abi: &str) -> Option<(u32, u32)> {
    let digits: String = abi
        .strip_prefix("cpython-")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let major = digits.get(..1)?.parse().ok()?;
    let minor = digits.get(1..)?.parse().ok()?;
    Some((major, minor))
}

/// The Python version of a Lambda runtime (`python3.9` → 3.9).
pub fn runtime_python(runtime: &str) -> Option<(u32, u32)> {
    let (major, minor) = runtime.strip_prefix("python")?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn read_libpq(path: &str, name: &str, elf: &Elf<'_>, bytes: &[u8]) -> Libpq {
    let runpaths: Vec<String> = elf
        .runpaths
        .iter()
        .chain(elf.rpaths.iter())
        .map(|s| printable(s))
        .collect();
    let major = runpaths
        .iter()
        .find_map(|r| pg_major_in(r))
        .map(|m| (m, "runpath"))
        .or_else(|| libpq_minor_major(name).map(|m| (m, "file name")))
        .or_else(|| {
            // Build paths compiled into the library (its locale directory, say) name the
            // PostgreSQL it was built from; read only the read-only data sections.
            elf.section_headers
                .iter()
                .filter(|sh| {
                    matches!(
                        elf.shdr_strtab.get_at(sh.sh_name),
                        Some(".rodata") | Some(".dynstr")
                    )
                })
                .filter_map(|sh| {
                    let start = usize::try_from(sh.sh_offset).ok()?;
                    let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
                    bytes.get(start..end)
                })
                .flat_map(|data| data.split(|b| *b == 0))
                .filter_map(|s| std::str::from_utf8(s).ok())
                .find_map(pg_major_in)
                .map(|m| (m, "version string"))
        });
    Libpq {
        path: path.to_string(),
        runpaths,
        major,
    }
}

/// The PostgreSQL major version a path or string names: `postgresql-9.4.26`, `PostgreSQL-9.4.x`,
/// `pgsql-9.4`, `postgresql/14`, `PostgreSQL 14.5`. Versions before 10 have two-part majors;
/// only the first part matters here (9.x has no SCRAM-SHA-256).
pub fn pg_major_in(text: &str) -> Option<u32> {
    let lower = text.to_ascii_lowercase();
    for marker in ["postgresql-", "pgsql-", "postgresql/", "postgresql "] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(marker) {
            let start = from + i + marker.len();
            let digits: String = lower[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(major) = digits.parse::<u32>() {
                if (6..100).contains(&major) {
                    return Some(major);
                }
            }
            from = start;
        }
    }
    None
}

/// libpq's file name carries its minor soname version, which tracks the PostgreSQL release:
/// `libpq.so.5.7` is 9.4, `.8` 9.5, `.9` 9.6, then `.10` is 10, `.14` is 14.
fn libpq_minor_major(name: &str) -> Option<u32> {
    let minor: u32 = name
        .strip_prefix("libpq.so.5.")?
        .split('.')
        .next()?
        .parse()
        .ok()?;
    match minor {
        0..=9 => Some(9),
        m => Some(m),
    }
}

/// What the handler source shows (read as text, never run).
fn handler(source: &str) -> Handler {
    let tls =
        source.contains("get_ssl_config") || source.contains("sslmode") || source.contains("ssl=");
    let version_test = source.contains(".startswith(\"8\")") || source.contains(".startswith('8')");
    Handler {
        tls,
        mysql_version_test_8_only: version_test && source.contains("PASSWORD("),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn abi_tags_give_the_python_they_need() {
        assert_eq!(
            native_abi("_pg.cpython-37m-x86_64-linux-gnu.so").as_deref(),
            Some("cpython-37m")
        );
        assert_eq!(abi_python("cpython-37m"), Some((3, 7)));
        assert_eq!(abi_python("cpython-310"), Some((3, 10)));
        assert_eq!(native_abi("_cffi.abi3.so").as_deref(), Some("abi3"));
        assert_eq!(abi_python("abi3"), None);
        assert_eq!(native_abi("libpq.so.5"), None);
        assert_eq!(native_abi("plain.so"), None);
        assert_eq!(runtime_python("python3.9"), Some((3, 9)));
        assert_eq!(runtime_python("nodejs20.x"), None);
    }

    #[test]
    fn postgres_versions_are_read_from_paths_and_names() {
        assert_eq!(pg_major_in("/opt/PostgreSQL-9.4.x/lib"), Some(9));
        assert_eq!(pg_major_in("/var/task/postgresql-14.5/lib"), Some(14));
        assert_eq!(pg_major_in("/usr/pgsql-9.4/share/locale"), Some(9));
        assert_eq!(pg_major_in("/usr/lib/postgresql/16/lib"), Some(16));
        assert_eq!(pg_major_in("$ORIGIN"), None);
        assert_eq!(pg_major_in("postgresql-x"), None);
        assert_eq!(libpq_minor_major("libpq.so.5.7"), Some(9));
        assert_eq!(libpq_minor_major("libpq.so.5.14"), Some(14));
        assert_eq!(libpq_minor_major("libpq.so.5"), None);
    }

    #[test]
    fn handler_sources_say_tls_and_the_mysql_version_test() {
        let old = "conn = pymysql.connect(host, user=u, passwd=p, port=port, db=dbname, connect_timeout=5)\nif version.startswith(\"8\"):\n    return \"%s\"\nreturn \"PASSWORD(%s)\"";
        assert_eq!(
            handler(old),
            Handler {
                tls: false,
                mysql_version_test_8_only: true
            }
        );
        let new = "use_ssl, fall_back = get_ssl_config(secret_dict)\nconn = pgdb.connect(host=h, sslmode='verify-full')";
        assert_eq!(
            handler(new),
            Handler {
                tls: true,
                mysql_version_test_8_only: false
            }
        );
    }

    #[test]
    fn a_package_that_is_not_a_zip_or_too_large_is_refused_with_a_reason() {
        assert!(matches!(
            read(b"PK\x03\x04 but no more", Limits::default()),
            Err(BundleError::NotAZip(_))
        ));
        let zip = zip_of(&[("lambda_function.py", b"print(1)")]);
        let small = Limits {
            zip_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            read(&zip, small),
            Err(BundleError::TooLarge { .. })
        ));
        let few = Limits {
            entries: 0,
            ..Limits::default()
        };
        assert!(matches!(read(&zip, few), Err(BundleError::Bomb(_))));
    }

    #[test]
    fn a_declared_size_beyond_lambdas_limit_is_a_bomb_not_a_read() {
        let big = vec![0u8; 64 * 1024];
        let zip = zip_of(&[("blob.bin", &big)]);
        let tight = Limits {
            unzipped_bytes: 1024,
            ..Limits::default()
        };
        assert!(matches!(read(&zip, tight), Err(BundleError::Bomb(_))));
    }

    #[test]
    fn non_elf_files_named_so_and_unsafe_paths_are_passed_over() {
        let zip = zip_of(&[
            ("pg/_pg.cpython-37m-x86_64-linux-gnu.so", b"not an elf"),
            ("libpq.so.5", b"#!/bin/sh\n"),
            ("../../etc/lambda_function.py", b"x"),
            ("lambda_function.py", b"import pgdb\n"),
        ]);
        let b = read(&zip, Limits::default()).unwrap();
        assert!(b.native_modules.is_empty());
        assert!(b.libpq.is_none());
        assert_eq!(b.passed_over.len(), 3, "{:?}", b.passed_over);
        assert!(b.passed_over.iter().any(|p| p.contains("unsafe path")));
        assert_eq!(b.handler, Some(Handler::default()));
    }

    #[test]
    fn a_file_larger_than_the_read_bound_is_passed_over() {
        let zip = zip_of(&[("lambda_function.py", &[b'#'; 4096])]);
        let tight = Limits {
            file_bytes: 100,
            ..Limits::default()
        };
        let b = read(&zip, tight).unwrap();
        assert!(b.handler.is_none());
        assert!(b.passed_over[0].contains("more than the 100 read"));
    }

    /// A real shared object from the C compiler here, with the RUNPATH given.
    pub(crate) fn shared_object(name: &str, runpath: Option<&str>) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!(
            "dsr-elf-{}-{}",
            std::process::id(),
            name.replace('/', "_")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("x.c");
        std::fs::write(&src, "int dsr_fixture(void) { return 42; }\n").unwrap();
        let out = dir.join("out.so");
        let mut cc = std::process::Command::new("cc");
        cc.args(["-shared", "-fPIC", "-o"]).arg(&out).arg(&src);
        if let Some(r) = runpath {
            cc.arg(format!("-Wl,-rpath,{r}"))
                .arg("-Wl,--enable-new-dtags");
        }
        let status = cc
            .status()
            .expect("a C compiler (cc) builds the ELF fixtures: install gcc");
        assert!(status.success(), "cc failed");
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        bytes
    }

    #[test]
    fn real_shared_objects_give_their_abi_and_libpq_runpath() {
        let module = shared_object("pg", None);
        let old = shared_object("libpq94", Some("/opt/PostgreSQL-9.4.x/lib"));
        let zip = zip_of(&[
            ("lambda_function.py", b"import pgdb\n"),
            ("pg/_pg.cpython-37m-x86_64-linux-gnu.so", &module),
            ("libpq.so.5", &old),
        ]);
        let b = read(&zip, Limits::default()).unwrap();
        assert_eq!(b.native_modules.len(), 1);
        assert_eq!(b.native_modules[0].python, Some((3, 7)));
        let libpq = b.libpq.unwrap();
        assert_eq!(
            libpq.runpaths,
            vec!["/opt/PostgreSQL-9.4.x/lib".to_string()]
        );
        assert_eq!(libpq.major, Some((9, "runpath")));
        assert!(b.passed_over.is_empty(), "{:?}", b.passed_over);
        // A libpq whose RUNPATH names no version, shipped under its versioned file name.
        let plain = shared_object("libpq14", Some("$ORIGIN"));
        let zip = zip_of(&[("lib/libpq.so.5.14", &plain)]);
        let libpq = read(&zip, Limits::default()).unwrap().libpq.unwrap();
        assert_eq!(libpq.major, Some((14, "file name")));
    }
}
