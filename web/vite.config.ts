// Builds the dashboard into $TASKER_WEB_OUT (the CMake build sets it to
// build/web-dist), or web/dist; scripts/embed_web.py compiles that folder
// into the binary.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: process.env.TASKER_WEB_OUT ?? "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 300,
  },
});
