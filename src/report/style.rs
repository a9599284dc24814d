//! The CSS of banc's HTML pages: the validation report (`--html`, `report::html`) and the run
//! report (`report.html`, `scenario::report`) share one base (palette, light and dark schemes,
//! type, links, focus, run summary, filters, buttons, footer) and add their own rules. Each page
//! pins its sheet with a Content-Security-Policy hash computed over the constant it writes.

/// What both pages share; each sheet starts with it.
macro_rules! base {
    () => {
        r#"
:root {
  color-scheme: light dark;
  --fg: #1b1f24; --muted: #5a6370; --bg: #ffffff; --panel: #f5f6f8; --line: #d5d9df;
  --link: #0a58ca; --mark: #ffe08a; --target: #fff7dc;
  --err: #b3261e; --err-bg: #fdecea; --warn: #8a5300; --warn-bg: #fff3dc;
  --info: #1f5fa8; --info-bg: #e8f1fb; --ok: #1e6b34; --ok-bg: #e6f4ea;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6e8eb; --muted: #a2abb7; --bg: #15181c; --panel: #1e2227; --line: #363c44;
    --link: #7fb0ff; --mark: #6b5312; --target: #2a2616;
    --err: #ff8a80; --err-bg: #3a1d1b; --warn: #ffc56b; --warn-bg: #3a2c12;
    --info: #8cc0ff; --info-bg: #16283d; --ok: #7fd699; --ok-bg: #15301e;
  }
}
body {
  margin: 0 auto; padding: 1.5rem 1.25rem 3rem;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, summary:focus-visible, input:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
.muted, .zero { color: var(--muted); }
.overall { font-size: 1.1rem; margin: .25rem 0 1rem; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; padding: .75rem 1rem; background: var(--panel); border-radius: 6px; }
dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; overflow-wrap: anywhere; }
.fp { font-size: .8em; }
#filtres[hidden] { display: none; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0; padding: .3rem .8rem .5rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; }
legend { font-size: .85rem; color: var(--muted); padding: 0 .3rem; }
button { font: inherit; font-size: .9rem; padding: .15rem .6rem; border: 1px solid var(--line); border-radius: 4px; background: var(--panel); color: var(--fg); cursor: pointer; }
.scroll { overflow-x: auto; }
.none { font-style: italic; color: var(--muted); }
footer.page { margin-top: 3rem; font-size: .85rem; color: var(--muted); border-top: 1px solid var(--line); padding-top: .75rem; }
"#
    };
}

