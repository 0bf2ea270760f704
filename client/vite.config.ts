import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// In development the app is served by Vite and talks to a Parley node on :8080.
export default defineConfig({
  plugins: [solid()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/ws": { target: "ws://127.0.0.1:8080", ws: true },
    },
  },
});
