//! pare's HTML reports (`--format html` of audit, diff, gate and compare): one self-contained file
//! each, no network, no external script, style or font. A Content-Security-Policy in the page lets
//! only its own inline style and script run (by their SHA-256 hashes) and loads nothing else, so a
//! report opened from a CI artifact cannot reach out. Charts are inline SVG (`svg`); everything is
//! readable without JavaScript, and a few lines of inline script add search and sorting to the
//! tables. The output is a pure function of the report: no clock, no randomness, fixed number
//! formats. Written by hand rather than with a template engine: a handful of fixed pages need one
//! escape function, not a template language.

pub mod svg;

use std::fmt::Write;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::audit::{AuditReport, Audited, WasteKind};
use crate::compare::{CompareReport, SEVERITIES};
use crate::diff::DiffReport;
use crate::findings::{self, Finding};
use crate::gate::{GateReport, Measure};
use crate::units::{human_bytes, percent, signed_bytes};
use svg::{bar_chart, treemap, Bar, Tree};

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px;font-weight:600}
header p{margin:4px 0 0;color:#c5cad3;font-size:13px;word-break:break-all}
main{padding:8px 24px 32px;max-width:1240px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:16px 0;padding:12px 16px}
h2{font-size:16px;margin:4px 0 10px}
.chart{max-width:100%;height:auto;font-size:11px}
.chart text{fill:#1d2330}
.treemap text{font-size:10px;pointer-events:none}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f0f2f5;cursor:pointer;user-select:none}
code{font-size:12px;word-break:break-all}
.sev{font-weight:600;text-transform:uppercase;font-size:11px;padding:1px 6px;border-radius:3px;color:#fff}
.critical{background:#8b1a1a}.high{background:#d0453a}.medium{background:#e08e1b}.low{background:#5b8dc9}.info{background:#8a94a3}
.pass{color:#1e7b34;font-weight:700}.fail{color:#b3261e;font-weight:700}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:13px}
.kv dt{color:#5a6372}.kv dd{margin:0}
input.search{margin:0 0 8px;padding:4px 8px;width:320px;max-width:100%;font:inherit;font-size:13px}
.note{color:#5a6372;font-size:12px}
.yes{color:#1e7b34}.no{color:#b3261e}
"#;

/// Search boxes filter the rows of the table they name; a click on a header sorts by that column
/// (numbers by their `data-v`).
const SCRIPT: &str = r#"
document.querySelectorAll('input.search').forEach(function(box){
  var table=document.getElementById(box.dataset.table);
  box.addEventListener('input',function(){
    var q=box.value.toLowerCase();
    table.querySelectorAll('tbody tr').forEach(function(r){
      r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;
    });
  });
});
document.querySelectorAll('table.sortable th').forEach(function(th){
  th.addEventListener('click',function(){
    var table=th.closest('table'),body=table.tBodies[0],i=th.cellIndex;
    var up=th.dataset.dir!=='up';th.dataset.dir=up?'up':'down';
    var key=function(r){var c=r.cells[i];if(!c)return '';var v=c.dataset.v;return v!==undefined?parseFloat(v):c.textContent;};
    Array.prototype.slice.call(body.rows).sort(function(a,b){
      var x=key(a),y=key(b),d=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
      return up?d:-d;
    }).forEach(function(r){body.appendChild(r);});
  });
});
"#;

fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A report page being written.
struct Page {
    title: String,
    subtitle: String,
    body: String,
}

impl Page {
    fn new(title: &str, subtitle: &str) -> Self {
        Self {
            title: title.to_string(),
            subtitle: subtitle.to_string(),
            body: String::new(),
        }
    }

    /// A section with a heading and already-escaped HTML.
    fn section(&mut self, id: &str, heading: &str, html: &str) {
        let _ = write!(
            self.body,
            r#"<section id="{id}"><h2>{}</h2>{html}</section>"#,
            escape(heading)
        );
    }

    fn finish(self) -> String {
        let policy = format!(
            "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
            csp_hash(STYLE),
            csp_hash(SCRIPT)
        );
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"generator\" content=\"pare {version}\">\
             <title>{title}</title><style>{STYLE}</style></head>\n<body><header><h1>{title}</h1><p>{subtitle}</p></header><main>{body}</main>\
             <script>{SCRIPT}</script></body></html>\n",
            version = env!("CARGO_PKG_VERSION"),
            title = escape(&self.title),
            subtitle = escape(&self.subtitle),
            body = self.body,
        )
    }
}

/// A table: headers (a trailing `#` marks a numeric column) and rows of already-escaped cells; a
/// numeric cell is `(sort value, html)`.
struct Table {
    id: String,
    headers: Vec<(&'static str, bool)>,
    rows: Vec<Vec<Cell>>,
    searchable: bool,
}

enum Cell {
    Text(String),
    Number(f64, String),
}

impl Table {
    fn new(id: &str, headers: &[&'static str]) -> Self {
        Self {
            id: id.to_string(),
            headers: headers
                .iter()
                .map(|h| match h.strip_suffix('#') {
                    Some(name) => (name, true),
                    None => (*h, false),
                })
                .collect(),
            rows: Vec::new(),
            searchable: false,
        }
    }

    fn searchable(mut self) -> Self {
        self.searchable = true;
        self
    }

    fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if self.searchable {
            let _ = write!(
                out,
                r#"<input class="search" type="search" placeholder="Filter rows" aria-label="Filter rows" data-table="{}">"#,
                self.id
            );
        }
        let _ = write!(
            out,
            r#"<table id="{}" class="sortable"><thead><tr>"#,
            self.id
        );
        for (name, numeric) in &self.headers {
            let _ = write!(
                out,
                "<th{}>{}</th>",
                if *numeric { r#" class="n""# } else { "" },
                escape(name)
            );
        }
        out.push_str("</tr></thead><tbody>");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                match cell {
                    Cell::Text(html) => {
                        let _ = write!(out, "<td>{html}</td>");
                    }
                    Cell::Number(v, html) => {
                        let _ = write!(out, r#"<td class="n" data-v="{v}">{html}</td>"#);
                    }
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        out
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(escape(s))
}

fn code(s: &str) -> Cell {
    Cell::Text(format!("<code>{}</code>", escape(s)))
}

fn bytes(n: u64) -> Cell {
    Cell::Number(n as f64, escape(&human_bytes(n)))
}

fn count(n: usize) -> Cell {
    Cell::Number(n as f64, n.to_string())
}

fn delta(n: i64) -> Cell {
    Cell::Number(n as f64, escape(&signed_bytes(n)))
}

fn severity_badge(name: &str) -> String {
    format!(r#"<span class="sev {name}">{name}</span>"#)
}

/// Key-value pairs, values already escaped.
fn facts(pairs: &[(&str, String)]) -> String {
    let mut out = String::from(r#"<dl class="kv">"#);
    for (k, v) in pairs {
        let _ = write!(out, "<dt>{}</dt><dd>{v}</dd>", escape(k));
    }
    out.push_str("</dl>");
    out
}

/// Rows a table shows at most; the JSON report has them all.
const MAX_ROWS: usize = 2000;

fn more_rows(total: usize) -> String {
    if total > MAX_ROWS {
        format!(
            r#"<p class="note">{} more not shown; <code>--format json</code> lists every one.</p>"#,
            total - MAX_ROWS
        )
    } else {
        String::new()
    }
}

/// One bar per layer: stored size, the history step as its title.
fn layer_bars(id: &str, layers: &[(u64, u64, Option<String>, bool)]) -> String {
    let bars: Vec<Bar> = layers
        .iter()
        .enumerate()
        .map(|(i, (size, uncompressed, created_by, shared))| Bar {
            label: format!("layer {i}{}", if *shared { " (shared)" } else { "" }),
            value: *size,
            text: format!(
                "{} ({} unpacked)",
                human_bytes(*size),
                human_bytes(*uncompressed)
            ),
            title: created_by
                .clone()
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| format!("layer {i} (no history step recorded)")),
            class: if *shared { "layer shared" } else { "layer" },
            colour: if *shared { 5 } else { 0 },
        })
        .collect();
    bar_chart(id, "layers by stored size", &bars)
}

fn findings_table(list: &[Finding]) -> String {
    if list.is_empty() {
        return r#"<p class="pass">No findings.</p>"#.into();
    }
    let mut table = Table::new(
        "findings-table",
        &["severity", "rule", "where", "layer#", "reason"],
    )
    .searchable();
    for f in list.iter().take(MAX_ROWS) {
        let rule = findings::rule(f.rule);
        let rule_cell = match rule {
            Some(r) => format!(
                r#"<abbr title="{}">{}</abbr>"#,
                escape(&format!("{}: {}", r.title, r.help)),
                escape(f.rule)
            ),
            None => escape(f.rule),
        };
        let place = match f.path() {
            Some(p) => format!("<code>{}</code>", escape(p)),
            None => escape(f.location.describe().trim()),
        };
        table.row(vec![
            Cell::Number(f.severity as u8 as f64, severity_badge(f.severity.name())),
            Cell::Text(rule_cell),
            Cell::Text(place),
            match f.location.layer() {
                Some(l) => count(l),
                None => Cell::Number(-1.0, String::new()),
            },
            text(&f.reason),
        ]);
    }
    table.render() + &more_rows(list.len())
}

fn waste_name(kind: WasteKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `pare audit --format html`.
pub fn audit(audited: &Audited) -> String {
    let r: &AuditReport = &audited.report;
    let mut page = Page::new(
        &format!("pare audit: {}", r.image),
        &format!(
            "{} · {}",
            r.manifest_digest,
            r.os.as_deref().unwrap_or("unknown OS")
        ),
    );
    let verdict = if r.passed {
        r#"<span class="pass">PASS</span>"#.to_string()
    } else {
        format!(
            r#"<span class="fail">FAIL</span>: findings at or above {}"#,
            r.fail_on.name()
        )
    };
    let mut by_severity = String::new();
    for s in SEVERITIES {
        let n = r.findings.iter().filter(|f| f.severity == s).count();
        if n > 0 {
            let _ = write!(by_severity, "{} {n} ", severity_badge(s.name()));
        }
    }
    page.section(
        "summary",
        "Summary",
        &facts(&[
            ("verdict", verdict),
            (
                "user",
                escape(if r.user.is_empty() {
                    "(unset: root)"
                } else {
                    &r.user
                }),
            ),
            (
                "stored",
                escape(&format!(
                    "{} ({} bytes)",
                    human_bytes(r.compressed_size),
                    r.compressed_size
                )),
            ),
            (
                "uncompressed",
                escape(&format!(
                    "{} ({} bytes)",
                    human_bytes(r.uncompressed_size),
                    r.uncompressed_size
                )),
            ),
            ("in files", escape(&human_bytes(r.file_bytes))),
            ("layers", r.layers.len().to_string()),
            ("packages", r.packages.len().to_string()),
            ("waste", escape(&human_bytes(r.waste_bytes))),
            (
                "findings",
                if by_severity.is_empty() {
                    "none".into()
                } else {
                    by_severity
                },
            ),
        ]),
    );
    let layers: Vec<(u64, u64, Option<String>, bool)> = r
        .layers
        .iter()
        .map(|l| {
            (
                l.info.size,
                l.info.uncompressed_size,
                l.info.created_by.clone(),
                false,
            )
        })
        .collect();
    let mut layer_table = Table::new(
        "layers-table",
        &[
            "#",
            "stored#",
            "uncompressed#",
            "in files#",
            "entries#",
            "history step",
            "largest files",
        ],
    );
    for (i, l) in r.layers.iter().enumerate() {
        let largest = l
            .largest_files
            .iter()
            .map(|(p, s)| format!("<code>{}</code> {}", escape(p), escape(&human_bytes(*s))))
            .collect::<Vec<_>>()
            .join("<br>");
        layer_table.row(vec![
            count(i),
            bytes(l.info.size),
            bytes(l.info.uncompressed_size),
            bytes(l.file_bytes),
            Cell::Number(l.info.entries as f64, l.info.entries.to_string()),
            code(&format!(
                "{}{}",
                if l.base { "[base] " } else { "" },
                l.info.created_by.as_deref().unwrap_or("")
            )),
            Cell::Text(largest),
        ]);
    }
    page.section(
        "layers",
        "Layers",
        &(layer_bars("layer-chart", &layers) + &layer_table.render()),
    );
    let tree = Tree::from_files(
        audited
            .contents
            .files
            .iter()
            .filter(|(_, f)| f.info.kind == pare_oci::read::FileKind::File)
            .map(|(p, f)| (p.as_str(), f.info.size)),
    );
    page.section(
        "files",
        "Files by size",
        &format!(
            "{}<p class=\"note\">{} files, {}. Boxes too small to see are merged per directory; hover for paths and sizes.</p>",
            treemap("file-treemap", &tree, &human_bytes),
            tree.files,
            escape(&human_bytes(tree.size))
        ),
    );
    let mut packages: Vec<&crate::inventory::Package> = r.packages.iter().collect();
    packages.sort_by(|a, b| {
        b.file_bytes
            .cmp(&a.file_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    if !packages.is_empty() {
        let bars: Vec<Bar> = packages
            .iter()
            .take(25)
            .map(|p| Bar {
                label: p.name.clone(),
                value: p.file_bytes,
                text: human_bytes(p.file_bytes),
                title: format!(
                    "{} {} ({}), {} files",
                    p.name, p.version, p.manager, p.files
                ),
                class: "package",
                colour: 2,
            })
            .collect();
        let mut table = Table::new(
            "packages-table",
            &["name", "version", "manager", "files#", "size#", "purl"],
        )
        .searchable();
        for p in packages.iter().take(MAX_ROWS) {
            table.row(vec![
                text(&p.name),
                text(&p.version),
                text(p.manager),
                count(p.files),
                bytes(p.file_bytes),
                code(&p.purl),
            ]);
        }
        page.section(
            "packages",
            &format!("Packages by size ({})", packages.len()),
            &(bar_chart("package-chart", "packages by size", &bars)
                + &table.render()
                + &more_rows(packages.len())),
        );
    }
    let waste_bars: Vec<Bar> = r
        .waste_by_kind
        .iter()
        .map(|(kind, b)| Bar {
            label: waste_name(*kind),
            value: *b,
            text: human_bytes(*b),
            title: format!("{}: {}", waste_name(*kind), human_bytes(*b)),
            class: "waste",
            colour: 1,
        })
        .collect();
    let mut waste_table =
        Table::new("waste-table", &["kind", "path", "layer#", "bytes#"]).searchable();
    for w in &r.waste {
        waste_table.row(vec![
            text(&waste_name(w.kind)),
            code(&w.path),
            count(w.layer),
            bytes(w.bytes),
        ]);
    }
    page.section(
        "waste",
        &format!("Waste: {}", human_bytes(r.waste_bytes)),
        &if r.waste.is_empty() {
            r#"<p class="pass">No waste.</p>"#.to_string()
        } else {
            bar_chart("waste-chart", "waste by kind", &waste_bars) + &waste_table.render()
        },
    );
    page.section(
        "findings",
        &format!("Findings ({})", r.findings.len()),
        &findings_table(&r.findings),
    );
    page.finish()
}

/// `pare diff --format html`.
pub fn diff(r: &DiffReport) -> String {
    let mut page = Page::new(
        &format!("pare diff: {} → {}", r.a, r.b),
        &format!("{} → {}", r.a_digest, r.b_digest),
    );
    let mut sizes = Table::new(
        "sizes-table",
        &["measure", "before#", "after#", "change#", "percent#"],
    );
    let mut bars = Vec::new();
    for (name, d) in [
        ("stored", r.compressed_size),
        ("uncompressed", r.uncompressed_size),
        ("in files", r.file_bytes),
    ] {
        sizes.row(vec![
            text(name),
            bytes(d.a),
            bytes(d.b),
            delta(d.delta),
            Cell::Number(d.percent.unwrap_or(0.0), escape(&percent(d.percent))),
        ]);
        bars.push(Bar {
            label: format!("{name}, before"),
            value: d.a,
            text: human_bytes(d.a),
            title: format!("{}: {name} {}", r.a, human_bytes(d.a)),
            class: "before",
            colour: 0,
        });
        bars.push(Bar {
            label: format!("{name}, after"),
            value: d.b,
            text: format!("{} ({})", human_bytes(d.b), percent(d.percent)),
            title: format!("{}: {name} {}", r.b, human_bytes(d.b)),
            class: "after",
            colour: 1,
        });
    }
    page.section(
        "sizes",
        "Sizes",
        &(bar_chart("size-chart", "sizes before and after", &bars)
            + &sizes.render()
            + &facts(&[(
                "layers",
                format!(
                    "{} shared, {} added, {} removed",
                    r.layers_shared,
                    r.layers_added.len(),
                    r.layers_removed.len()
                ),
            )])),
    );
    let mut grown: Vec<&crate::diff::FileChange> = r.changed.iter().collect();
    grown.sort_by(|a, b| {
        b.size
            .delta
            .cmp(&a.size.delta)
            .then_with(|| a.path.cmp(&b.path))
    });
    let mut growth: Vec<(&str, i64)> = r
        .added
        .iter()
        .map(|f| (f.path.as_str(), i64::try_from(f.size).unwrap_or(i64::MAX)))
        .chain(grown.iter().map(|c| (c.path.as_str(), c.size.delta)))
        .filter(|(_, d)| *d > 0)
        .collect();
    growth.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let top: Vec<Bar> = growth
        .into_iter()
        .take(20)
        .map(|(p, d)| Bar {
            label: p.to_string(),
            value: d.unsigned_abs(),
            text: signed_bytes(d),
            title: format!("{p}: {}", signed_bytes(d)),
            class: "grew",
            colour: 3,
        })
        .collect();
    if !top.is_empty() {
        page.section(
            "growth",
            "What grew most",
            &bar_chart("growth-chart", "files that grew most", &top),
        );
    }
    for (id, heading, files) in [
        ("added", "Added", &r.added),
        ("removed", "Removed", &r.removed),
    ] {
        let mut table = Table::new(&format!("{id}-table"), &["path", "kind", "size#"]).searchable();
        for f in files.iter().take(MAX_ROWS) {
            table.row(vec![
                code(&f.path),
                text(&format!("{:?}", f.kind).to_lowercase()),
                bytes(f.size),
            ]);
        }
        page.section(
            id,
            &format!("{heading} ({})", files.len()),
            &(table.render() + &more_rows(files.len())),
        );
    }
    let mut changed = Table::new(
        "changed-table",
        &["path", "what", "before#", "after#", "change#"],
    )
    .searchable();
    for c in grown.iter().take(MAX_ROWS) {
        changed.row(vec![
            code(&c.path),
            text(&c.what.join(", ")),
            bytes(c.size.a),
            bytes(c.size.b),
            delta(c.size.delta),
        ]);
    }
    page.section(
        "changed",
        &format!("Changed ({})", r.changed.len()),
        &(changed.render() + &more_rows(r.changed.len())),
    );
    if !r.config.is_empty() {
        let mut config = Table::new("config-table", &["field", "before", "after"]);
        for c in &r.config {
            if c.variables.is_empty() {
                config.row(vec![
                    text(&c.field),
                    code(&c.a.to_string()),
                    code(&c.b.to_string()),
                ]);
            }
            for v in &c.variables {
                let show = |x: &Option<String>| x.clone().unwrap_or_else(|| "(unset)".into());
                config.row(vec![
                    text(&format!("Env {}", v.name)),
                    code(&show(&v.a)),
                    code(&show(&v.b)),
                ]);
            }
        }
        page.section("config", "Config", &config.render());
    }
    page.finish()
}

/// `pare gate --format html`.
pub fn gate(r: &GateReport) -> String {
    let verdict = r.verdict();
    let measure = match r.measure {
        Measure::Compressed => "stored",
        Measure::Uncompressed => "uncompressed",
    };
    let mut page = Page::new(&format!("pare gate: {verdict}"), &r.image);
    page.section(
        "verdict",
        "Verdict",
        &(facts(&[
            (
                "verdict",
                format!(
                    r#"<span class="{}">{verdict}</span>"#,
                    if r.passed { "pass" } else { "fail" }
                ),
            ),
            ("reason", escape(&r.reason)),
            ("measure", measure.into()),
            ("limit", escape(&r.limit)),
            ("baseline", format!("<code>{}</code>", escape(&r.baseline))),
            (
                "change",
                escape(&format!(
                    "{} ({})",
                    signed_bytes(r.size.delta),
                    percent(r.size.percent)
                )),
            ),
        ]) + &bar_chart(
            "gate-chart",
            "baseline and image size",
            &[
                Bar {
                    label: "baseline".into(),
                    value: r.size.a,
                    text: human_bytes(r.size.a),
                    title: format!("baseline {}: {} bytes", r.baseline, r.size.a),
                    class: "before",
                    colour: 0,
                },
                Bar {
                    label: "image".into(),
                    value: r.size.b,
                    text: format!("{} ({})", human_bytes(r.size.b), percent(r.size.percent)),
                    title: format!("{}: {} bytes", r.image, r.size.b),
                    class: "after",
                    colour: if r.passed { 2 } else { 3 },
                },
            ],
        )),
    );
    if !r.biggest_changes.is_empty() && !r.updated_baseline {
        let mut table =
            Table::new("changes-table", &["path", "before#", "after#", "change#"]).searchable();
        for c in &r.biggest_changes {
            table.row(vec![
                code(&c.path),
                bytes(c.size.a),
                bytes(c.size.b),
                delta(c.size.delta),
            ]);
        }
        page.section(
            "changes",
            "Biggest file changes (uncompressed)",
            &table.render(),
        );
    }
    page.finish()
}

/// `pare compare --format html`.
pub fn compare(r: &CompareReport) -> String {
    let names: Vec<&str> = r.images.iter().map(|c| c.image.as_str()).collect();
    let mut page = Page::new("pare compare", &names.join(" · "));
    page.section("table", "Side by side", &compare_table(r));
    let mut bars = Vec::new();
    for (i, c) in r.images.iter().enumerate() {
        bars.push(Bar {
            label: c.image.clone(),
            value: c.compressed_size,
            text: format!(
                "{}{}",
                human_bytes(c.compressed_size),
                ratio_text(c.ratios.compressed_size, i)
            ),
            title: format!("{}: {} stored", c.image, human_bytes(c.compressed_size)),
            class: "image",
            colour: i,
        });
    }
    page.section(
        "sizes",
        "Stored size",
        &bar_chart("size-chart", "stored size per image", &bars),
    );
    for (i, c) in r.images.iter().enumerate() {
        let layers: Vec<(u64, u64, Option<String>, bool)> = c
            .layers
            .iter()
            .map(|l| (l.size, l.uncompressed_size, l.created_by.clone(), l.shared))
            .collect();
        page.section(
            &format!("layers-{i}"),
            &format!("Layers of {}", c.image),
            &layer_bars(&format!("layer-chart-{i}"), &layers),
        );
    }
    page.finish()
}

fn ratio_text(ratio: Option<f64>, index: usize) -> String {
    match ratio {
        Some(x) if index > 0 => format!(" ({x:.3}x)"),
        _ => String::new(),
    }
}

/// The compare table as HTML: one row per measure, one column per image.
fn compare_table(r: &CompareReport) -> String {
    let mut out = String::from(r#"<table id="compare-table"><thead><tr><th></th>"#);
    for c in &r.images {
        let _ = write!(out, "<th>{}</th>", escape(&c.image));
    }
    out.push_str("</tr></thead><tbody>");
    for (label, cells) in crate::compare::rows(r) {
        let _ = write!(out, "<tr><th>{}</th>", escape(&label));
        for cell in cells {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn page_allows_only_its_own_style_and_script() {
        let html = Page::new("t", "s").finish();
        assert!(html.contains(&csp_hash(STYLE)));
        assert!(html.contains(&csp_hash(SCRIPT)));
        assert!(html.contains("default-src 'none'"));
        // The hashed text is exactly what the page carries.
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
