// Renders a load-test HTML report to a PNG with Debian's Chromium (the
// picture in the README):
//   pnpm --filter @parley/loadtest exec tsx scripts/screenshot.ts REPORT.html OUT.png
import path from "node:path";
import { chromium } from "playwright-core";

const [html, png] = process.argv.slice(2);
if (!html || !png) {
  console.error("usage: screenshot.ts REPORT.html OUT.png");
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1200 }, deviceScaleFactor: 1 });
  await page.goto(`file://${path.resolve(html)}`);
  await page.screenshot({ path: png, fullPage: false });
} finally {
  await browser.close();
}
console.log(`wrote ${png}`);
