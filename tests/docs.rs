//! The README and the docs tell the truth about each other:
//!
//! - the headline figures of the default run are one machine-readable line,
//!   `<!-- headline: key=value ... -->`, in both README.md and docs/results.md; the two lines must
//!   be equal, and each figure of the line must appear in the visible text of both pages (an `_`
//!   in a value stands for a space: `recognised=82.4_%` is "82.4 %"), so that a figure changed in
//!   one place and not the other fails here;
//! - every relative link and image of README.md, CHANGELOG.md and docs/*.md names a file of the
//!   repository, and every `#anchor` into a Markdown page names one of its headings (GitHub's
//!   rule for heading anchors).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The figures of the headline line that the reader sees on both pages.
const FIGURES: [&str; 6] = ["steps", "train_time", "bound_bits_per_dim", "recognised", "frechet", "frechet_real"];
/// Where and when they were measured: on the results page.
const PROVENANCE: [&str; 3] = ["train_commit", "eval_commit", "date"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text with every HTML comment removed: what a reader of the rendered page sees.
fn visible(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// The `key=value` pairs of the one `<!-- headline: ... -->` line of a page.
fn headline(page: &str, text: &str) -> Result<BTreeMap<String, String>, String> {
    const OPEN: &str = "<!-- headline:";
    let count = text.matches(OPEN).count();
    if count != 1 {
        return Err(format!("{page}: {count} headline lines, expected exactly one"));
    }
    let start = text.find(OPEN).unwrap() + OPEN.len();
    let end = text[start..].find("-->").ok_or_else(|| format!("{page}: the headline line is not closed"))?;
    let mut pairs = BTreeMap::new();
    for token in text[start..start + end].split_whitespace() {
        let (key, value) =
            token.split_once('=').ok_or_else(|| format!("{page}: headline token {token:?} is not key=value"))?;
        if pairs.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format!("{page}: headline key {key} appears twice"));
        }
    }
    Ok(pairs)
}

/// Compares the headline lines of the README and the results page, and looks for each figure
/// in the visible text of both (and for the commits and the date on the results page).
fn check_headline(readme: &str, results: &str) -> Result<(), String> {
    let a = headline("README.md", readme)?;
    let b = headline("docs/results.md", results)?;
    for key in FIGURES.iter().chain(PROVENANCE.iter()) {
        if !a.contains_key(*key) {
            return Err(format!("README.md: the headline line has no {key}"));
        }
    }
    if a != b {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let differ: Vec<String> = keys
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| format!("{k}: README {:?}, results {:?}", a.get(k), b.get(k)))
            .collect();
        return Err(format!("the headline lines of README.md and docs/results.md differ: {}", differ.join("; ")));
    }
    let (readme_seen, results_seen) = (visible(readme), visible(results));
    for key in FIGURES {
        let figure = a[key].replace('_', " ");
        for (page, seen) in [("README.md", &readme_seen), ("docs/results.md", &results_seen)] {
            if !seen.contains(&figure) {
                return Err(format!("{page}: the headline's {key} = {figure:?} is not in the page's visible text"));
            }
        }
    }
    for key in PROVENANCE {
        if !results_seen.contains(a[key].as_str()) {
            return Err(format!("docs/results.md: the headline's {key} = {:?} is not in the visible text", a[key]));
        }
    }
    Ok(())
}

#[test]
fn readme_and_results_agree_on_the_headline_figures() {
    if let Err(e) = check_headline(&read("README.md"), &read("docs/results.md")) {
        panic!("{e}");
    }
}

#[test]
fn a_figure_changed_on_one_page_only_is_caught() {
    let line = "<!-- headline: steps=8000 train_time=25_min bound_bits_per_dim=1.5 recognised=80.0_% \
                frechet=26.0 frechet_real=25.9 train_commit=abc1234 eval_commit=def5678 date=2026-01-01 -->";
    let readme = format!("{line}\n8000 steps in 25 min: 1.5 bits/dim, 80.0 % recognised, Fréchet 26.0 (real 25.9)\n");
    let results = format!("{readme}trained at abc1234, judged at def5678 on 2026-01-01\n");
    assert_eq!(check_headline(&readme, &results), Ok(()));

    // The machine-readable line of one page changed: the lines differ.
    let edited = results.replacen("recognised=80.0_%", "recognised=81.0_%", 1);
    let err = check_headline(&readme, &edited).unwrap_err();
    assert!(err.contains("differ") && err.contains("recognised"), "{err}");

    // The visible figure of one page changed: the line's figure is missing from that page.
    let edited = readme.replace("80.0 % recognised", "81.0 % recognised");
    let err = check_headline(&edited, &results).unwrap_err();
    assert!(err.starts_with("README.md") && err.contains("recognised"), "{err}");

    // A commit the results page does not name.
    let edited = results.replace("judged at def5678", "judged later");
    assert!(check_headline(&readme, &edited).unwrap_err().contains("eval_commit"));

    // A figure only inside a comment does not count as visible.
    assert_eq!(visible("a <!-- 82.4 % --> b"), "a  b");
}

/// Lines outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            lines.push(line);
        }
    }
    lines
}

/// GitHub's anchor of a heading: lower case, punctuation dropped (letters, digits, spaces,
/// `-` and `_` kept), spaces to `-`; a repeated anchor gets `-1`, `-2`, ...
fn anchors(text: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for line in prose_lines(text) {
        let Some(title) = line.strip_prefix('#') else { continue };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.push(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

/// The targets of `[text](target)` links and `src="target"` images, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        // Inline code spans may hold anything: drop them.
        let mut prose = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                prose.push_str(part);
            }
        }
        for (open, close) in [("](", ')'), ("src=\"", '"')] {
            let mut rest = prose.as_str();
            while let Some(i) = rest.find(open) {
                rest = &rest[i + open.len()..];
                if let Some(j) = rest.find(close) {
                    targets.push(rest[..j].to_string());
                    rest = &rest[j..];
                }
            }
        }
    }
    targets
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn check_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let name = page.strip_prefix(root()).unwrap().display().to_string();
    let mut broken = Vec::new();
    for target in link_targets(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((f, a)) => (f, Some(a)),
            None => (target.as_str(), None),
        };
        let path = if file.is_empty() { page.to_path_buf() } else { page.parent().unwrap().join(file) };
        if !path.exists() {
            broken.push(format!("{name}: {target} (no such file)"));
            continue;
        }
        if let Some(anchor) = anchor {
            if path.extension().is_some_and(|x| x == "md") {
                let heads = anchors(&std::fs::read_to_string(&path).unwrap());
                if !heads.iter().any(|h| h == anchor) {
                    broken.push(format!("{name}: {target} (no heading with that anchor)"));
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_resolves() {
    let broken: Vec<String> = pages().iter().flat_map(|p| check_links(p)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_githubs_rule() {
    // GitHub's rule (as github-slugger implements it) on a few headings of this repository.
    let text = "# Results\n## 2026-12-05, the README's pictures (committed in 74be4f6)\n```\n# not a heading\n```\n## Now: `make bench`\n## Results\n";
    assert_eq!(
        anchors(text),
        ["results", "2026-12-05-the-readmes-pictures-committed-in-74be4f6", "now-make-bench", "results-1"]
    );
    assert_eq!(link_targets("see [a](b.md#c) and `[x](y)` <img src=\"d.png\">"), ["b.md#c", "d.png"]);
}
