// Builds the window (index.html + renderer.ts) into dist/ for file:// loading. It uses ui/'s
// sources and ui/'s node modules (run `npm install` in ui/ first), so it imports nothing itself:
// run it with ui's Vite, e.g. `../../ui/node_modules/.bin/vite build` from this folder.
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const uiModules = fileURLToPath(new URL("../../ui/node_modules/", import.meta.url));

export default {
  root: here,
  base: "./",
  build: { outDir: "dist", emptyOutDir: true },
  resolve: { alias: { "highlight.js": `${uiModules}highlight.js` } },
};
