// The notebooks' moving pictures in a real JupyterLab: opens a notebook in a running JupyterLab
// server, runs all its cells (menu Run -> Run All Cells), waits for the kernel to finish, then
// moves every slider (display::Slider) to its other end and checks that the frame shown changed,
// and checks that every animated PNG (display::animation) shows different pixels a second apart.
// Saves screenshots into OUTDIR, prints what it saw, exits non-zero on a failure (a cell that
// failed, a run that did not finish in time, no slider and no animation, a picture that does not
// move). check_lab.sh starts the server, runs this and stops the server.
// Screenshots: lab-opened.png, lab-done.png (the page before and after the run), sliderK-start.png,
// sliderK-end.png and sliderK-in-lab.png (the page around it), animationK-a.png and -b.png (a
// second apart) and animationK-in-lab.png, checked-figureK.png (a section's figure with its check
// table under it, in one output: the picture must have decoded); lab-failed.png when it gave up.
//
//   cd scripts/browser && npm install
//   node check_lab.mjs [--url URL] [--token TOKEN] [--timeout SECONDS] [--keep-kernel] NOTEBOOK OUTDIR
//
// NOTEBOOK: the notebook's path relative to the server's root folder (notebooks/01_forward_process.ipynb
// when the server runs in the repository). URL (default $JUPYTER_URL, else http://127.0.0.1:8899/)
// and TOKEN (default $JUPYTER_TOKEN) of the server. SECONDS: how long the cells may run, from Run All on (default 600).
// The notebook opens in a workspace of its own (deleted afterwards); its kernel is shut down at
// the end unless --keep-kernel. Nothing is saved: switch autosave off in that server's settings
// (check_lab.sh does), or the outputs are written into the notebook.
// Chromium: Debian's `chromium` package (apt-get install chromium), or CHROMIUM=/path/to/it.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

function usage(msg) {
  if (msg) console.error(`check_lab: ${msg}`);
  console.error("usage: node check_lab.mjs [--url URL] [--token TOKEN] [--timeout SECONDS] [--keep-kernel] NOTEBOOK OUTDIR");
  process.exit(2);
}
const opts = { url: process.env.JUPYTER_URL || "http://127.0.0.1:8899/", token: process.env.JUPYTER_TOKEN || "", timeout: 600, keepKernel: false };
const positional = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--url") opts.url = argv[++i];
  else if (a === "--token") opts.token = argv[++i];
  else if (a === "--timeout") opts.timeout = Number(argv[++i]);
  else if (a === "--keep-kernel") opts.keepKernel = true;
  else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else positional.push(a);
}
const [notebook, out_dir] = positional;
if (!notebook || !out_dir || positional.length > 2 || !(opts.timeout > 0)) usage();
const base = opts.url.endsWith("/") ? opts.url : opts.url + "/";
mkdirSync(out_dir, { recursive: true });

const t0 = Date.now();
const elapsed = () => `${Math.round((Date.now() - t0) / 1000)} s`;
const log = (msg) => console.log(`[${elapsed()}] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(method, path) {
  const r = await fetch(new URL(path, base), { method, headers: { Authorization: `token ${opts.token}` } });
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status}`);
  return r.status === 204 ? null : r.json();
}
// The notebook's session (kernel id and execution_state) on the server, or undefined.
async function session() {
  const sessions = await api("GET", "api/sessions");
  return sessions.find((s) => s.path === notebook || (s.notebook && s.notebook.path === notebook));
}

let failures = 0;
const fail = (msg) => { failures++; log(`FAILED: ${msg}`); };

await api("GET", "api/status").catch((e) => {
  console.error(`check_lab: no JupyterLab server answers at ${base} with that token (${e.message})`);
  process.exit(2);
});

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
const workspace = `ddpm-check-${process.pid}-${Date.now()}`;
const encoded = notebook.split("/").map(encodeURIComponent).join("/");
let sessionId = null;

async function finish() {
  if (sessionId && !opts.keepKernel) {
    await api("DELETE", `api/sessions/${sessionId}`).then(() => log("kernel shut down"), (e) => log(`could not shut the kernel down: ${e.message}`));
  }
  await api("DELETE", `lab/api/workspaces/${workspace}`).catch(() => {});
  await browser.close();
  log(failures ? `${failures} failure(s)` : "all ok");
  process.exit(failures ? 1 : 0);
}
async function abort(msg) {
  fail(msg);
  await page.screenshot({ path: `${out_dir}/lab-failed.png` }).catch(() => {});
  log(`screenshot of the page: ${out_dir}/lab-failed.png`);
  await finish();
}

