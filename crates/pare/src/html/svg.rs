//! The charts of pare's HTML reports, drawn as inline SVG by pare itself: horizontal bar charts
//! (one `<g class="bar">` per item, its `<title>` the item's full name, so a browser shows it on
//! hover and a test can count it) and a squarified treemap of a file tree. Output is a pure
//! function of the input: coordinates are printed with one decimal, items in the caller's order.
//! Written by hand: the charts are a few rectangles and labels, and a plotting crate would bring
//! fonts, scripts or raster output that a self-contained, deterministic report cannot have.

use std::fmt::Write;

use super::escape;

/// Colours of bars and treemap groups, chosen to stay apart for colour-blind readers.
pub const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];

/// One bar.
pub struct Bar {
    /// Short label left of the bar.
    pub label: String,
    /// The value, drawn to scale.
    pub value: u64,
    /// Text right of the bar (the value as people read it).
    pub text: String,
    /// Full description (`<title>`): the history step, the path.
    pub title: String,
    /// An extra class (`layer`, `shared`).
    pub class: &'static str,
    /// Index into [`PALETTE`].
    pub colour: usize,
}

/// Width of every chart, in SVG user units (the SVG scales to its container).
pub const WIDTH: f64 = 1150.0;
const ROW: f64 = 22.0;
const LABEL: f64 = 260.0;
const VALUE: f64 = 210.0;

/// A horizontal bar chart, bars scaled to the largest value.
pub fn bar_chart(id: &str, caption: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let span = WIDTH - LABEL - VALUE;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {height:.1}" width="{WIDTH}" height="{height:.1}" role="img" aria-label="{caption}">"#,
        caption = escape(caption)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        // A bar of a value above zero is always visible.
        let w = if bar.value == 0 {
            0.0
        } else {
            (bar.value as f64 / max * span).max(1.0)
        };
        let _ = write!(
            out,
            r#"<g class="bar {class}"><title>{title}</title><text x="{lx:.1}" y="{ty:.1}" text-anchor="end">{label}</text><rect x="{LABEL:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"/><text x="{vx:.1}" y="{ty:.1}">{text}</text></g>"#,
            class = bar.class,
            title = escape(&bar.title),
            lx = LABEL - 8.0,
            ty = y + 15.0,
            label = escape(&shorten(&bar.label, 38)),
            h = ROW - 6.0,
            fill = PALETTE[bar.colour % PALETTE.len()],
            vx = LABEL + w + 6.0,
            text = escape(&bar.text),
        );
    }
    out.push_str("</svg>");
    out
}

/// `text` cut to `max` characters with an ellipsis in the middle (paths keep both ends).
pub fn shorten(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A directory tree with sizes, for the treemap.
#[derive(Debug, Default)]
pub struct Tree {
    pub name: String,
    /// Bytes of this file, or of everything below this directory.
    pub size: u64,
    /// Files below (1 for a file).
    pub files: u64,
    pub children: Vec<Tree>,
}

impl Tree {
    /// Builds the tree of `(path, size)` pairs (paths relative, `/`-separated, any order).
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, u64)>) -> Tree {
        let mut root = Tree {
            name: "/".into(),
            ..Tree::default()
        };
        for (path, size) in files {
            let mut node = &mut root;
            node.size += size;
            node.files += 1;
            for part in path.split('/').filter(|p| !p.is_empty()) {
                let at = match node.children.iter().position(|c| c.name == part) {
                    Some(at) => at,
                    None => {
                        node.children.push(Tree {
                            name: part.to_string(),
                            ..Tree::default()
                        });
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at];
                node.size += size;
                node.files += 1;
            }
        }
        root.sort();
        root
    }

    /// Biggest first, then by name: the layout's order.
    fn sort(&mut self) {
        self.children
            .sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
        for c in &mut self.children {
            c.sort();
        }
    }
}

/// A rectangle of the layout.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// Rectangles smaller than this (in square user units) are folded into their siblings' "smaller
/// entries" box: it bounds the drawing to a few thousand rectangles, whatever the file count.
const MIN_AREA: f64 = 300.0;
/// Height of a directory's label strip.
const HEADER: f64 = 14.0;
const TREEMAP_HEIGHT: f64 = 560.0;

/// A squarified treemap (Bruls, Huizing and van Wijk, 2000) of `tree`: directories as framed
/// groups with their name, files as leaves, every box titled with its path and size; entries too
/// small to see are drawn as one box per directory, "N smaller entries".
pub fn treemap(id: &str, tree: &Tree, human: &dyn Fn(u64) -> String) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart treemap" viewBox="0 0 {WIDTH} {TREEMAP_HEIGHT}" width="{WIDTH}" height="{TREEMAP_HEIGHT}" role="img" aria-label="files by size">"#
    );
    let area = Rect {
        x: 0.0,
        y: 0.0,
        w: WIDTH,
        h: TREEMAP_HEIGHT,
    };
    if tree.size > 0 {
        let mut drawer = Drawer {
            out: &mut out,
            human,
            boxes: 0,
        };
        drawer.children(tree, "", area, 0, 0);
    }
    out.push_str("</svg>");
    out
}

