//! Renders realistic, hostile and degenerate reports and checks the page and
//! every inline SVG.

use medmetric_report::{
    DemoReport, HTML_FILE, JSON_FILE, MinerInfo, MinerScore, TempoRecord, ValidatorInfo,
    ValidatorWeights, escape, render_html, write_report,
};
use quick_xml::Reader;
use quick_xml::events::Event;

const STRATEGIES: [&str; 8] = [
    "honest reference",
    "undertrained",
    "copycat",
    "noise",
    "slow giant",
    "crasher",
    "constant mask",
    "late copy",
];

/// Eight miners (uids 3..=10), three validators (uids 0..=2, the last one
/// setting random weights), `tempos` tempos with numbers shaped like a real
/// run: the honest reference leads and the random validator's dividends lag.
fn synthetic(tempos: u32) -> DemoReport {
    let miners: Vec<MinerInfo> = STRATEGIES
        .iter()
        .enumerate()
        .map(|(i, s)| MinerInfo {
            uid: 3 + i as u16,
            hotkey: format!("5Miner{i}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{i}"),
            strategy: s.to_string(),
            modality: "cxr".into(),
            model_sha256: format!("{:012x}", 0xabcdef_u64 * (i as u64 + 1)),
            commit_block: 10 + i as u64,
        })
        .collect();
    let validators = vec![
        validator(0, 1_000, "honest"),
        validator(1, 600, "honest"),
        validator(2, 400, "random weights"),
    ];
    let quality = [0.92, 0.71, 0.0, 0.05, 0.66, 0.0, 0.2, 0.0];
    let mut ema = [0.0f64; 8];
    let records = (0..tempos)
        .map(|t| {
            let mut scores = vec![];
            for (i, m) in miners.iter().enumerate() {
                let q = quality[i];
                ema[i] = 0.3 * q + 0.7 * ema[i];
                scores.push(MinerScore {
                    uid: m.uid,
                    hotkey: m.hotkey.clone(),
                    accuracy: q,
                    speed: if i == 4 { 0.1 } else { 0.9 },
                    robustness: q * 0.8,
                    composite: q,
                    ema: ema[i],
                    latency_ms: (i != 5).then_some(12.5 + i as f64),
                    failure: (i == 5).then(|| "worker exited with signal 9".to_string()),
                    copy_of: matches!(i, 2 | 7).then(|| miners[0].hotkey.clone()),
                });
            }
            let honest: Vec<(u16, u16)> = vec![(3, 65535), (4, 20000), (7, 9000)];
            let random: Vec<(u16, u16)> = (3..11u16)
                .map(|u| (u, ((u32::from(u) * 7919 + t * 31) % 65535) as u16))
                .collect();
            let lead = 0.3 + 0.05 * f64::from(t);
            TempoRecord {
                index: t,
                anchor_block: 100 * u64::from(t) + 90,
                epoch_block: 100 * u64::from(t) + 100,
                round_seed: format!("{:064x}", 0x1234_5678 * (u64::from(t) + 1)),
                scores,
                weights: vec![
                    ValidatorWeights {
                        hotkey: validators[0].hotkey.clone(),
                        weights: honest.clone(),
                    },
                    ValidatorWeights {
                        hotkey: validators[1].hotkey.clone(),
                        weights: honest,
                    },
                    ValidatorWeights {
                        hotkey: validators[2].hotkey.clone(),
                        weights: random,
                    },
                ],
                incentive: vec![
                    (3, lead),
                    (4, 0.6 - lead),
                    (7, 0.15),
                    (5, 0.1),
                    (6, 0.05),
                    (8, 0.05),
                    (9, 0.0),
                    (10, 0.0),
                ],
                dividends: vec![(0, 0.55), (1, 0.33), (2, 0.12)],
                emission: vec![
                    (0, 500_000_000),
                    (3, 400_000_000 + u64::from(t)),
                    (2, 100_000_000),
                ],
                eval_seconds: 12.25 + f64::from(t),
            }
        })
        .collect();
    DemoReport {
        title: "MedMetric demo — devnet".into(),
        summary: vec![
            "3 tempos, 8 miners, 3 validators".into(),
            "honest reference ends first".into(),
        ],
        config: vec![
            ("netuid".into(), "1".into()),
            ("tempo".into(), "100".into()),
            ("round size".into(), "64".into()),
            ("mechanism hash".into(), "9f2c…".into()),
            ("backend".into(), "tract".into()),
        ],
        miners,
        validators,
        tempos: records,
    }
}

