// Entry of an ingest worker thread. Node does not carry the tsx loader into worker threads (see
// dashboard/worker_boot.mjs), so the worker registers it itself, then loads the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./ingest_worker.ts');
