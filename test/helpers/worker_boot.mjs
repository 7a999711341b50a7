// Runs a TypeScript module in a worker thread: Node does not carry tsx's loader into workers,
// so this registers it and imports the module named in workerData.module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
