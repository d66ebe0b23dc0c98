//! `pare compare` and the HTML reports, tried where people will use them: each report is loaded in
//! a real browser (Debian's chromium, headless) from a file URL, with every request routed to a
//! listener of the test so that any network access is caught; the page must log nothing, and its
//! screenshot and DOM must show the charts. The three-image-diet example is run end to end and its
//! table checked against `pare audit` of each image, dive's per-layer sizes, runc runs of the
//! images and the README.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ok, pare, require, run, static_hello};

/// What the browser made of a page.
struct Rendered {
    /// Console messages (errors, warnings, logs, CSP violations).
    console: Vec<String>,
    /// First lines of the requests that reached the test's proxy.
    requests: Vec<String>,
    /// The DOM after scripts ran, serialized.
    dom: String,
    /// The 1280x800 screenshot: width, height, RGBA pixels.
    screenshot: (u32, u32, Vec<u8>),
    /// Wall time of the screenshot run (browser start included).
    seconds: f64,
}

/// A listener standing in for the network: every request the browser makes goes to it (as its
/// proxy) and is recorded.
struct Trap {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicUsize>,
}

impl Trap {
    fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicUsize::new(0));
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while stopped.load(Ordering::Relaxed) == 0 {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        // Each connection is read on its own thread, so an idle one cannot hold
                        // back the next.
                        let seen = seen.clone();
                        std::thread::spawn(move || {
                            // Chromium opens idle sockets to its proxy ahead of need (preconnect);
                            // one that sends no request in 3 s asked for nothing.
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
                            let mut buf = [0u8; 512];
                            let n = stream.read(&mut buf).unwrap_or(0);
                            if n > 0 {
                                let line = String::from_utf8_lossy(&buf[..n])
                                    .lines()
                                    .next()
                                    .unwrap_or("(a request with no line end)")
                                    .to_string();
                                seen.lock().unwrap().push(line);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Trap {
            port,
            requests,
            stop,
        }
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.stop.store(1, Ordering::Relaxed);
    }
}

/// Runs headless chromium on `page` once with `action` (`--screenshot=…` or `--dump-dom`), every
/// request sent to `trap`, in a profile of its own; returns (stdout, console lines, seconds).
fn chromium(page: &Path, action: &str, trap: &Trap, profile: &Path) -> (String, Vec<String>, f64) {
    let started = Instant::now();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-client-side-phishing-detection",
            "--disable-domain-reliability",
            "--no-pings",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,800",
            "--hide-scrollbars",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{}", trap.port))
        // Loopback too goes through the proxy: nothing is exempt.
        .arg("--proxy-bypass-list=<-loopback>")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "chromium failed on {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        console,
        seconds,
    )
}

/// Chromium's own traffic, which it sends whatever the page and despite the flags above (the
/// component updater and the sign-in check, seen here with chromium 156): hosts of the browser's
/// services, never asked for by a page. A page's own requests are also blocked by the reports'
/// Content-Security-Policy and logged to the console, which the tests read too.
fn is_browser_service(request_line: &str) -> bool {
    const SERVICES: [&str; 3] = [
        "update.googleapis.com",
        "accounts.google.com",
        "clients2.google.com",
    ];
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let host = target
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    SERVICES.contains(&host)
}

fn render(page: &Path, dir: &Path) -> Rendered {
    let trap = Trap::start();
    let shot = dir.join(format!(
        "{}.png",
        page.file_stem().unwrap().to_string_lossy()
    ));
    let (_, mut console, seconds) = chromium(
        page,
        &format!("--screenshot={}", shot.display()),
        &trap,
        &dir.join("profile-shot"),
    );
    let (dom, more, _) = chromium(page, "--dump-dom", &trap, &dir.join("profile-dom"));
    console.extend(more);
    // Let a late connection land before the trap is read.
    std::thread::sleep(Duration::from_millis(200));
    let requests = trap
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|line| !is_browser_service(line))
        .cloned()
        .collect();
    let decoder = png::Decoder::new(fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    assert_eq!(
        info.bit_depth,
        png::BitDepth::Eight,
        "chromium writes 8-bit PNGs"
    );
    // RGB or RGBA, as chromium likes: kept as RGBA.
    let pixels = match info.color_type {
        png::ColorType::Rgba => pixels,
        png::ColorType::Rgb => pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    Rendered {
        console,
        requests,
        dom,
        screenshot: (info.width, info.height, pixels),
        seconds,
    }
}

/// Pixels of the screenshot within `tolerance` of `rgb` (anti-aliased edges are left out).
fn pixels_of(shot: &(u32, u32, Vec<u8>), rgb: (u8, u8, u8), tolerance: u8) -> usize {
    shot.2
        .chunks_exact(4)
        .filter(|p| {
            p[0].abs_diff(rgb.0) <= tolerance
                && p[1].abs_diff(rgb.1) <= tolerance
                && p[2].abs_diff(rgb.2) <= tolerance
        })
        .count()
}

/// Text of the DOM with the entities chromium writes turned back.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The titles of the bars of class `class` inside the chart `id` of a serialized DOM.
fn bar_titles(dom: &str, id: &str, class: &str) -> Vec<String> {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id} in the DOM"));
    let end = start + dom[start..].find("</svg>").unwrap();
    let chart = &dom[start..end];
    let open = format!("<g class=\"{class}\"><title>");
    chart
        .match_indices(&open)
        .map(|(at, _)| {
            let rest = &chart[at + open.len()..];
            unescape(&rest[..rest.find("</title>").unwrap()])
        })
        .collect()
}

/// The first layout colour (`svg::PALETTE[0]`, #4e79a7): the layer bars.
const BAR_BLUE: (u8, u8, u8) = (0x4e, 0x79, 0xa7);

/// Checks the page loaded clean and offline.
fn assert_clean(page: &Path, r: &Rendered) {
    assert!(
        r.console.is_empty(),
        "{}: the console logged {:#?}",
        page.display(),
        r.console
    );
    assert!(
        r.requests.is_empty(),
        "{}: the page made network requests {:#?}",
        page.display(),
        r.requests
    );
    let html = fs::read_to_string(page).unwrap();
    for external in ["http://", "https://", "//fonts.", "@import", "url("] {
        assert!(
            !html.contains(external),
            "{}: {external} in the page",
            page.display()
        );
    }
    assert_eq!((r.screenshot.0, r.screenshot.1), (1280, 800));
}

/// The negative control: a page that logs, fails a script and fetches from the network is caught
/// by the same checks, so their silence about pare's reports means something.
#[test]
fn the_browser_checks_catch_a_bad_page() {
    if !require("chromium") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    fs::write(
        &page,
        "<!DOCTYPE html><html><head><title>bad</title></head><body><p>x</p>\
         <img src=\"http://pare-test.invalid/pixel.png\"><script>console.error('boom');</script></body></html>",
    )
    .unwrap();
    let r = render(&page, dir.path());
    assert!(
        r.console.iter().any(|l| l.contains("boom")),
        "{:?}",
        r.console
    );
    assert!(
        r.requests.iter().any(|l| l.contains("pare-test.invalid")),
        "the proxy saw {:?}",
        r.requests
    );
    // A blank page has no bar pixels.
    assert_eq!(pixels_of(&r.screenshot, BAR_BLUE, 2), 0);
}

/// Builds two small images (a static binary on scratch, and on static-debian) in one layout.
fn two_images(dir: &Path) -> (String, String) {
    let layout = dir.join("oci");
    let hello = static_hello();
    let a = format!("oci:{}:scratch", layout.display());
    let b = format!("oci:{}:debian", layout.display());
    ok(pare()
        .args(["build", "-q", "--base", "scratch", "--copy"])
        .arg(format!("{}:/hello", hello.display()))
        .args(["--entrypoint", "/hello", "--output", &a]));
    ok(pare()
        .args(["build", "-q", "--base", "static-debian", "--copy"])
        .arg(format!("{}:/hello", hello.display()))
        .args(["--entrypoint", "/hello", "--output", &b]));
    (a, b)
}

fn write_report(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let (code, html, stderr) = run(pare().args(args).args(["-q", "--format", "html"]));
    assert!(code == 0 || code == 1, "pare {args:?}: {stderr}");
    assert!(html.starts_with("<!DOCTYPE html>"), "{args:?}");
    let path = dir.join(format!("{name}.html"));
    fs::write(&path, html).unwrap();
    path
}

/// Every verb's HTML report renders offline with nothing logged, shows its charts (pixels of the
/// bar colour in the screenshot), and the DOM holds one bar per layer titled with its history step.
#[test]
fn html_reports_render_in_a_browser() {
    if !require("chromium") || !require("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_images(dir.path());
    let audit_json: Value =
        serde_json::from_str(&ok(pare().args(["audit", "-q", "--format", "json", &b]))).unwrap();
    let steps: Vec<String> = audit_json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["created_by"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        steps.len(),
        2,
        "the static-debian image has a base layer and the copy"
    );

    let audit = write_report(dir.path(), "audit", &["audit", &b]);
    let again = write_report(dir.path(), "audit-again", &["audit", &b]);
    assert_eq!(
        fs::read(&audit).unwrap(),
        fs::read(&again).unwrap(),
        "the same image gives the same report bytes"
    );
    let r = render(&audit, dir.path());
    assert_clean(&audit, &r);
    assert_eq!(bar_titles(&r.dom, "layer-chart", "bar layer"), steps);
    assert!(r.dom.contains("id=\"file-treemap\""));
    assert!(
        r.dom.matches("<g class=\"box ").count() >= 10,
        "the treemap draws the tree's boxes"
    );
    // The layer bars are on screen: at least one full bar's worth of their colour.
    let blue = pixels_of(&r.screenshot, BAR_BLUE, 2);
    assert!(blue > 2_000, "{blue} bar pixels in the audit screenshot");
    // And the screenshot is not blank: several colours cover a good part of it.
    let background = pixels_of(&r.screenshot, (0xf6, 0xf7, 0xf9), 0)
        + pixels_of(&r.screenshot, (255, 255, 255), 0);
    let total = r.screenshot.2.len() / 4;
    assert!(
        background * 100 / total < 90,
        "{background} of {total} pixels are background"
    );

    // The inline script works: a copy of the page without its CSP, with a probe script that types
    // into the packages filter and clicks the size header twice, reports what the rows became.
    let html = fs::read_to_string(&audit).unwrap();
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = csp_start + html[csp_start..].find('>').unwrap() + 1;
    let probe = "<script>(function(){\
        var box=document.querySelector('input[data-table=\"packages-table\"]');\
        box.value='tzdata';box.dispatchEvent(new Event('input'));\
        var rows=document.querySelectorAll('#packages-table tbody tr');\
        var shown=[].filter.call(rows,function(r){return !r.hidden;}).map(function(r){return r.cells[0].textContent;});\
        box.value='';box.dispatchEvent(new Event('input'));\
        var th=document.querySelectorAll('#packages-table th')[4];th.click();\
        var up=[].map.call(document.querySelectorAll('#packages-table tbody tr'),function(r){return +r.cells[4].dataset.v;});\
        th.click();\
        var down=[].map.call(document.querySelectorAll('#packages-table tbody tr'),function(r){return +r.cells[4].dataset.v;});\
        document.title=JSON.stringify({shown:shown,up:up,down:down});})();</script></body>";
    let probed = dir.path().join("probe.html");
    fs::write(
        &probed,
        format!("{}{}", &html[..csp_start], &html[csp_end..]).replace("</body>", probe),
    )
    .unwrap();
    let r = render(&probed, dir.path());
    assert!(r.console.is_empty(), "{:?}", r.console);
    let title_start = r.dom.find("<title>").unwrap() + "<title>".len();
    let title =
        unescape(&r.dom[title_start..title_start + r.dom[title_start..].find("</title>").unwrap()]);
    let probe: Value = serde_json::from_str(&title).unwrap_or_else(|e| panic!("{e}: {title}"));
    assert_eq!(
        probe["shown"],
        serde_json::json!(["tzdata"]),
        "the filter keeps the matching row"
    );
    let sizes = |key: &str| -> Vec<f64> {
        probe[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (up, down) = (sizes("up"), sizes("down"));
    assert!(
        up.len() >= 4 && up.windows(2).all(|w| w[0] <= w[1]),
        "ascending: {up:?}"
    );
    assert!(
        down.windows(2).all(|w| w[0] >= w[1]),
        "descending: {down:?}"
    );

    let compare = write_report(dir.path(), "compare", &["compare", &a, &b]);
    let r = render(&compare, dir.path());
    assert_clean(&compare, &r);
    assert!(r.dom.contains("id=\"compare-table\""));
    assert_eq!(
        bar_titles(&r.dom, "layer-chart-1", "bar layer shared").len()
            + bar_titles(&r.dom, "layer-chart-1", "bar layer").len(),
        2
    );
    assert_eq!(bar_titles(&r.dom, "size-chart", "bar image").len(), 2);
    assert!(pixels_of(&r.screenshot, BAR_BLUE, 2) > 0 || r.dom.contains("PARE-NO-CA-BUNDLE"));

    let diff = write_report(dir.path(), "diff", &["diff", &a, &b]);
    let r = render(&diff, dir.path());
    assert_clean(&diff, &r);
    assert_eq!(bar_titles(&r.dom, "size-chart", "bar before").len(), 3);
    assert!(pixels_of(&r.screenshot, BAR_BLUE, 2) > 1_000);
    // The added files are listed, searchable.
    assert!(
        r.dom.contains("<code>/etc/passwd</code>"),
        "the base's files are added"
    );
    assert!(r.dom.contains("data-table=\"added-table\""));

    let gate = write_report(
        dir.path(),
        "gate",
        &["gate", &b, "--baseline-image", &a, "--max-growth", "1KiB"],
    );
    let r = render(&gate, dir.path());
    assert_clean(&gate, &r);
    assert!(r.dom.contains("FAIL"), "the image grew past 1 KiB");
    assert!(pixels_of(&r.screenshot, BAR_BLUE, 2) > 1_000);
}

/// The body rows of a markdown table (its lines, header and rule included) as (label, cells).
fn markdown_rows(lines: &[&str]) -> Vec<(String, Vec<String>)> {
    lines
        .iter()
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect()
}

/// The README's first table row labels, in order, with their cells: the three-image table.
fn readme_table() -> Vec<(String, Vec<String>)> {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let start = readme
        .find("<!-- three-image-diet table -->")
        .expect("the README has the three-image-diet table");
    let lines: Vec<&str> = readme[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    markdown_rows(&lines)
}

/// examples/three-image-diet end to end on the shared debootstrap tree: its table agrees with
/// `pare audit` of each image and dive's layer sizes, its trade-offs are findings, the images run
/// under runc as the findings say they will, the README shows the same facts, and the naive image's
/// HTML report stays small and renders fast.
#[test]
fn three_image_diet() {
    for tool in ["umoci", "runc", "dive", "go", "chromium", "debootstrap"] {
        if !require(tool) {
            return;
        }
    }
    let Some(rootfs) = crate::support::debootstrap_minbase() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/three-image-diet/run.sh");
    let pare_bin = assert_cmd::cargo::cargo_bin("pare");
    ok(Command::new("sh")
        .arg(&script)
        .arg(&out)
        .env("ROOTFS", rootfs)
        .env("PARE", &pare_bin));
    let report: Value =
        serde_json::from_slice(&fs::read(out.join("compare.json")).unwrap()).unwrap();
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    let layout = out.join("images");
    let reference = |tag: &str| format!("oci:{}:{tag}", layout.display());
    for (column, tag) in images.iter().zip(["naive", "distroless", "scratch"]) {
        let (_, audit, _) = run(pare().args(["audit", "-q", "--format", "json", &reference(tag)]));
        let audit: Value = serde_json::from_str(&audit).unwrap();
        for field in [
            "compressed_size",
            "uncompressed_size",
            "file_bytes",
            "manifest_digest",
            "user",
        ] {
            assert_eq!(
                column[field], audit[field],
                "{tag}: {field}, compare vs audit"
            );
        }
        assert_eq!(
            column["packages"].as_u64().unwrap() as usize,
            audit["packages"].as_array().unwrap().len(),
            "{tag}: packages"
        );
        let findings = audit["findings"].as_array().unwrap();
        for severity in ["critical", "high", "medium", "low", "info"] {
            let n = findings
                .iter()
                .filter(|f| f["severity"] == severity)
                .count();
            assert_eq!(
                column["findings"][severity].as_u64().unwrap_or(0) as usize,
                n,
                "{tag}: {severity} findings"
            );
        }
        let shells: Vec<&str> = findings
            .iter()
            .filter(|f| f["rule"] == "PARE-SHELL")
            .map(|f| f["location"]["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            column["shells"].as_array().unwrap().len(),
            shells.len(),
            "{tag}: shells"
        );
        // dive's per-layer sizes (docker-archive, as dive reads it) are the columns' layer file bytes.
        let archive = dir.path().join(format!("{tag}.tar"));
        ok(pare()
            .args(["copy", "-q", &reference(tag)])
            .arg(format!("docker-archive:{}:diet/{tag}:1", archive.display())));
        let (_, theirs) = crate::support::dive_report(&archive);
        let ours: Vec<u64> = column["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["file_bytes"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ours, theirs,
            "{tag}: per-layer file bytes, pare compare vs dive"
        );
        fs::remove_file(&archive).unwrap();
    }
    let rules = |i: usize| -> Vec<&str> {
        images[i]["rules"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    };
    // The seeds' trade-offs, as findings: a shell and package manager in the naive image, no CA
    // bundle and no tzdata for the TLS- and zone-using program on scratch, neither in distroless.
    for rule in [
        "PARE-SHELL",
        "PARE-PACKAGE-MANAGER",
        "PARE-BUILD-TOOL",
        "PARE-USER-ROOT",
    ] {
        assert!(rules(0).contains(&rule), "naive: {rule} in {:?}", rules(0));
    }
    assert_eq!(rules(1), Vec::<&str>::new(), "distroless has no findings");
    assert_eq!(rules(2), vec!["PARE-NO-CA-BUNDLE", "PARE-NO-TZDATA"]);
    assert_eq!(images[2]["ca_bundle"], false);
    assert_eq!(images[2]["tzdata"], false);
    assert_eq!(images[1]["ca_bundle"], true);
    assert_eq!(images[1]["tzdata"], true);
    // The minimal images share no layer with the naive one; sizes shrink by orders of magnitude.
    assert!(images[2]["ratios"]["compressed_size"].as_f64().unwrap() < 0.05);
    // The findings are true: the program on scratch cannot load a zone, on distroless it can, and
    // both run as 65532.
    let run_check = |tag: &str| -> String {
        let bundle = crate::support::unpack(&layout, tag, dir.path());
        let config_path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
        config["process"]["args"] = serde_json::json!(["/app", "--check"]);
        fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let (code, stdout, stderr) = crate::support::runc_run(&bundle, dir.path());
        assert_eq!(code, 0, "{tag}: {stderr}");
        stdout
    };
    assert_eq!(
        run_check("scratch").trim(),
        "uid=65532 zone-ok=false tls-dial-attempted=true"
    );
    assert_eq!(
        run_check("distroless").trim(),
        "uid=65532 zone-ok=true tls-dial-attempted=true"
    );
    // The README's table shows the same facts (sizes there are as measured on the day).
    let table = fs::read_to_string(out.join("compare.md")).unwrap();
    let ours = markdown_rows(&table.lines().collect::<Vec<_>>());
    let readme = readme_table();
    let labels = |t: &[(String, Vec<String>)]| t.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
    assert_eq!(
        labels(&readme),
        labels(&ours),
        "the README's table has the rows pare prints"
    );
    for (label, cells) in &ours {
        if [
            "user",
            "CA bundle",
            "tzdata",
            "will it start",
            "shells",
            "package managers",
            "os",
        ]
        .contains(&label.as_str())
            || label.starts_with("PARE-")
        {
            let theirs = &readme.iter().find(|(l, _)| l == label).unwrap().1;
            assert_eq!(&theirs[..], &cells[..], "README row {label}");
        }
    }
    // The naive image's report: under 5 MB, renders offline and clean, in under 2 s more than an
    // empty page takes (median of three runs each).
    let naive_html = out.join("audit-naive.html");
    let size = fs::metadata(&naive_html).unwrap().len();
    assert!(size < 5_000_000, "{size} bytes");
    let blank = dir.path().join("blank.html");
    fs::write(&blank, "<!DOCTYPE html><title>blank</title>").unwrap();
    let median = |page: &Path| {
        let mut times: Vec<f64> = (0..3).map(|_| render(page, dir.path()).seconds).collect();
        times.sort_by(f64::total_cmp);
        times[1]
    };
    let r = render(&naive_html, dir.path());
    assert_clean(&naive_html, &r);
    let layers = images[0]["layers"].as_array().unwrap().len();
    assert_eq!(bar_titles(&r.dom, "layer-chart", "bar layer").len(), layers);
    let extra = median(&naive_html) - median(&blank);
    assert!(
        extra < 2.0,
        "the naive image's report takes {extra:.2} s more than an empty page"
    );
    eprintln!("naive report: {size} bytes, {extra:.2} s over an empty page");
}

/// With `--db`, each column counts vulnerabilities as `pare scan` of the same image and database does.
#[test]
fn compare_counts_vulnerabilities_as_scan_does() {
    if !require("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_images(dir.path());
    let db = dir.path().join("osv");
    fs::create_dir_all(&db).unwrap();
    let record = |id: &str, name: &str, events: Value, severity: Option<&str>| {
        let mut r = serde_json::json!({
            "schema_version": "1.6.0",
            "id": id,
            "modified": "2026-11-30T00:00:00Z",
            "summary": format!("test advisory {id}"),
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }],
        });
        if let Some(vector) = severity {
            r["severity"] = serde_json::json!([{"type": "CVSS_V3", "score": vector}]);
        }
        fs::write(
            db.join(format!("{id}.json")),
            serde_json::to_vec(&r).unwrap(),
        )
        .unwrap();
    };
    record(
        "DEBIAN-CVE-2099-0001",
        "tzdata",
        serde_json::json!([{"introduced": "0"}]),
        None,
    );
    record(
        "DEBIAN-CVE-2099-0002",
        "base-files",
        serde_json::json!([{"introduced": "0"}, {"fixed": "99"}]),
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
    );
    let db_arg = db.to_str().unwrap();
    let report: Value = serde_json::from_str(&ok(pare().args([
        "compare",
        "-q",
        "--no-unpack",
        "--format",
        "json",
        "--db",
        db_arg,
        &a,
        &b,
    ])))
    .unwrap();
    for (column, image) in report["images"].as_array().unwrap().iter().zip([&a, &b]) {
        let (_, scan, stderr) =
            run(pare().args(["scan", "-q", "--format", "json", "--db", db_arg, image]));
        let scan: Value = serde_json::from_str(&scan).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        assert_eq!(column["vulnerabilities"], scan["counts"], "{image}");
    }
    let debian = &report["images"][1]["vulnerabilities"];
    assert_eq!(debian["critical"], 1, "{debian}");
    assert_eq!(report["database"]["advisories"], 2);
    let table = ok(pare().args(["compare", "-q", "--no-unpack", "--db", db_arg, &a, &b]));
    let row = table
        .lines()
        .find(|l| l.starts_with("vulnerabilities"))
        .unwrap();
    assert!(row.contains("none") && row.contains("1 critical"), "{row}");
}
