// Entry of a pool worker of the ingest benchmark: tsx is not carried into worker threads on
// Node 20, so the worker registers it, then loads the TypeScript task.
import { register } from 'tsx/esm/api';

register();
await import('./ingest_pool_task.ts');