fn validator(uid: u16, tao: u64, behaviour: &str) -> ValidatorInfo {
    ValidatorInfo {
        uid,
        hotkey: format!("5Validator{uid}yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"),
        stake: tao * 1_000_000_000,
        behaviour: behaviour.into(),
    }
}

/// What one parsed SVG fragment holds.
#[derive(Debug, Default)]
struct SvgStats {
    /// Element name → count.
    elements: std::collections::BTreeMap<String, usize>,
    /// The text of every `<text>` element, entities resolved.
    texts: Vec<String>,
}

impl SvgStats {
    fn count(&self, name: &str) -> usize {
        self.elements.get(name).copied().unwrap_or(0)
    }
    fn has_text(&self, needle: &str) -> bool {
        self.texts.iter().any(|t| t.contains(needle))
    }
}

/// Every `<svg>…</svg>` fragment of the page.
fn svg_fragments(html: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..]
            .find("</svg>")
            .expect("an <svg> without </svg>")
            + start
            + 6;
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// Parses one fragment as XML: balanced tags, well-formed attributes, only
/// characters XML 1.0 allows, one root `<svg>`.
fn parse_svg(fragment: &str) -> SvgStats {
    for c in fragment.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        assert!(ok, "character {c:?} is not allowed in XML");
    }
    let mut reader = Reader::from_str(fragment);
    reader.config_mut().check_end_names = true;
    let mut stats = SvgStats::default();
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut in_text: Option<String> = None;
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("SVG does not parse: {e}\n{fragment}"))
        {
            Event::Start(e) | Event::Empty(e) if depth == 0 && e.name().as_ref() != b"svg" => {
                panic!("root element is not <svg>")
            }
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).expect("utf-8 name");
                for attr in e.attributes().with_checks(true) {
                    attr.expect("well-formed attribute")
                        .unescape_value()
                        .expect("attribute value");
                }
                if depth == 0 {
                    roots += 1;
                }
                if name == "text" {
                    in_text = Some(String::new());
                }
                *stats.elements.entry(name).or_default() += 1;
                depth += 1;
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).expect("utf-8 name");
                for attr in e.attributes().with_checks(true) {
                    attr.expect("well-formed attribute")
                        .unescape_value()
                        .expect("attribute value");
                }
                *stats.elements.entry(name).or_default() += 1;
            }
            Event::End(e) => {
                depth -= 1;
                if e.name().as_ref() == b"text" {
                    stats
                        .texts
                        .push(in_text.take().expect("text open").trim().to_string());
                }
            }
            Event::Text(t) => {
                if let Some(s) = in_text.as_mut() {
                    s.push_str(&t.decode().expect("text"));
                }
            }
            Event::GeneralRef(r) => {
                let s = in_text.as_mut().expect("entity outside <text>");
                match r.resolve_char_ref().expect("char ref") {
                    Some(c) => s.push(c),
                    None => {
                        let name = r.decode().expect("entity name");
                        let c = match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "quot" => '"',
                            "apos" => '\'',
                            other => panic!("unknown entity &{other};"),
                        };
                        s.push(c);
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::DocType(_)
            | Event::CData(_) => {
                panic!("unexpected markup in plotters' SVG")
            }
        }
    }
    assert_eq!(depth, 0, "unbalanced SVG");
    assert_eq!(roots, 1, "one root <svg>");
    stats
}

fn all_svgs(html: &str) -> Vec<SvgStats> {
    let frags = svg_fragments(html);
    assert_eq!(html.matches("<svg").count(), frags.len());
    frags.into_iter().map(parse_svg).collect()
}

/// The text between `<section id="{id}">` and its `</section>`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .expect("section present");
    let end = html[start..].find("</section>").expect("section closed") + start;
    &html[start..end]
}