/// The validation report's sheet.
pub const VALIDATE: &str = concat!(
    base!(),
    r#"html { -webkit-text-size-adjust: 100%; }
body { max-width: 72rem; }
code, pre, .path { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.2rem; margin: 0; display: inline; }
h3 { font-size: 1.02rem; margin: 1.25rem 0 .5rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
#synthese h2 { display: block; margin: 1.5rem 0 .75rem; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin-bottom: 1rem; }
.card { border: 1px solid var(--line); border-left-width: 5px; border-radius: 6px; padding: .4rem .8rem; min-width: 8.5rem; }
.card .n { display: block; font-size: 1.5rem; font-weight: 700; line-height: 1.2; }
.card .l { font-size: .85rem; color: var(--muted); }
.card.v-pass { border-left-color: var(--ok); } .card.v-fail, .card.sev-error { border-left-color: var(--err); }
.card.v-error { border-left-color: var(--warn); } .card.sev-warning { border-left-color: var(--warn); }
.card.sev-info { border-left-color: var(--info); } .card.zero .n { color: var(--muted); font-weight: 400; }
#filtres { display: flex; flex-wrap: wrap; gap: .6rem; margin: 0 0 1rem; }
table.docs { border-collapse: collapse; width: 100%; font-size: .95rem; }
table.docs caption { text-align: left; font-weight: 600; padding-bottom: .4rem; }
table.docs th, table.docs td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
table.docs th { font-size: .85rem; color: var(--muted); font-weight: 600; }
table.docs td.path { overflow-wrap: anywhere; }
.dir { opacity: .72; font-weight: 400; }
table.docs tbody tr:hover { background: var(--panel); }
.num { text-align: right !important; font-variant-numeric: tabular-nums; white-space: nowrap; }
abbr[title] { text-decoration: none; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 700; letter-spacing: .01em; white-space: nowrap; border: 1px solid currentColor; vertical-align: .1em; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
.badge.v-pass { color: var(--ok); background: var(--ok-bg); }
.badge.v-fail, .badge.sev-error { color: var(--err); background: var(--err-bg); }
.badge.v-error, .badge.sev-warning { color: var(--warn); background: var(--warn-bg); }
.badge.sev-info { color: var(--info); background: var(--info-bg); }
section.doc { margin-top: 2rem; border: 1px solid var(--line); border-radius: 8px; scroll-margin-top: 1rem; }
section.doc.v-fail { border-top: 4px solid var(--err); }
section.doc.v-error { border-top: 4px solid var(--warn); }
section.doc.v-pass { border-top: 4px solid var(--ok); }
details.doc > summary { padding: .75rem 1rem; cursor: pointer; background: var(--panel); border-radius: 8px 8px 0 0; }
details.doc > summary .path { overflow-wrap: anywhere; font-size: 1rem; font-weight: 600; }
details.doc > :not(summary) { margin-left: 1rem; margin-right: 1rem; }
.docmeta { color: var(--muted); font-size: .9rem; margin-top: .6rem; }
.finding { border-left: 4px solid var(--line); padding: .4rem 0 .4rem .9rem; margin: .75rem 0 1.1rem; scroll-margin-top: 1rem; }
.finding.sev-error { border-left-color: var(--err); }
.finding.sev-warning { border-left-color: var(--warn); }
.finding.sev-info { border-left-color: var(--info); }
.finding:target { background: var(--target); }
.fhead { display: flex; flex-wrap: wrap; gap: .3rem .6rem; align-items: baseline; }
.rule { font-weight: 600; text-decoration: none; overflow-wrap: anywhere; }
.rule:hover { text-decoration: underline; }
.pos { color: var(--muted); font-size: .9rem; }
.msg { margin: .35rem 0; white-space: pre-line; overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: .3rem 0; font-size: .9rem; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
figure.excerpt { margin: .5rem 0 0; }
figcaption { font-size: .8rem; color: var(--muted); margin-bottom: .15rem; }
pre { margin: 0; padding: .5rem 0; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; tab-size: 4; line-height: 1.45; }
.src-line { display: block; padding: 0 .75rem 0 0; white-space: pre; }
.src-line.target { background: var(--target); box-shadow: inset 3px 0 0 var(--warn); }
.ln { display: inline-block; color: var(--muted); padding: 0 .6rem 0 .6rem; margin-right: .4rem; border-right: 1px solid var(--line); user-select: none; }
.cut { color: var(--muted); }
mark { background: var(--mark); color: inherit; outline: 1px solid var(--warn); border-radius: 2px; }
details.again > summary, details.rules > summary { cursor: pointer; font-size: .85rem; color: var(--muted); }
details.rules { margin: 1.25rem 0 .5rem; }
details.rules ul { columns: 1; margin: .4rem 0; padding-left: 1.2rem; font-size: .85rem; }
details.rules li { margin: .1rem 0; }
.top { text-align: right; font-size: .85rem; margin: .5rem 1rem .75rem; }
nav.liens { margin: 0 0 1.25rem; padding: .6rem 1rem; border: 1px solid var(--line); border-left: 5px solid var(--info); border-radius: 6px; font-size: .95rem; }
nav.liens p { margin: .2rem 0; overflow-wrap: anywhere; }
nav.liens ul { display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; margin: .3rem 0; padding: 0; list-style: none; }
.masquer-error .finding.sev-error, .masquer-warning .finding.sev-warning, .masquer-info .finding.sev-info,
.masquer-pass section.doc.v-pass, .masquer-pass table.docs tr.v-pass, section.layer.vide { display: none; }
@media print {
  :root { --fg: #000; --bg: #fff; --panel: #f4f4f4; --target: #fff4cc; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  #filtres, .top, details.again > summary, nav.liens { display: none; }
  section.doc { break-before: page; border: none; }
  .finding, figure.excerpt { break-inside: avoid; }
  pre { overflow: visible; white-space: pre-wrap; }
  .src-line { white-space: pre-wrap; }
  a { color: inherit; text-decoration: none; }
}
"#
);

/// The run report's sheet.
pub const RUN: &str = concat!(
    base!(),
    r#"body { max-width: 76rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.eyebrow { margin: 0; color: var(--muted); font-size: .9rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 .5rem; overflow-wrap: anywhere; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
.banner { padding: .6rem 1rem; border-radius: 6px; border-left: 5px solid var(--warn); background: var(--warn-bg); font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
caption { text-align: left; color: var(--muted); font-size: .9rem; padding-bottom: .4rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
tbody tr:hover { background: var(--panel); }
table.board tr.st-failed td:first-child { box-shadow: inset 4px 0 0 var(--err); }
table.board tr.st-passed td:first-child { box-shadow: inset 4px 0 0 var(--ok); }
table.board tr.st-pending td:first-child { box-shadow: inset 4px 0 0 var(--info); }
.num { text-align: right !important; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
abbr[title] { text-decoration: underline dotted; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 700; white-space: nowrap; border: 1px solid currentColor; vertical-align: .1em; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
.badge.st-passed { color: var(--ok); background: var(--ok-bg); }
.badge.st-failed, .badge.sev-error { color: var(--err); background: var(--err-bg); }
.badge.st-error, .badge.st-interrupted, .badge.sev-warning { color: var(--warn); background: var(--warn-bg); }
.badge.st-pending, .badge.sev-info { color: var(--info); background: var(--info-bg); }
.badge.st-skipped, .badge.sev-other { color: var(--muted); background: var(--panel); }
.tag { display: inline-block; font-size: .75rem; padding: 0 .4rem; margin-left: .3rem; border: 1px solid var(--line); border-radius: 4px; color: var(--muted); }
.tag.opt { border-style: dashed; }
.tag.sim { color: var(--info); border-color: var(--info); }
#filtres { margin: 1rem 0; }
section.part { margin-top: 2.5rem; border-top: 2px solid var(--line); }
details.scen { border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 6px; margin: .6rem 0; }
details.scen.st-passed { border-left-color: var(--ok); }
details.scen.st-failed { border-left-color: var(--err); }
details.scen.st-error, details.scen.st-interrupted { border-left-color: var(--warn); }
details.scen.st-pending { border-left-color: var(--info); }
details.scen > summary { padding: .5rem .8rem; cursor: pointer; background: var(--panel); }
.sid { font-weight: 700; }
.reason { margin: .2rem 0 0 1.2rem; overflow-wrap: anywhere; }
ol.steps { margin: .5rem 1rem .8rem; padding-left: 1.5rem; }
ol.steps > li { margin: .6rem 0; }
.shead { display: flex; flex-wrap: wrap; gap: .3rem .5rem; align-items: baseline; }
.kind { font-size: .8rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.msg { margin: .3rem 0; white-space: pre-line; overflow-wrap: anywhere; }
ul.checks { list-style: none; margin: .3rem 0; padding: 0; }
ul.checks li { overflow-wrap: anywhere; }
ul.checks li.ok > span:first-child { color: var(--ok); font-weight: 700; }
ul.checks li.ko > span:first-child { color: var(--err); font-weight: 700; }
dl.manual { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: .4rem 0; padding: .5rem .8rem; border-left: 3px solid var(--info); background: var(--panel); }
dl.manual dt { color: var(--muted); }
dl.manual dd { margin: 0; overflow-wrap: anywhere; }
dl.manual ul { margin: 0; padding-left: 1.2rem; }
pre.log { margin: .4rem 0; padding: .5rem .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; white-space: pre; }
.judged { margin: .5rem 0; }
.judged .path, .xpath { overflow-wrap: anywhere; }
.top { text-align: right; font-size: .85rem; }
.masquer-passed details.st-passed, .masquer-failed details.st-failed, .masquer-pending details.st-pending,
.masquer-skipped details.st-skipped, .masquer-error details.st-error, .masquer-interrupted details.st-interrupted { display: none; }
@media print {
  :root { --fg: #000; --bg: #fff; --panel: #f4f4f4; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  #filtres, .top { display: none; }
  section.part { break-before: page; }
  pre.log { white-space: pre-wrap; }
  a { color: inherit; text-decoration: none; }
}
"#
);

/// The sheet of `banc serve`'s own pages (upload form, errors).
pub const SERVE: &str = concat!(
    base!(),
    r#"body { max-width: 48rem; }
code { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
form.depot { display: grid; gap: .9rem; margin: 1rem 0; padding: 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
form.depot label { font-weight: 600; }
form.depot input[type=file] { font: inherit; padding: .4rem; border: 1px dashed var(--line); border-radius: 6px; background: var(--bg); width: 100%; }
form.depot button { justify-self: start; font-size: 1rem; padding: .35rem 1.2rem; }
.aide { color: var(--muted); font-size: .9rem; margin: 0; }
ul.faits { padding-left: 1.2rem; }
ul.faits li { margin: .25rem 0; }
pre { padding: .6rem .8rem; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; }
"#
);

/// The sheet of `banc serve --event`'s pages (participants, monitors, managers, scoreboard).
pub const EVENT: &str = concat!(
    base!(),
    r#"body { max-width: 76rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1.02rem; margin: 1rem 0 .4rem; }
header.barre { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: baseline; border-bottom: 1px solid var(--line); padding-bottom: .5rem; margin-bottom: 1rem; }
header.barre nav a { margin-right: 1rem; }
header.barre form { display: inline; margin-left: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: var(--panel); }
.statut { display: inline-block; padding: 0 .45rem; border-radius: 4px; font-size: .9em; white-space: nowrap; }
.passed, .verified, .pass { background: var(--ok-bg); color: var(--ok); }
.failed, .rejected, .fail, .error { background: var(--err-bg); color: var(--err); }
.to-verify, .running, .pending, .incomplete, .partially-verified, .interrupted { background: var(--warn-bg); color: var(--warn); }
.not-started, .skipped { background: var(--panel); color: var(--muted); }
form.action { display: grid; gap: .6rem; margin: .6rem 0; padding: .8rem 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
form.action label { font-weight: 600; }
form.action input[type=file], form.action textarea, form.action select { font: inherit; width: 100%; }
form.action button, form.inline button { justify-self: start; }
form.inline { display: inline; }
.cote { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
@media (max-width: 60rem) { .cote { grid-template-columns: 1fr; } }
.cote > section { min-width: 0; }
#direct { padding: .6rem 1rem; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); }
#direct ol { margin: .3rem 0 0; padding-left: 1.4rem; }
.aide { color: var(--muted); font-size: .9rem; margin: 0; }
.erreur { color: var(--err); background: var(--err-bg); padding: .4rem .8rem; border-radius: 6px; }
.note { color: var(--ok); background: var(--ok-bg); padding: .4rem .8rem; border-radius: 6px; }
pre { padding: .6rem .8rem; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; white-space: pre-wrap; }
"#
);