try {
  // 1. Open the notebook and wait for its kernel.
  log(`opening ${notebook} at ${base}`);
  await page.goto(new URL(`lab/workspaces/${workspace}/tree/${encoded}?token=${encodeURIComponent(opts.token)}`, base).href);
  const panel = page.locator(".jp-NotebookPanel").filter({ has: page.locator(".jp-Notebook") }).first();
  await panel.locator(".jp-Cell").first().waitFor({ timeout: 120_000 }).catch(() => abort("the notebook did not open within 120 s"));
  for (let waited = 0; ; waited += 1000) {
    const s = await session().catch(() => undefined);
    if (s && s.kernel) {
      sessionId = s.id;
      if (s.kernel.execution_state === "idle") {
        log(`kernel ${s.kernel.name} is idle`);
        break;
      }
    }
    if (await page.locator(".jp-Dialog").count()) {
      await page.screenshot({ path: `${out_dir}/lab-dialog.png` });
      const text = (await page.locator(".jp-Dialog").first().innerText()).replace(/\s+/g, " ");
      await abort(`a dialog came up instead of the kernel (no kernel "${s?.kernel?.name ?? "?"}"?): ${text.slice(0, 300)}`);
    }
    if (waited > 120_000) await abort(`the kernel did not become idle within 120 s (${s?.kernel?.execution_state ?? "no session"})`);
    await sleep(1000);
  }
  await page.screenshot({ path: `${out_dir}/lab-opened.png` });

  // 2. Run -> Run All Cells, as a reader would.
  await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
  log("Run -> Run All Cells");
  const t_run = Date.now();

  // 3. Wait until no cell is queued or running and the kernel stays idle.
  const prompts = () => panel.locator(".jp-CodeCell .jp-InputPrompt").evaluateAll((ps) => ps.map((p) => p.textContent.trim()));
  let quiet = 0;
  let last_report = 0;
  let started = false;
  for (;;) {
    const ps = await prompts();
    const running = ps.findIndex((p) => p.includes("*"));
    const done = ps.filter((p) => /\d/.test(p)).length;
    const state = (await session().catch(() => undefined))?.kernel?.execution_state;
    if (running >= 0) started = true;
    if (Date.now() - last_report > 30_000) {
      last_report = Date.now();
      log(`${done} of ${ps.length} code cells run` + (running >= 0 ? `, code cell ${running + 1} running` : "") + `, kernel ${state}`);
    }
    quiet = running < 0 && state === "idle" && (started || done > 0) ? quiet + 1 : 0;
    if (quiet >= 3) break;
    if (Date.now() - t_run > opts.timeout * 1000) await abort(`the cells did not finish within ${opts.timeout} s (${done} of ${ps.length} run)`);
    await sleep(2000);
  }
  const ps = await prompts();
  const not_run = ps.map((p, i) => [p, i]).filter(([p]) => !/\d/.test(p)).map(([, i]) => i + 1);
  log(`run finished: ${ps.length - not_run.length} of ${ps.length} code cells run`);
  // As scripts/run_notebooks.py: a cell fails when it shows an error, writes to stderr (evcxr
  // reports a cell whose `?` returned an error as a success and prints the error there) or prints
  // "panicked at". A failed cell also stops Run All: the cells after it are not run.
  const failed = await panel.locator(".jp-CodeCell").evaluateAll((cells) => cells
    .map((c, i) => {
      const outs = [...c.querySelectorAll(".jp-OutputArea-output")];
      const bad = outs.filter((o) => o.matches("[data-mime-type='application/vnd.jupyter.stderr'], .jp-mod-error")
        || o.textContent.includes("panicked at"));
      return [i + 1, bad.map((o) => o.textContent.trim()).join("\n")];
    })
    .filter(([, text]) => text));
  for (const [i, text] of failed) fail(`code cell ${i} failed (error, stderr or panic):\n${text.slice(0, 1500)}`);
  if (not_run.length) fail(`code cells not run (a cell before them failed?): ${not_run.join(", ")}`);
  await page.screenshot({ path: `${out_dir}/lab-done.png` });

  // 4. Sliders: move each to its other end; exactly one frame must show, and another one after.
  const sliders = await panel.locator(".ddpm-slider").all();
  for (const [k, slider] of sliders.entries()) {
    await slider.scrollIntoViewIfNeeded();
    const shown = () => slider.evaluate((root) => {
      const visible = [...root.querySelectorAll("img.ddpm-frame")].filter((f) => f.style.display !== "none");
      return { visible: visible.map((f) => f.alt), frames: root.querySelectorAll("img.ddpm-frame").length, label: root.querySelector(".ddpm-label").textContent };
    });
    const before = await shown();
    await slider.screenshot({ path: `${out_dir}/slider${k}-start.png` });
    const input = slider.locator("input[type=range]");
    const [min, max, value] = await Promise.all(["min", "max", "value"].map((a) => input.getAttribute(a)));
    const target = Number(value) === Number(max) ? min : max; // the other end
    await input.fill(target); // sets the value and fires "input", as dragging does
    const after = await shown();
    await slider.screenshot({ path: `${out_dir}/slider${k}-end.png` });
    await page.screenshot({ path: `${out_dir}/slider${k}-in-lab.png` }); // the slider in its notebook
    const ok = before.visible.length === 1 && after.visible.length === 1 && before.visible[0] !== after.visible[0]
      && before.label !== after.label;
    console.log(`slider ${k} (${before.frames} frames): ${ok ? "ok" : "FAILED"}: before "${before.label}" ` +
      `(${before.visible.length} frame shown: ${before.visible.join(", ")}), after moving to ${target}: "${after.label}" ` +
      `(${after.visible.length} shown: ${after.visible.join(", ")})` +
      (before.visible.length > 1 ? " -- every frame shows: the slider's script did not run (notebook not trusted?)" : ""));
    if (!ok) failures++;
  }

  // 5. Animated PNGs: an <img> whose data holds an acTL chunk; screenshots a second apart must differ.
  const imgs = panel.locator(".jp-OutputArea img");
  const animated = await imgs.evaluateAll((all) => all
    .map((img, i) => [i, img.src])
    .filter(([, src]) => src.startsWith("data:image/png;base64,") && atob(src.slice(22, 22 + 200)).includes("acTL"))
    .map(([i]) => i));
  for (const [k, i] of animated.entries()) {
    const img = imgs.nth(i);
    await img.scrollIntoViewIfNeeded();
    const size = await img.evaluate((e) => `${e.naturalWidth}x${e.naturalHeight}`);
    const a = await img.screenshot({ path: `${out_dir}/animation${k}-a.png` });
    await page.waitForTimeout(1000);
    const b = await img.screenshot({ path: `${out_dir}/animation${k}-b.png` });
    await page.screenshot({ path: `${out_dir}/animation${k}-in-lab.png` });
    const moves = !a.equals(b);
    if (!moves) failures++;
    console.log(`animation ${k} (${size}): ${moves ? "ok: the picture changes" : "FAILED: the same pixels a second apart"}`);
  }
  if (sliders.length + animated.length === 0) fail("no slider and no animated PNG in the notebook's outputs");

  // 6. A section's figure with its check table under it (CheckTable::show_with_then_assert): one
  // HTML output holding an <img> and a <table>; the picture must have decoded, the table have rows.
  const combined = panel.locator(".jp-OutputArea-output").filter({ has: page.locator("table") })
    .filter({ has: page.locator("img") });
  for (const [k, output] of (await combined.all()).entries()) {
    await output.scrollIntoViewIfNeeded();
    const seen = await output.evaluate((e) => ({
      picture: [...e.querySelectorAll("img")].every((img) => img.complete && img.naturalWidth > 0),
      rows: e.querySelectorAll("table tr").length - 1,
    }));
    await output.screenshot({ path: `${out_dir}/checked-figure${k}.png` });
    const ok = seen.picture && seen.rows > 0;
    if (!ok) failures++;
    console.log(`figure with checks ${k}: ${ok ? "ok" : "FAILED"}: picture ${seen.picture ? "shown" : "NOT shown"}, ` +
      `${seen.rows} check rows`);
  }
  for (const e of errors) {
    console.log(`page error: ${e}`);
    failures++;
  }
  log(`screenshots in ${out_dir}`);
} catch (e) {
  await abort(`${e.message.split("\n")[0]}`);
}
await finish();