#[test]
fn realistic_report_renders_every_part() {
    let report = synthetic(3);
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));

    let svgs = all_svgs(&html);
    assert_eq!(svgs.len(), 5, "five plots");
    let (incentive, ema, dividends, bars) = (&svgs[0], &svgs[1], &svgs[2], &svgs[4]);
    // The score spread: one dot per miner per tempo.
    assert_eq!(svgs[3].count("circle"), 8 * 3, "{:?}", svgs[3].elements);
    // Eight miners, three tempos: one polyline per miner (all values finite).
    assert!(incentive.count("polyline") >= 8, "{:?}", incentive.elements);
    assert!(ema.count("polyline") >= 8);
    assert!(dividends.count("polyline") >= 3);
    // 8 groups × 3 bars, plus the background and legend.
    assert!(bars.count("rect") >= 24, "{:?}", bars.elements);
    for (svg, y) in [
        (incentive, "incentive share"),
        (ema, "EMA score"),
        (dividends, "dividend share ÷ stake share"),
        (bars, "reward"),
    ] {
        assert!(svg.has_text(y), "missing y label {y}: {:?}", svg.texts);
        assert!(svg.count("text") > 5, "tick labels drawn");
    }
    for svg in [incentive, ema, dividends] {
        assert!(svg.has_text("tempo"));
        for t in ["0", "1", "2"] {
            assert!(
                svg.texts.iter().any(|s| s == t),
                "tick {t}: {:?}",
                svg.texts
            );
        }
    }
    assert!(incentive.has_text("uid 3 · honest reference"));
    assert!(dividends.has_text("uid 2 · random weights"));
    assert!(dividends.has_text("1 = in proportion to stake"));
    assert!(bars.has_text("miner uid (by composite)"));
    assert!(bars.has_text("accuracy") && bars.has_text("robustness") && bars.has_text("composite"));

    // The leaderboard is ordered by final incentive: honest reference first.
    let board = section(&html, "leaderboard");
    let pos = |s: &str| {
        board
            .find(&format!("<td>{s}</td>"))
            .unwrap_or_else(|| panic!("{s} listed"))
    };
    assert!(pos("honest reference") < pos("undertrained"));
    assert!(pos("undertrained") < pos("slow giant"));
    assert!(board.contains("failed: worker exited with signal 9"));
    assert!(board.contains("copy of"));

    // The random-weights validator earns less per unit of stake (0.12 / 0.2 = 0.6).
    let vals = section(&html, "validators");
    assert!(vals.contains("<td class=\"num\">0.600</td>"), "{vals}");
    assert!(vals.contains("400 τ"));

    // One weights table per tempo, each with a column per validator.
    let tempos = section(&html, "tempos");
    assert_eq!(tempos.matches("<details").count(), 3);
    assert_eq!(
        tempos
            .matches("<th>weight from uid 2 · random weights</th>")
            .count(),
        3
    );
    assert!(tempos.contains("65535 (69.32%)"), "honest weight share");
    for (k, v) in &report.config {
        assert!(html.contains(&format!("<tr><th>{k}</th><td><code>{v}</code></td></tr>")));
    }
}

#[test]
fn page_is_self_contained() {
    let html = render_html(&synthetic(3)).to_ascii_lowercase();
    for needle in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "http://",
        "https://",
    ] {
        if needle == "http://" {
            // SVG's namespace name is an identifier, not a fetched address.
            let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!without_ns.contains(needle), "page references {needle}");
            continue;
        }
        assert!(!html.contains(needle), "page references {needle}");
    }
    assert!(html.contains("content-security-policy"));
}

