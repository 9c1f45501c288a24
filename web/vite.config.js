import { defineConfig } from "vite";

// The gateway serves the build from the Python package (api/www), so `pip install` ships it.
export default defineConfig({
  build: { outDir: "../api/www", emptyOutDir: true, assetsInlineLimit: 0, modulePreload: { polyfill: false } },
});
