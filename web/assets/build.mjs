// Bundles every page script in web/assets (each *.js is an entry) into web/static/build/<name>.js, and
// copies the stylesheets and font the bpmn-js viewer needs beside them. `npm run build` runs it.
// The pages load only these same-origin files: nothing comes from a CDN and nothing is fetched later.
import { build } from "esbuild";
import { cp, mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const out = path.join(root, "web/static/build");
const bpmnAssets = path.join(root, "node_modules/bpmn-js/dist/assets");

// What bpmn-js's viewer draws with: its own rules, diagram-js's, and the BPMN icon font.
const copied = [
  ["diagram-js.css", "diagram-js.css"],
  ["bpmn-js.css", "bpmn-js.css"],
  ["bpmn-font/css/bpmn.css", "bpmn-font/css/bpmn.css"],
  ["bpmn-font/font", "bpmn-font/font"],
];

async function entries() {
  const names = await readdir(here);
  return names.filter((name) => name.endsWith(".js")).sort().map((name) => path.join(here, name));
}

async function main() {
  const points = await entries();
  // A clean folder each time, so a removed entry leaves no stale bundle behind.
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: points,
    outdir: out,
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    sourcemap: false,
    legalComments: "linked",
    logLevel: "warning",
  });
  for (const [from, to] of copied) {
    await cp(path.join(bpmnAssets, from), path.join(out, to), { recursive: true });
  }
  console.log(`built ${points.length} script(s) into ${path.relative(root, out)}: ` +
              points.map((p) => path.basename(p)).join(", "));
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
