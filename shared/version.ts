/** The version of this checkout, sent by agents in `hello` and by the collector in `welcome`. */
export const SENTINEL_VERSION = '0.1.0';
