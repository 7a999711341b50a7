/**
 * Imported first by main.ts, before anything loads msgpackr: turns off msgpackr's native addon
 * (msgpackr-extract) in the agent. The addon only speeds up decoding many strings, and the agent
 * decodes nothing but the collector's welcome, acks and errors; loading it (dlopen of a shared
 * library and its dependencies) cost ~6 MiB of the agent's resident memory (measured: an idle
 * `import 'msgpackr'` at 49.5 MiB with the addon, 43.7 MiB without). Encoding is plain
 * JavaScript either way, so the frames are byte for byte the same. A value already in the
 * environment wins.
 */
export const MSGPACKR_NATIVE_ENV = 'MSGPACKR_NATIVE_ACCELERATION_DISABLED';

process.env[MSGPACKR_NATIVE_ENV] ??= 'true';