#[test]
fn hostile_strings_are_escaped() {
    let evil = "<script>alert('x')</script>\"'&amp;<img src=x onerror=alert(1)>";
    let mut report = synthetic(2);
    report.title = evil.into();
    report.summary.push(evil.into());
    report.config.push((evil.into(), evil.into()));
    report.miners[0].hotkey = evil.into();
    report.miners[1].strategy = format!("</svg>{evil}\u{0}\u{1b}\u{FFFF}");
    report.miners[2].modality = evil.into();
    report.miners[3].model_sha256 = evil.into();
    report.validators[2].behaviour = format!("</text>{evil}");
    report.validators[1].hotkey = evil.into();
    for t in &mut report.tempos {
        t.round_seed = evil.into();
        t.weights[1].hotkey = evil.into();
        t.weights.push(ValidatorWeights {
            hotkey: format!("unknown{evil}"),
            weights: vec![(3, 1)],
        });
        t.scores[1].failure = Some(evil.into());
        t.scores[2].copy_of = Some(evil.into());
        t.scores[3].hotkey = evil.into();
    }
    let html = render_html(&report);
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "raw <script> in the page");
    assert!(!lower.contains("<img"), "raw <img> in the page");
    assert!(!html.contains('\u{0}') && !html.contains('\u{1b}'));
    assert!(html.contains(&escape(evil)));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&#39;&amp;amp;"));

    // Labels inside the plots survive as text, not markup.
    let svgs = all_svgs(&html);
    assert_eq!(svgs.len(), 5);
    assert!(
        svgs[2].has_text("uid 2 · </text><script>"),
        "{:?}",
        svgs[2].texts
    );
    assert!(
        svgs[0].has_text("uid 4 · </svg><script>"),
        "{:?}",
        svgs[0].texts
    );
}

fn edge_cases() -> Vec<(&'static str, DemoReport)> {
    let mut cases = vec![
        ("empty", DemoReport::default()),
        ("no tempos", synthetic(0)),
        ("one tempo", synthetic(1)),
    ];

    let mut zeros = synthetic(3);
    for t in &mut zeros.tempos {
        t.incentive.iter_mut().for_each(|v| v.1 = 0.0);
        t.dividends.iter_mut().for_each(|v| v.1 = 0.0);
        for s in &mut t.scores {
            (s.accuracy, s.speed, s.robustness, s.composite, s.ema) = (0.0, 0.0, 0.0, 0.0, 0.0);
        }
        t.weights
            .iter_mut()
            .for_each(|w| w.weights.iter_mut().for_each(|x| x.1 = 0));
    }
    cases.push(("all zero", zeros));

    let mut weird = synthetic(3);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        f64::MIN_POSITIVE,
        -0.0,
    ];
    for (ti, t) in weird.tempos.iter_mut().enumerate() {
        for (i, v) in t.incentive.iter_mut().enumerate() {
            v.1 = specials[(i + ti) % specials.len()];
        }
        t.dividends
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| v.1 = specials[(i + 2 * ti) % specials.len()]);
        for (i, s) in t.scores.iter_mut().enumerate() {
            let x = specials[(i + ti) % specials.len()];
            (s.accuracy, s.speed, s.robustness, s.composite, s.ema) = (x, -x, x, x, x);
            s.latency_ms = Some(x);
        }
        t.eval_seconds = f64::NAN;
    }
    cases.push(("non-finite", weird));

    let mut all_nan = synthetic(2);
    for t in &mut all_nan.tempos {
        t.incentive.iter_mut().for_each(|v| v.1 = f64::NAN);
        t.dividends.iter_mut().for_each(|v| v.1 = f64::NAN);
        t.scores.iter_mut().for_each(|s| {
            (s.accuracy, s.speed, s.robustness, s.composite, s.ema) =
                (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        });
    }
    cases.push(("all NaN", all_nan));

    let mut no_stake = synthetic(3);
    no_stake.validators[1].stake = 0;
    cases.push(("a validator without stake", no_stake.clone()));
    no_stake.validators.iter_mut().for_each(|v| v.stake = 0);
    cases.push(("no stake at all", no_stake));

    let mut whales = synthetic(2);
    whales
        .validators
        .iter_mut()
        .for_each(|v| v.stake = u64::MAX);
    cases.push(("u64::MAX stakes", whales));

    let mut crowd = synthetic(3);
    let template = crowd.miners[1].clone();
    for uid in 11..311u16 {
        crowd.miners.push(MinerInfo {
            uid,
            hotkey: format!("5Crowd{uid}"),
            ..template.clone()
        });
        for (ti, t) in crowd.tempos.iter_mut().enumerate() {
            let mut s = t.scores[1].clone();
            s.uid = uid;
            s.composite = f64::from(uid % 17) / 17.0;
            t.scores.push(s);
            t.incentive
                .push((uid, f64::from((uid + ti as u16) % 13) / 1000.0));
            t.weights[2].weights.push((uid, uid));
        }
    }
    cases.push(("hundreds of miners", crowd));

    let mut long = synthetic(3);
    let huge = "5".repeat(20_000);
    long.miners.iter_mut().for_each(|m| {
        m.hotkey = huge.clone();
        m.strategy = "s".repeat(5_000);
    });
    long.validators
        .iter_mut()
        .for_each(|v| v.behaviour = "b".repeat(5_000));
    long.tempos
        .iter_mut()
        .for_each(|t| t.scores[0].failure = Some("é".repeat(50_000)));
    cases.push(("very long strings", long));

    let mut dup = synthetic(3);
    dup.miners.push(dup.miners[0].clone());
    dup.tempos.swap(0, 2);
    dup.tempos.push(dup.tempos[0].clone());
    for t in &mut dup.tempos {
        t.incentive.push((3, 0.9));
        t.scores.push(t.scores[0].clone());
    }
    cases.push(("duplicate uids and tempos out of order", dup));

    let mut far = synthetic(2);
    far.tempos[0].index = 0;
    far.tempos[1].index = u32::MAX;
    cases.push(("tempo indices far apart", far));
    cases
}