struct Drawer<'a> {
    out: &'a mut String,
    human: &'a dyn Fn(u64) -> String,
    boxes: usize,
}

/// No more boxes than this, whatever the tree: the report's size stays bounded.
const MAX_BOXES: usize = 4000;

impl Drawer<'_> {
    /// Lays out the children of `node` in `area`.
    fn children(&mut self, node: &Tree, path: &str, area: Rect, depth: usize, colour: usize) {
        let total = node.size as f64;
        if total <= 0.0 || area.w < 1.0 || area.h < 1.0 {
            return;
        }
        let scale = area.w * area.h / total;
        // The entries big enough to see; the rest are one box.
        let mut shown: Vec<&Tree> = Vec::new();
        let mut rest = (0u64, 0usize);
        for c in &node.children {
            if c.size as f64 * scale >= MIN_AREA && self.boxes + shown.len() + 1 < MAX_BOXES {
                shown.push(c);
            } else if c.size > 0 {
                rest = (rest.0 + c.size, rest.1 + 1);
            }
        }
        let mut sizes: Vec<f64> = shown.iter().map(|c| c.size as f64 * scale).collect();
        if rest.0 > 0 {
            sizes.push(rest.0 as f64 * scale);
        }
        let rects = squarify(&sizes, area);
        // This level's boxes first, then what is inside each directory: the box budget is spent
        // breadth first, so a deep directory cannot starve its siblings.
        let mut inside = Vec::new();
        for (i, rect) in rects.iter().enumerate() {
            self.boxes += 1;
            // Top-level entries pick the colour their subtree keeps.
            let colour = if depth == 0 { i } else { colour };
            let Some(child) = shown.get(i) else {
                let title = format!(
                    "{path}/ {} smaller entries, {}",
                    rest.1,
                    (self.human)(rest.0)
                );
                self.rect(*rect, &title, "more", colour, None);
                continue;
            };
            let child_path = format!("{path}/{}", child.name);
            let title = format!("{child_path}, {}", (self.human)(child.size));
            if child.children.is_empty() {
                self.rect(*rect, &title, "file", colour, Some(&child.name));
                continue;
            }
            self.rect(*rect, &title, "dir", colour, Some(&child.name));
            if rect.h > HEADER + 4.0 && rect.w > 6.0 {
                let inner = Rect {
                    x: rect.x + 2.0,
                    y: rect.y + HEADER,
                    w: rect.w - 4.0,
                    h: rect.h - HEADER - 2.0,
                };
                inside.push((*child, child_path, inner, colour));
            }
        }
        for (child, child_path, inner, colour) in inside {
            if self.boxes >= MAX_BOXES {
                break;
            }
            self.children(child, &child_path, inner, depth + 1, colour);
        }
    }

    fn rect(&mut self, r: Rect, title: &str, kind: &str, colour: usize, label: Option<&str>) {
        let fill = PALETTE[colour % PALETTE.len()];
        let opacity = match kind {
            "dir" => "0.35",
            "more" => "0.15",
            _ => "0.8",
        };
        let _ = write!(
            self.out,
            r#"<g class="box {kind}"><title>{title}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}" fill-opacity="{opacity}" stroke="white" stroke-width="0.5"/>"#,
            title = escape(title),
            x = r.x,
            y = r.y,
            w = r.w,
            h = r.h,
        );
        // A label only where it fits (about 6.5 units a character at the report's font size).
        if let Some(label) = label {
            let fits = ((r.w - 6.0) / 6.5).floor();
            if r.h >= 13.0 && fits >= 3.0 {
                let text = shorten(label, fits as usize);
                let _ = write!(
                    self.out,
                    r#"<text x="{x:.1}" y="{y:.1}">{text}</text>"#,
                    x = r.x + 3.0,
                    y = r.y + 11.0,
                    text = escape(&text)
                );
            }
        }
        self.out.push_str("</g>");
    }
}

/// Squarified layout of `sizes` (areas, biggest first, summing to the area of `area`) in `area`.
fn squarify(sizes: &[f64], area: Rect) -> Vec<Rect> {
    let mut out = Vec::with_capacity(sizes.len());
    let mut free = area;
    let mut start = 0;
    while start < sizes.len() {
        let side = free.w.min(free.h);
        // Grow the row while its worst aspect ratio improves.
        let mut end = start + 1;
        while end < sizes.len()
            && worst(&sizes[start..=end], side) <= worst(&sizes[start..end], side)
        {
            end += 1;
        }
        let row = &sizes[start..end];
        let row_area: f64 = row.iter().sum();
        if free.w >= free.h {
            // A column at the left.
            let w = if free.h > 0.0 { row_area / free.h } else { 0.0 };
            let mut y = free.y;
            for s in row {
                let h = if w > 0.0 { s / w } else { 0.0 };
                out.push(Rect { x: free.x, y, w, h });
                y += h;
            }
            free = Rect {
                x: free.x + w,
                w: (free.w - w).max(0.0),
                ..free
            };
        } else {
            // A row at the top.
            let h = if free.w > 0.0 { row_area / free.w } else { 0.0 };
            let mut x = free.x;
            for s in row {
                let w = if h > 0.0 { s / h } else { 0.0 };
                out.push(Rect { x, y: free.y, w, h });
                x += w;
            }
            free = Rect {
                y: free.y + h,
                h: (free.h - h).max(0.0),
                ..free
            };
        }
        start = end;
    }
    out
}

