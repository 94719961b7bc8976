import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard is a static build (`dashboard/dist`) that the hub serves at `/`. Under `npm run dev`
 * the Vite dev server proxies the hub's endpoints, so the app can always use its own origin.
 */
const root = fileURLToPath(new URL('.', import.meta.url));
const hub = `http://127.0.0.1:${process.env.HUB_PORT ?? 5000}`;

export default defineConfig({
  root,
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/ws': { target: hub, ws: true, changeOrigin: true },
      '/sse': { target: hub, changeOrigin: true },
      '/api': { target: hub, changeOrigin: true },
      '/healthz': { target: hub, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      '/ws': { target: hub, ws: true, changeOrigin: true },
      '/sse': { target: hub, changeOrigin: true },
      '/api': { target: hub, changeOrigin: true },
      '/healthz': { target: hub, changeOrigin: true },
    },
  },
});