#[test]
fn edge_cases_render_without_panicking() {
    for (name, report) in edge_cases() {
        let html = render_html(&report);
        assert!(html.ends_with("</html>\n"), "{name}");
        assert!(!html.contains("Plot unavailable"), "{name}: a plot failed");
        let svgs = all_svgs(&html);
        let expected = match name {
            "empty" | "no tempos" => 0,
            _ => 5,
        };
        assert_eq!(svgs.len(), expected, "{name}");
        if name == "hundreds of miners" {
            // Ten miners in colour and in the legend; the rest grey, counted.
            assert!(svgs[0].has_text("298 more (grey)"), "{:?}", svgs[0].texts);
            assert!(svgs[0].count("text") < 60, "legend is capped");
            assert!(
                svgs[3].has_text("first 32 of 308 shown"),
                "{:?}",
                svgs[3].texts
            );
            assert!(
                svgs[4].has_text("first 24 of 308 shown"),
                "{:?}",
                svgs[4].texts
            );
        }
        if name == "a validator without stake" {
            assert!(svgs[2].has_text("uid 1: no stake"));
        }
        if name == "very long strings" {
            assert!(
                svgs[0].texts.iter().all(|t| t.chars().count() < 40),
                "labels are shortened"
            );
        }
    }
}

#[test]
fn rendering_is_deterministic() {
    for (name, report) in edge_cases()
        .into_iter()
        .chain([("realistic", synthetic(3))])
    {
        let a = render_html(&report);
        let b = render_html(&report.clone());
        assert!(a == b, "{name}: two renders differ");
    }
    // The JSON copy renders to the same page as the original.
    let report = synthetic(3);
    let json = serde_json::to_string(&report).expect("serialise");
    let back: DemoReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, report);
    assert_eq!(render_html(&back), render_html(&report));
}

#[test]
fn write_report_writes_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("nested").join("report");
    let report = synthetic(3);
    let html_path = write_report(&report, &out).expect("write");
    assert_eq!(html_path, out.join(HTML_FILE));
    assert_eq!(
        std::fs::read_to_string(&html_path).expect("html"),
        render_html(&report)
    );
    let json = std::fs::read_to_string(out.join(JSON_FILE)).expect("json");
    assert_eq!(
        serde_json::from_str::<DemoReport>(&json).expect("parse"),
        report
    );

    // Overwriting leaves exactly the two files, no temporaries.
    let mut second = synthetic(1);
    second.title = "second run".into();
    write_report(&second, &out).expect("rewrite");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![HTML_FILE.to_string(), JSON_FILE.to_string()]);
    assert!(
        std::fs::read_to_string(&html_path)
            .expect("html")
            .contains("<title>second run</title>")
    );

    // A file where the folder should be is a clear error, not a panic.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").expect("file");
    let err = write_report(&report, &blocker).expect_err("a file is not a folder");
    assert!(err.to_string().contains("blocker"), "{err}");
}
