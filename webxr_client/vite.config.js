import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The built client is served by the Python server from vizserver/static/ (not committed).
export default defineConfig({
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('../vizserver/static/', import.meta.url)),
    emptyOutDir: true,
    // Bundles go under /client/: /assets/ is the server's GLB route.
    assetsDir: 'client',
    target: 'es2022',
    chunkSizeWarningLimit: 1200,
  },
  server: {
    // `npm run dev` proxies the API and the socket to a `vizserver serve` on port 8000.
    proxy: {
      '/api': 'http://127.0.0.1:8000',
      '/assets': 'http://127.0.0.1:8000',
      '/ws': { target: 'ws://127.0.0.1:8000', ws: true },
    },
  },
});
