// The window's build (index.html + src/main.ts -> dist/, tauri.conf.json > build > frontendDist).
// ui/'s sources come with their own node modules (run `npm install` in ui/ first); only the
// highlight.js stylesheet this folder imports directly is pointed there. No `import "vite"`, so
// ui's Vite can run it too: `../../ui/node_modules/.bin/vite build`.
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const uiModules = fileURLToPath(new URL("../../ui/node_modules/", import.meta.url));

export default {
  root: here,
  base: "./",
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true },
  resolve: { alias: { "highlight.js": `${uiModules}highlight.js` } },
};
