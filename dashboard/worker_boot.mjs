// Entry of the dashboard worker thread. Node does not carry the tsx loader into worker threads
// (execArgv --import is not applied there on Node 20), so the worker registers it itself and
// then loads the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
