import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is a static SPA served by the Skillport server at `/`. During `vite dev`, API and MCP calls
// are proxied to a running server (default http://127.0.0.1:8123, override with SKILLPORT_DEV_API).
const root = fileURLToPath(new URL('.', import.meta.url));
const api = process.env.SKILLPORT_DEV_API ?? 'http://127.0.0.1:8123';

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: true },
      '/mcp': { target: api, changeOrigin: true },
    },
  },
});
