/**
 * Characters that must never reach a person unescaped, nor tell two host names apart unseen:
 * controls (C0, DEL, C1), every format character (Unicode category Cf: soft hyphen, zero-width
 * characters, bidi marks and overrides including U+061C, word joiners, BOM, tag characters),
 * line and paragraph separators, and characters that render as nothing (combining grapheme
 * joiner, Hangul fillers, variation selectors). Used by the host-name rule and the log.
 */
export const UNSAFE_CHARS_SOURCE = String.raw`[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f\u{e0100}-\u{e01ef}]`;

/** Matches one unsafe character (no global flag: for .test()). */
export const UNSAFE_CHAR = new RegExp(UNSAFE_CHARS_SOURCE, 'u');

/** Matches every unsafe character (global: for .replace()). */
export const UNSAFE_CHARS_GLOBAL = new RegExp(UNSAFE_CHARS_SOURCE, 'gu');
