/**
 * Reads a fixed list of named number fields out of objects, fast: `sample[name]` in a loop over
 * names is a megamorphic keyed load per field (about two thirds of HostTable.recordSample's own
 * time at 19,000 agents, measured with --cpu-prof); a function with the names written out does
 * named loads that stay monomorphic for objects of one shape (shared/sample_decoder.ts builds
 * samples of constant shapes). Compiled once per list, from names that must be plain
 * identifiers: the lists are the protocol's own constants, never anything received.
 */

/** Copies `obj[names[i]]` to `out[offset + i]`, NaN where the field is not a number (absent, null, anything else). */
export type FieldReader = (obj: object, out: Float64Array, offset: number) => void;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function fieldReader(names: readonly string[]): FieldReader {
  checkNames(names, 'fieldReader');
  const body = names.map((name, i) => `v = obj.${name}; out[offset + ${i}] = typeof v === 'number' ? v : NaN;`).join('\n');
  return new Function('obj', 'out', 'offset', `let v;\n${body}`) as FieldReader;
}

/** A new object of `names` taken from `obj`, each absent one (undefined or null) as `fallback`; one shape for every call. */
export type FieldPicker<T> = (obj: object) => Record<string, T>;

export function fieldPicker<T>(names: readonly string[], fallback: T): FieldPicker<T> {
  checkNames(names, 'fieldPicker');
  const fields = names.map((name) => `${name}: obj.${name} ?? fallback`).join(', ');
  const make = new Function('fallback', `return (obj) => ({ ${fields} });`) as (fb: T) => FieldPicker<T>;
  return make(fallback);
}

/** Names an object has whether or not they were set: never protocol fields. */
const INHERITED = new Set(['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']);

function checkNames(names: readonly string[], who: string): void {
  for (const name of names) {
    if (!IDENTIFIER.test(name) || INHERITED.has(name)) throw new RangeError(`${who}: ${JSON.stringify(name)} is not a plain field name`);
  }
}
