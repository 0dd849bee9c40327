//! The architecture, checked against the code so it cannot drift:
//!
//! - the crate graph in `docs/architecture.md` equals the one `cargo metadata` reports;
//! - the layering rules hold (nothing points back up; the pure crates know no I/O);
//! - no two modules of one crate import each other (directly or through others).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    cgaf_test_kit::workspace_root()
}

/// Our crates (workspace members, minus the test fixture plugins) → their normal dependencies,
/// ours by name and the external ones that matter for layering.
struct Graph {
    ours: BTreeMap<String, BTreeSet<String>>,
    external: BTreeMap<String, BTreeSet<String>>,
    dirs: BTreeMap<String, PathBuf>,
}

fn graph() -> Graph {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages.iter().filter_map(|p| p["name"].as_str()).map(str::to_string).collect();
    let root = workspace_root();
    let mut g = Graph { ours: BTreeMap::new(), external: BTreeMap::new(), dirs: BTreeMap::new() };
    for p in packages {
        let name = p["name"].as_str().unwrap().to_string();
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap().to_path_buf();
        if dir.starts_with(root.join("tests/plugins")) {
            continue; // test fixtures: each depends on the SDK only, checked by the plugin rule
        }
        let mut ours = BTreeSet::new();
        let mut external = BTreeSet::new();
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap().to_string();
            let kind = d["kind"].as_str();
            if kind.is_some() {
                continue; // dev- and build-dependencies are not part of the graph
            }
            if members.contains(&dep) {
                ours.insert(dep);
            } else {
                external.insert(dep);
            }
        }
        g.dirs.insert(name.clone(), dir);
        g.ours.insert(name.clone(), ours);
        g.external.insert(name, external);
    }
    g
}

/// The graph as the Markdown block of `docs/architecture.md`.
fn render(g: &Graph) -> String {
    let root = workspace_root();
    let mut s = String::new();
    for (name, deps) in &g.ours {
        let dir = g.dirs[name].strip_prefix(&root).unwrap().display().to_string();
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        let deps = if deps.is_empty() { "—".to_string() } else { deps.join(", ") };
        s.push_str(&format!("| `{name}` | `{dir}/` | {deps} |\n"));
    }
    s
}

const BEGIN: &str =
    "<!-- crate-graph:begin (generated from cargo metadata; host/tests/architecture.rs checks it) -->\n";
const END: &str = "<!-- crate-graph:end -->";
const HEADER: &str = "| crate | folder | depends on (ours) |\n|---|---|---|\n";

#[test]
fn the_documented_crate_graph_is_the_real_one() {
    let doc_path = workspace_root().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/architecture.md");
    let begin = doc.find(BEGIN).expect("the crate-graph begin marker") + BEGIN.len();
    let end = doc.find(END).expect("the crate-graph end marker");
    let documented = &doc[begin..end];
    let actual = format!("{HEADER}{}", render(&graph()));
    assert_eq!(documented, actual, "docs/architecture.md is stale; its crate graph should read:\n{actual}");
}

#[test]
fn layers_point_down_only() {
    let g = graph();
    let deps = |c: &str| g.ours.get(c).unwrap_or_else(|| panic!("crate {c} is missing"));
    let ext = |c: &str| &g.external[c];
    // The store holds queries only: no worker, no runtime, no API. (It reads and writes the trade
    // domain's row types and enums — `DecisionRow`, `Bar`, `RunMode` — so there is one definition
    // of a decision-log row; it must not use the domain's rules.)
    for c in ["cgaf-trade", "cgaf-collect", "cgaf-calculate", "cgaf-api", "cgaf-runtime"] {
        assert!(!deps("cgaf-store").contains(c), "store depends on {c}");
    }
    // The runtime knows nothing about PostgreSQL.
    assert!(!deps("cgaf-runtime").contains("cgaf-store"));
    assert!(!ext("cgaf-runtime").contains("tokio-postgres"));
    // The pure crates know no I/O.
    for c in ["cgaf-trade-domain", "cgaf-kernels", "cgaf-plugin-contract"] {
        for io in ["tokio", "tokio-postgres", "deadpool-postgres", "wasmtime", "warp", "reqwest"] {
            assert!(!ext(c).contains(io), "{c} depends on {io}");
        }
        for ours in ["cgaf-store", "cgaf-runtime"] {
            assert!(!deps(c).contains(ours), "{c} depends on {ours}");
        }
    }
    // Workers don't depend on each other or on the API; nothing depends on the binary.
    let workers = ["cgaf-collect", "cgaf-calculate", "cgaf-trade"];
    for w in workers {
        for other in workers.iter().chain(["cgaf-api"].iter()) {
            assert!(w == *other || !deps(w).contains(*other), "{w} depends on {other}");
        }
    }
    for (c, d) in &g.ours {
        assert!(!d.contains("cgaf"), "{c} depends on the binary");
    }
    // The embedded server and the test support know none of the service's crates.
    assert!(deps("cgaf-embedded-postgres").is_empty());
    // Plugins depend on the SDK (and the kernels, the contract) and nothing else of ours.
    for (c, d) in &g.ours {
        if g.dirs[c].starts_with(workspace_root().join("plugins")) && c.starts_with("cgaf-plugin-") {
            let allowed = ["cgaf-plugin-sdk", "cgaf-kernels", "cgaf-plugin-contract"];
            for dep in d {
                assert!(allowed.contains(&dep.as_str()), "plugin {c} depends on {dep}");
            }
        }
    }
}

