// Two pages, one build: the console (index.html) and the GraphQL IDE (graphiql.html).
// The API serves dist/ under /console/ (the IDE's page at GET /graphql); nothing here is
// fetched from anywhere but the API at run time.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 6000,
    rollupOptions: {
      input: {
        console: resolve(import.meta.dirname, 'index.html'),
        graphiql: resolve(import.meta.dirname, 'graphiql.html'),
      },
    },
  },
});
