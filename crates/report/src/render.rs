//! The HTML page: joins the report's records and lays out tables and plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::html::{decimal, escape, percent, short_key, tao};
use crate::model::{DemoReport, MinerInfo, MinerScore, TempoRecord, ValidatorInfo};
use crate::plot::{self, BarChart, BarGroup, LineChart, PALETTE, Series};
use crate::strip::{self, Strip, StripChart};

/// Inline style sheet; the page references nothing outside itself.
const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0 1rem}h2{font-size:1.25rem;margin:2rem 0 .6rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;background:#fff}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.note{max-width:28rem;overflow-wrap:anywhere}code,.key{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.scroll{overflow-x:auto}.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px}
figure{margin:1rem 0;background:#fff;border:1px solid #ddd;padding:.5rem}figcaption{font-weight:600;margin-bottom:.3rem}
figure svg{max-width:100%;height:auto}.empty{color:#777;font-style:italic}
details{margin:.5rem 0;background:#fff;border:1px solid #ddd;padding:.4rem .6rem}summary{cursor:pointer;font-weight:600}
footer{color:#777;font-size:.8rem;margin-top:2rem}
";

/// How many miners get a colour of their own in the line charts.
const COLOURED: usize = PALETTE.len();

/// `uid → value` for one tempo; the first entry for a uid wins.
fn by_uid<T: Copy>(pairs: &[(u16, T)]) -> BTreeMap<u16, T> {
    let mut map = BTreeMap::new();
    for &(uid, v) in pairs {
        map.entry(uid).or_insert(v);
    }
    map
}

fn scores_by_uid(scores: &[MinerScore]) -> BTreeMap<u16, &MinerScore> {
    let mut map = BTreeMap::new();
    for s in scores {
        map.entry(s.uid).or_insert(s);
    }
    map
}

/// Descending order with non-finite values last.
fn sort_key(v: Option<f64>) -> f64 {
    v.filter(|v| v.is_finite()).unwrap_or(f64::NEG_INFINITY)
}

/// A miner's line in the leaderboard.
struct Row<'a> {
    miner: &'a MinerInfo,
    incentive: Option<f64>,
    score: Option<&'a MinerScore>,
    colour: Option<usize>,
}

/// The report's records, ordered and joined once.
struct View<'a> {
    report: &'a DemoReport,
    /// Tempos by index (stable for equal indices).
    tempos: Vec<&'a TempoRecord>,
    /// Miners by final incentive, best first; ties by uid.
    rows: Vec<Row<'a>>,
}

impl<'a> View<'a> {
    fn new(report: &'a DemoReport) -> Self {
        let mut tempos: Vec<&TempoRecord> = report.tempos.iter().collect();
        tempos.sort_by_key(|t| t.index);
        let last = tempos.last();
        let incentive = last.map(|t| by_uid(&t.incentive)).unwrap_or_default();
        let scores = last.map(|t| scores_by_uid(&t.scores)).unwrap_or_default();
        let mut rows: Vec<Row<'a>> = report
            .miners
            .iter()
            .map(|m| Row {
                miner: m,
                incentive: incentive.get(&m.uid).copied(),
                score: scores.get(&m.uid).copied(),
                colour: None,
            })
            .collect();
        rows.sort_by(|a, b| {
            sort_key(b.incentive)
                .total_cmp(&sort_key(a.incentive))
                .then(a.miner.uid.cmp(&b.miner.uid))
        });
        for (i, row) in rows.iter_mut().take(COLOURED).enumerate() {
            row.colour = Some(i);
        }
        View {
            report,
            tempos,
            rows,
        }
    }

    fn miner_label(&self, row: &Row<'_>) -> String {
        format!("uid {} · {}", row.miner.uid, row.miner.strategy)
    }

    fn validator_by_hotkey(&self, hotkey: &str) -> Option<&'a ValidatorInfo> {
        self.report.validators.iter().find(|v| v.hotkey == hotkey)
    }
}

/// Renders the whole page.
pub(crate) fn page(report: &DemoReport) -> String {
    let view = View::new(report);
    let title = escape(&report.title);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing on the page may load or run anything, even if escaping failed.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>"
    );
    let _ = writeln!(out, "<h1>{title}</h1>");
    summary(&mut out, report);
    leaderboard(&mut out, &view);
    validators(&mut out, &view);
    plots(&mut out, &view);
    tempos(&mut out, &view);
    out.push_str("<footer>Generated by medmetric-report. This file is self-contained: it loads nothing.</footer>\n");
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn summary(out: &mut String, report: &DemoReport) {
    if !report.summary.is_empty() {
        out.push_str("<section id=\"summary\">\n<ul>\n");
        for line in &report.summary {
            let _ = writeln!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul>\n</section>\n");
    }
    out.push_str("<section id=\"config\">\n<h2>Configuration</h2>\n");
    if report.config.is_empty() {
        out.push_str("<p class=\"empty\">No configuration recorded.</p>\n");
    } else {
        out.push_str("<table>\n");
        for (k, v) in &report.config {
            let _ = writeln!(
                out,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                escape(k),
                escape(v)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

/// A hotkey cell: shortened, the full key in the tooltip.
fn key_cell(hotkey: &str) -> String {
    format!(
        "<td class=\"key\" title=\"{}\">{}</td>",
        escape(hotkey),
        escape(&short_key(hotkey))
    )
}

fn swatch(colour: Option<usize>) -> String {
    match colour {
        Some(i) => {
            let c = PALETTE[i % PALETTE.len()];
            format!(
                "<span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span>",
                c.0, c.1, c.2
            )
        }
        None => String::new(),
    }
}

fn leaderboard(out: &mut String, view: &View<'_>) {
    out.push_str("<section id=\"leaderboard\">\n<h2>Final leaderboard</h2>\n");
    if view.rows.is_empty() {
        out.push_str("<p class=\"empty\">No miners registered.</p>\n</section>\n");
        return;
    }
    let last = view
        .tempos
        .last()
        .map(|t| format!("after tempo {}", t.index))
        .unwrap_or_else(|| "no tempo has run".to_string());
    let _ = writeln!(
        out,
        "<p>Miners by incentive {last}; scores are the first honest validator's.</p>"
    );
    out.push_str("<div class=\"scroll\"><table>\n<tr><th>#</th><th></th><th>uid</th><th>hotkey</th><th>strategy</th><th>modality</th><th>model sha256</th><th>commit block</th><th>incentive</th><th>composite</th><th>EMA</th><th>latency ms</th><th>notes</th></tr>\n");
    for (rank, row) in view.rows.iter().enumerate() {
        let m = row.miner;
        let s = row.score;
        let num = |f: fn(&MinerScore) -> f64| s.map(|s| decimal(f(s), 3)).unwrap_or("—".into());
        let latency = s
            .and_then(|s| s.latency_ms)
            .map(|v| decimal(v, 1))
            .unwrap_or("—".into());
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>{}<td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"note\">{}</td></tr>",
            rank + 1,
            swatch(row.colour),
            m.uid,
            key_cell(&m.hotkey),
            escape(&m.strategy),
            escape(&m.modality),
            escape(&m.model_sha256),
            m.commit_block,
            row.incentive.map(percent).unwrap_or("—".into()),
            num(|s| s.composite),
            num(|s| s.ema),
            latency,
            s.map(notes).unwrap_or_default(),
        );
    }
    out.push_str("</table></div>\n</section>\n");
}

/// Failure and copy notes for a score, escaped.
fn notes(s: &MinerScore) -> String {
    let mut parts = vec![];
    if let Some(f) = &s.failure {
        parts.push(format!("failed: {}", escape(&crate::html::shorten(f, 300))));
    }
    if let Some(c) = &s.copy_of {
        parts.push(format!(
            "copy of <span class=\"key\" title=\"{}\">{}</span>",
            escape(c),
            escape(&short_key(c))
        ));
    }
    parts.join("; ")
}

/// Each validator's stake share among the validators with stake.
fn stake_shares(validators: &[ValidatorInfo]) -> BTreeMap<u16, f64> {
    let total: u128 = validators.iter().map(|v| u128::from(v.stake)).sum();
    let mut map = BTreeMap::new();
    if total == 0 {
        return map;
    }
    for v in validators.iter().filter(|v| v.stake > 0) {
        map.entry(v.uid).or_insert(v.stake as f64 / total as f64);
    }
    map
}

/// Dividend share ÷ stake share; 1 means paid exactly in proportion to stake.
fn dividend_ratio(tempo: &TempoRecord, uid: u16, share: f64) -> Option<f64> {
    by_uid(&tempo.dividends).get(&uid).map(|d| d / share)
}

fn validators(out: &mut String, view: &View<'_>) {
    out.push_str("<section id=\"validators\">\n<h2>Validators</h2>\n");
    if view.report.validators.is_empty() {
        out.push_str("<p class=\"empty\">No validators registered.</p>\n</section>\n");
        return;
    }
    let shares = stake_shares(&view.report.validators);
    out.push_str("<div class=\"scroll\"><table>\n<tr><th>uid</th><th>hotkey</th><th>behaviour</th><th>stake</th><th>stake share</th><th>dividends (last tempo)</th><th>dividends ÷ stake share</th></tr>\n");
    let last = view.tempos.last();
    for v in &view.report.validators {
        let share = shares.get(&v.uid).copied();
        let dividend = last.and_then(|t| by_uid(&t.dividends).get(&v.uid).copied());
        let ratio = match (last, share) {
            (Some(t), Some(s)) => dividend_ratio(t, v.uid, s),
            _ => None,
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td>{}<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            v.uid,
            key_cell(&v.hotkey),
            escape(&v.behaviour),
            tao(v.stake),
            share.map(percent).unwrap_or("—".into()),
            dividend.map(percent).unwrap_or("—".into()),
            ratio.map(|r| decimal(r, 3)).unwrap_or("—".into()),
        );
    }
    out.push_str("</table></div>\n</section>\n");
}

fn figure(out: &mut String, id: &str, caption: &str, svg: Option<Result<String, String>>) {
    let _ = writeln!(
        out,
        "<figure id=\"{id}\">\n<figcaption>{}</figcaption>",
        escape(caption)
    );
    match svg {
        Some(Ok(svg)) => out.push_str(&svg),
        Some(Err(e)) => {
            let _ = writeln!(
                out,
                "<p class=\"empty\">Plot unavailable: {}</p>",
                escape(&e)
            );
        }
        None => out.push_str("<p class=\"empty\">No data recorded.</p>\n"),
    }
    out.push_str("</figure>\n");
}

/// A line per leaderboard row, `value` read from each tempo.
fn miner_series(view: &View<'_>, value: impl Fn(&TempoRecord, u16) -> Option<f64>) -> Vec<Series> {
    view.rows
        .iter()
        .map(|row| Series {
            label: view.miner_label(row),
            colour: row.colour,
            points: view
                .tempos
                .iter()
                .filter_map(|t| value(t, row.miner.uid).map(|v| (f64::from(t.index), v)))
                .collect(),
        })
        .collect()
}

fn plots(out: &mut String, view: &View<'_>) {
    out.push_str("<section id=\"plots\">\n<h2>Plots</h2>\n");
    let have_tempos = !view.tempos.is_empty();
    let render = |chart: LineChart<'_>| plot::line_chart(&chart).map_err(|e| e.to_string());

    let incentive = have_tempos.then(|| {
        let maps: BTreeMap<u32, BTreeMap<u16, f64>> = view
            .tempos
            .iter()
            .map(|t| (t.index, by_uid(&t.incentive)))
            .collect();
        render(LineChart {
            x_desc: "tempo",
            y_desc: "incentive share",
            series: miner_series(view, |t, uid| maps.get(&t.index)?.get(&uid).copied()),
            reference: None,
            notes: vec![],
        })
    });
    figure(
        out,
        "plot-incentive",
        "Incentive per miner across tempos (Yuma, after each epoch)",
        incentive,
    );

    let ema = have_tempos.then(|| {
        let maps: BTreeMap<u32, BTreeMap<u16, &MinerScore>> = view
            .tempos
            .iter()
            .map(|t| (t.index, scores_by_uid(&t.scores)))
            .collect();
        render(LineChart {
            x_desc: "tempo",
            y_desc: "EMA score",
            series: miner_series(view, |t, uid| maps.get(&t.index)?.get(&uid).map(|s| s.ema)),
            reference: None,
            notes: vec![],
        })
    });
    figure(
        out,
        "plot-ema",
        "Moving (EMA) score per miner across tempos",
        ema,
    );

    let dividends = (have_tempos && !view.report.validators.is_empty()).then(|| {
        let shares = stake_shares(&view.report.validators);
        let mut series = vec![];
        let mut notes = vec![];
        for (i, v) in view.report.validators.iter().enumerate() {
            let label = format!("uid {} · {}", v.uid, v.behaviour);
            let Some(&share) = shares.get(&v.uid) else {
                notes.push(format!("uid {}: no stake", v.uid));
                continue;
            };
            series.push(Series {
                label,
                colour: (i < COLOURED).then_some(i),
                points: view
                    .tempos
                    .iter()
                    .filter_map(|t| {
                        dividend_ratio(t, v.uid, share).map(|r| (f64::from(t.index), r))
                    })
                    .collect(),
            });
        }
        render(LineChart {
            x_desc: "tempo",
            y_desc: "dividend share ÷ stake share",
            series,
            reference: Some((1.0, "1 = in proportion to stake")),
            notes,
        })
    });
    figure(
        out,
        "plot-dividends",
        "Dividends per unit of stake per validator across tempos",
        dividends,
    );

    let spread = have_tempos.then(|| {
        let maps: Vec<BTreeMap<u16, &MinerScore>> = view
            .tempos
            .iter()
            .map(|t| scores_by_uid(&t.scores))
            .collect();
        let strips = view
            .rows
            .iter()
            .map(|row| Strip {
                label: row.miner.strategy.clone(),
                colour: row.colour.filter(|&c| c < 3),
                values: maps
                    .iter()
                    .filter_map(|m| m.get(&row.miner.uid).map(|s| s.composite))
                    .collect(),
            })
            .collect();
        strip::strip_chart(&StripChart {
            x_desc: "strategy (by final incentive)",
            y_desc: "composite credited",
            strips,
            notes: vec![format!("one dot per tempo ({})", view.tempos.len())],
        })
        .map_err(|e| e.to_string())
    });
    figure(
        out,
        "plot-distribution",
        "Score distribution per strategy: the composite credited in every tempo (after copy detection)",
        spread,
    );

    let bars = view
        .tempos
        .last()
        .filter(|t| !t.scores.is_empty())
        .map(|t| {
            let mut scores: Vec<&MinerScore> = scores_by_uid(&t.scores).into_values().collect();
            scores.sort_by(|a, b| {
                sort_key(Some(b.composite))
                    .total_cmp(&sort_key(Some(a.composite)))
                    .then(a.uid.cmp(&b.uid))
            });
            let groups = scores
                .iter()
                .map(|s| BarGroup {
                    label: s.uid.to_string(),
                    bars: vec![s.accuracy, s.speed, s.robustness],
                    marker: Some(s.composite),
                })
                .collect();
            plot::bar_chart(&BarChart {
                x_desc: "miner uid (by composite)",
                y_desc: "reward",
                bar_names: &["accuracy", "speed", "robustness"],
                marker_name: "composite",
                groups,
                notes: vec![format!("tempo {}", t.index)],
            })
            .map_err(|e| e.to_string())
        });
    figure(
        out,
        "plot-composite",
        "Last tempo: composite score per miner and its accuracy, speed and robustness rewards",
        bars,
    );
    out.push_str("</section>\n");
}

fn tempos(out: &mut String, view: &View<'_>) {
    out.push_str("<section id=\"tempos\">\n<h2>Tempos</h2>\n");
    if view.tempos.is_empty() {
        out.push_str("<p class=\"empty\">No tempo has run.</p>\n</section>\n");
        return;
    }
    let miners: BTreeMap<u16, &MinerInfo> = view
        .report
        .miners
        .iter()
        .rev()
        .map(|m| (m.uid, m))
        .collect();
    let validators: BTreeMap<u16, &ValidatorInfo> = view
        .report
        .validators
        .iter()
        .rev()
        .map(|v| (v.uid, v))
        .collect();
    let count = view.tempos.len();
    for (i, t) in view.tempos.iter().enumerate() {
        let open = if i + 1 == count { " open" } else { "" };
        let _ = writeln!(
            out,
            "<details{open}>\n<summary>Tempo {} — epoch at block {}, round anchored at block {}, evaluation {} s</summary>\n<p>Round seed <code>{}</code></p>",
            t.index,
            t.epoch_block,
            t.anchor_block,
            decimal(t.eval_seconds, 1),
            escape(&t.round_seed),
        );
        let incentive = by_uid(&t.incentive);
        let dividends = by_uid(&t.dividends);
        let emission = by_uid(&t.emission);
        let weights: Vec<(String, BTreeMap<u16, u16>, u64)> = t
            .weights
            .iter()
            .map(|w| {
                let head = match view.validator_by_hotkey(&w.hotkey) {
                    Some(v) => format!("uid {} · {}", v.uid, escape(&v.behaviour)),
                    None => escape(&short_key(&w.hotkey)),
                };
                let map = by_uid(&w.weights);
                let total = map.values().map(|&v| u64::from(v)).sum();
                (head, map, total)
            })
            .collect();
        let mut uids: Vec<u16> = incentive
            .keys()
            .chain(dividends.keys())
            .chain(emission.keys())
            .copied()
            .collect();
        for (_, map, _) in &weights {
            uids.extend(map.keys());
        }
        uids.sort_unstable();
        uids.dedup();

        out.push_str("<div class=\"scroll\"><table>\n<tr><th>uid</th><th>who</th>");
        for (head, _, _) in &weights {
            let _ = write!(out, "<th>weight from {head}</th>");
        }
        out.push_str("<th>incentive</th><th>dividends</th><th>emission</th></tr>\n");
        for uid in uids {
            let who = match (miners.get(&uid), validators.get(&uid)) {
                (Some(m), _) => format!("miner · {}", escape(&m.strategy)),
                (None, Some(v)) => format!("validator · {}", escape(&v.behaviour)),
                (None, None) => String::new(),
            };
            let _ = write!(out, "<tr><td class=\"num\">{uid}</td><td>{who}</td>");
            for (_, map, total) in &weights {
                match map.get(&uid) {
                    Some(&w) if *total > 0 => {
                        let share = f64::from(w) / *total as f64;
                        let _ = write!(out, "<td class=\"num\">{w} ({})</td>", percent(share));
                    }
                    Some(&w) => {
                        let _ = write!(out, "<td class=\"num\">{w}</td>");
                    }
                    None => out.push_str("<td class=\"num\">—</td>"),
                }
            }
            let _ = writeln!(
                out,
                "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                incentive
                    .get(&uid)
                    .map(|&v| percent(v))
                    .unwrap_or("—".into()),
                dividends
                    .get(&uid)
                    .map(|&v| percent(v))
                    .unwrap_or("—".into()),
                emission.get(&uid).map(|&v| tao(v)).unwrap_or("—".into()),
            );
        }
        out.push_str("</table></div>\n</details>\n");
    }
    out.push_str("</section>\n");
}
