// Vite build of the browser UI: one entry per server-rendered page; Django reads dist/.vite/manifest.json
// (annotations/templatetags/vite.py) to emit the <script>/<link> tags. Relative base: the files are
// served under STATIC_URL, whatever it is.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    target: "es2022",
    sourcemap: true,
    rollupOptions: {
      input: {
        cases: "src/pages/cases.ts",
        editor: "src/pages/editor.ts",
        review: "src/pages/review.ts",
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