#[test]
fn the_api_uses_only_the_workers_public_entry_points() {
    // The API may call what `cgaf_trade` and `cgaf_calculate` export at their roots (request
    // checks, the decision-log export and its replayed states, the matrix sweep's submission) and the trade domain's
    // types, never a module inside a worker.
    let api = workspace_root().join("api/src");
    let mut found = Vec::new();
    for f in walk(&api) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            for (krate, allowed) in [
                ("cgaf_trade::", &["domain", "decision_log_sha256", "fill_strategy_states", "load_strategy"][..]),
                ("cgaf_calculate::", &["submit_matrix_sweep"][..]),
            ] {
                for (at, _) in line.match_indices(krate) {
                    let rest = &line[at + krate.len()..];
                    let segment: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    let is_module = segment.chars().next().is_some_and(|c| c.is_lowercase());
                    if is_module && !allowed.contains(&segment.as_str()) {
                        found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "the API reaches into a worker: {found:#?}");
}

/// Top-level modules of a crate's `src/` and which others each refers to (`crate::name`).
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in walk(src) {
        let rel = entry.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let name = first.trim_end_matches(".rs").to_string();
        if name == "lib" || name == "main" || name == "bin" {
            continue; // the crate root declares and re-exports its modules
        }
        modules.entry(name).or_default().push(entry);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .into_iter()
        .map(|(m, files)| {
            let mut uses = BTreeSet::new();
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                // Production code only: a module's unit tests (at its end, after `#[cfg(test)]`)
                // may use anything of the crate.
                let text = text.split("\n#[cfg(test)]").next().unwrap_or_default();
                // Only code, not docs: drop comment lines.
                for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    for (i, _) in line.match_indices("crate::") {
                        let rest = &line[i + "crate::".len()..];
                        let target: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        if target != m && names.contains(&target) {
                            uses.insert(target);
                        }
                    }
                    // `use crate::{a, b::c}` groups.
                    if let Some(group) = line.split("crate::{").nth(1) {
                        for part in group.split([',', '}']) {
                            let target: String =
                                part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                            if target != m && names.contains(&target) {
                                uses.insert(target);
                            }
                        }
                    }
                }
            }
            (m, uses)
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// A cycle in `g`, if any, as the modules along it.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_module_cycles_inside_a_crate() {
    let g = graph();
    let mut cycles = Vec::new();
    for (name, dir) in &g.dirs {
        let src = dir.join("src");
        if !src.is_dir() {
            continue;
        }
        if let Some(c) = find_cycle(&module_imports(&src)) {
            cycles.push(format!("{name}: {}", c.join(" → ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:#?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let dag: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), ["b".to_string()].into()), ("b".to_string(), BTreeSet::new())].into();
    assert!(find_cycle(&dag).is_none());
}

#[test]
fn the_sdk_vendors_the_contract_wit_unchanged() {
    // The SDK carries its own copy of the contract so it builds outside this workspace (as a
    // git, path or registry dependency); it must be the contract, byte for byte.
    let root = workspace_root();
    let contract = std::fs::read_to_string(root.join("wit/plugin.wit")).expect("wit/plugin.wit");
    let vendored =
        std::fs::read_to_string(root.join("plugins/sdk/wit/plugin.wit")).expect("plugins/sdk/wit/plugin.wit");
    assert!(
        contract == vendored,
        "plugins/sdk/wit/plugin.wit differs from wit/plugin.wit: copy it (cp wit/plugin.wit plugins/sdk/wit/)"
    );
    // And the draft next version its `export_strategy_next!` speaks.
    let next = std::fs::read_to_string(root.join("wit/next/plugin.wit")).expect("wit/next/plugin.wit");
    let vendored =
        std::fs::read_to_string(root.join("plugins/sdk/wit-next/plugin.wit")).expect("plugins/sdk/wit-next/plugin.wit");
    assert!(
        next == vendored,
        "plugins/sdk/wit-next/plugin.wit differs from wit/next/plugin.wit: copy it (cp wit/next/plugin.wit plugins/sdk/wit-next/)"
    );
}

/// sha256 of `wit/plugin.wit` as released (`gaf:plugin@0.1.0`, unchanged since it was written).
const RELEASED_CONTRACT_SHA256: &str = "68ab52999dbc4d73dc4bc6145894f3208f3e8f48de33b520e0d456a37d267b11";

#[test]
fn the_released_contract_is_frozen() {
    // Uploaded plugins were built against these bytes: a released WIT package never changes.
    // A change to the contract is a new package version (gaf:plugin@0.2.0) in its own file,
    // served beside this one (docs/writing-plugins.md, "Contract versions").
    use sha2::Digest;
    let text = std::fs::read(workspace_root().join("wit/plugin.wit")).expect("wit/plugin.wit");
    let sha = hex::encode(sha2::Sha256::digest(&text));
    assert!(
        String::from_utf8_lossy(&text).contains("package gaf:plugin@0.1.0;"),
        "wit/plugin.wit must stay the 0.1.0 package"
    );
    assert_eq!(
        sha, RELEASED_CONTRACT_SHA256,
        "wit/plugin.wit (gaf:plugin@0.1.0, released) changed: put changes in a new version instead"
    );
}

#[test]
fn the_sdk_packages_self_contained() {
    // `cargo package` of the SDK with the two crates it depends on (not on crates.io yet, so
    // they are packaged together; cargo resolves them against each other). --no-verify: the
    // compile is covered by the tests that build plugins outside the workspace.
    let root = workspace_root();
    let target = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["package", "--no-verify", "--allow-dirty", "--offline"])
        .args(["-p", "cgaf-plugin-contract", "-p", "cgaf-kernels", "-p", "cgaf-plugin-sdk"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo package failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let version = std::fs::read_to_string(root.join("plugins/sdk/Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("version = \"").and_then(|v| v.strip_suffix('"')).map(str::to_string))
        .expect("the SDK's own version line");
    let krate = target.path().join(format!("package/cgaf-plugin-sdk-{version}.crate"));
    let unpacked = target.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .args(["xzf", krate.to_str().unwrap(), "-C", unpacked.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(tar.success(), "unpacking {}", krate.display());
    let dir = unpacked.join(format!("cgaf-plugin-sdk-{version}"));
    let wit = std::fs::read_to_string(dir.join("wit/plugin.wit")).expect("the packaged SDK carries wit/plugin.wit");
    assert_eq!(wit, std::fs::read_to_string(root.join("wit/plugin.wit")).unwrap());
    let next = std::fs::read_to_string(dir.join("wit-next/plugin.wit")).expect("the packaged SDK carries wit-next/");
    assert_eq!(next, std::fs::read_to_string(root.join("wit/next/plugin.wit")).unwrap());
    assert!(dir.join("wit-next/sdk.wit").is_file(), "the packaged SDK carries wit-next/sdk.wit");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("workspace = true") && !manifest.contains(".workspace"), "{manifest}");
    let parsed: toml::Table = toml::from_str(&manifest).unwrap();
    let deps = parsed["dependencies"].as_table().expect("[dependencies]");
    for (name, dep) in deps {
        assert!(dep.get("path").is_none(), "a path dependency {name} left in the packaged manifest:\n{manifest}");
        assert!(dep.get("version").is_some(), "{name} has no version:\n{manifest}");
    }
    for dep in ["cgaf-plugin-contract", "wit-bindgen"] {
        assert!(deps.contains_key(dep), "{dep} missing:\n{manifest}");
    }
}
