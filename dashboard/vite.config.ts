import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// Served by the node under /dashboard. In development Vite serves it and
// talks to a Parley node on :8080.
export default defineConfig({
  base: "/dashboard/",
  plugins: [solid()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: {
    proxy: {
      "/wall/ws": { target: "ws://127.0.0.1:8080", ws: true },
      "/api": { target: "http://127.0.0.1:8080" },
    },
  },
});
