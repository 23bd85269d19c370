// Opens an executed notebook's HTML (scripts/run_notebooks.py --html OUTDIR) in Chromium,
// moves every slider (display::Slider) to its other end and checks that the frame shown
// changed, and checks that every animated PNG (display::animation) shows different pixels a
// second apart. Saves screenshots of each state into OUTDIR, and prints what it saw.
//
//   cd scripts/browser && npm install && node check_pictures.mjs NOTEBOOK.html OUTDIR
//
// Chromium: Debian's `chromium` package (apt-get install chromium), or CHROMIUM=/path/to/it.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

const [page_path, out_dir] = process.argv.slice(2);
if (!page_path || !out_dir) {
  console.error("usage: node check_pictures.mjs NOTEBOOK.html OUTDIR");
  process.exit(2);
}
mkdirSync(out_dir, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto("file://" + resolve(page_path));
let failures = 0;

const sliders = await page.locator(".ddpm-slider").all();
for (const [k, slider] of sliders.entries()) {
  await slider.scrollIntoViewIfNeeded();
  const shown = () => slider.evaluate((root) => {
    const visible = [...root.querySelectorAll("img.ddpm-frame")].filter((f) => f.style.display !== "none");
    return { visible: visible.map((f) => f.alt), label: root.querySelector(".ddpm-label").textContent };
  });
  const before = await shown();
  await slider.screenshot({ path: `${out_dir}/slider${k}-start.png` });
  const input = slider.locator("input[type=range]");
  const max = await input.getAttribute("max");
  await input.fill(max); // sets the value and fires "input", as dragging does
  const after = await shown();
  await slider.screenshot({ path: `${out_dir}/slider${k}-end.png` });
  const ok = before.visible.length === 1 && after.visible.length === 1 && before.visible[0] !== after.visible[0];
  if (!ok) failures++;
  console.log(`slider ${k}: ${ok ? "ok" : "FAILED"}: before "${before.label}" (${before.visible.length} frame shown), ` +
    `after moving to ${max}: "${after.label}" (${after.visible.length} shown)`);
}

// Animated PNGs: an <img> whose data holds an acTL chunk; screenshots a second apart must differ.
const animated = await page.locator("img").evaluateAll((imgs) => imgs
  .map((img, i) => [i, img.src])
  .filter(([, src]) => src.startsWith("data:image/png;base64,") && atob(src.slice(22, 22 + 200)).includes("acTL"))
  .map(([i]) => i));
for (const [k, i] of animated.entries()) {
  const img = page.locator("img").nth(i);
  await img.scrollIntoViewIfNeeded();
  const a = await img.screenshot({ path: `${out_dir}/animation${k}-a.png` });
  await page.waitForTimeout(1000);
  const b = await img.screenshot({ path: `${out_dir}/animation${k}-b.png` });
  const moves = !a.equals(b);
  if (!moves) failures++;
  console.log(`animation ${k}: ${moves ? "ok: the picture changes" : "FAILED: the same pixels a second apart"}`);
}
if (sliders.length + animated.length === 0) {
  console.log("no slider and no animated PNG on this page");
}
for (const e of errors) {
  console.log(`page error: ${e}`);
  failures++;
}
await browser.close();
process.exit(failures ? 1 : 0);
