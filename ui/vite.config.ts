import { defineConfig } from "vite";

export default defineConfig({
  root: ".",
  base: "./",
  build: { outDir: "dist", emptyOutDir: true },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
} as never);