/// The worst aspect ratio of a row of `areas` laid along a side of length `side`.
fn worst(areas: &[f64], side: f64) -> f64 {
    let sum: f64 = areas.iter().sum();
    let (min, max) = areas
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    if sum <= 0.0 || min <= 0.0 {
        return f64::MAX;
    }
    let s2 = side * side;
    let sum2 = sum * sum;
    (s2 * max / sum2).max(sum2 / (s2 * min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squarify_tiles_the_area_exactly() {
        // The paper's example: 6, 6, 4, 3, 2, 2, 1 in a 6 x 4 rectangle.
        let sizes = [6.0, 6.0, 4.0, 3.0, 2.0, 2.0, 1.0];
        let area = Rect {
            x: 0.0,
            y: 0.0,
            w: 6.0,
            h: 4.0,
        };
        let rects = squarify(&sizes, area);
        assert_eq!(rects.len(), sizes.len());
        for (r, s) in rects.iter().zip(sizes) {
            assert!((r.w * r.h - s).abs() < 1e-9, "{r:?} has area {s}");
            assert!(
                r.x >= -1e-9 && r.y >= -1e-9 && r.x + r.w <= 6.0 + 1e-9 && r.y + r.h <= 4.0 + 1e-9
            );
        }
        // The first row holds the two 6s side by side in a column of width 3 (aspect 4/3... 3/2).
        assert!((rects[0].w - 3.0).abs() < 1e-9 && (rects[0].h - 2.0).abs() < 1e-9);
        // No two rectangles overlap.
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                let overlap_w = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x);
                let overlap_h = (a.y + a.h).min(b.y + b.h) - a.y.max(b.y);
                assert!(
                    overlap_w <= 1e-9 || overlap_h <= 1e-9,
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }

    #[test]
    fn tree_sums_sizes_and_orders_biggest_first() {
        let tree = Tree::from_files([
            ("usr/bin/a", 10),
            ("usr/lib/b", 30),
            ("etc/c", 5),
            ("usr/lib/d", 1),
        ]);
        assert_eq!(tree.size, 46);
        assert_eq!(tree.files, 4);
        assert_eq!(tree.children[0].name, "usr");
        assert_eq!(tree.children[0].size, 41);
        assert_eq!(tree.children[0].children[0].name, "lib");
    }

    #[test]
    fn treemap_of_many_files_stays_bounded() {
        let names: Vec<(String, u64)> = (0..60_000)
            .map(|i| {
                (
                    format!("d{}/e{}/f{i}", i % 7, i % 113),
                    100 + (i % 1000) as u64,
                )
            })
            .collect();
        let tree = Tree::from_files(names.iter().map(|(p, s)| (p.as_str(), *s)));
        let svg = treemap("t", &tree, &|b| format!("{b} B"));
        let boxes = svg.matches("<g class=\"box").count();
        assert!(boxes <= MAX_BOXES + 1, "{boxes} boxes");
        assert!(boxes > 100, "{boxes} boxes");
        assert!(svg.len() < 2_000_000, "{} bytes", svg.len());
        // Deterministic.
        assert_eq!(svg, treemap("t", &tree, &|b| format!("{b} B")));
    }

    #[test]
    fn bars_have_titles_and_scale() {
        let bars = vec![
            Bar {
                label: "layer 0".into(),
                value: 100,
                text: "100 B".into(),
                title: "COPY <app> /app".into(),
                class: "layer",
                colour: 0,
            },
            Bar {
                label: "layer 1".into(),
                value: 0,
                text: "0 B".into(),
                title: "ENV".into(),
                class: "layer",
                colour: 1,
            },
        ];
        let svg = bar_chart("layers", "layers", &bars);
        assert_eq!(svg.matches("<g class=\"bar layer\">").count(), 2);
        assert!(svg.contains("<title>COPY &lt;app&gt; /app</title>"));
        assert!(svg.contains(&format!("width=\"{:.1}\"", WIDTH - LABEL - VALUE)));
    }

    #[test]
    fn shorten_keeps_both_ends() {
        assert_eq!(shorten("abcdefghij", 5), "ab…ij");
        assert_eq!(shorten("abc", 5), "abc");
    }
}
