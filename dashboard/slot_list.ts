/**
 * A set of slot numbers as a query parameter: `3,7-9,12` (single slots and inclusive ranges,
 * comma-separated, in any order). The overview page asks `/api/sparklines?slots=...` for the
 * rows it draws (at most a few hundred of a fleet of thousands) rather than for every host; it
 * writes the list with dashboard/static/overview.js `slotList`, and this reads it. Pure: no I/O.
 */

/** Longest list read, characters: ~1,500 scattered slots of five digits, well inside a request line. */
export const MAX_SLOT_LIST_CHARS = 8192;

const ITEM = /^(0|[1-9]\d{0,8})(?:-(0|[1-9]\d{0,8}))?$/;

/**
 * The slots `text` names, sorted and without repeats, each below `capacity`; or a message saying
 * what is wrong. The length is checked before anything is split, and each range is marked at
 * its two ends (a difference array, summed in one pass), so the work is the list's items plus
 * the capacity however large or overlapping its ranges (`0-65535` repeated a thousand times).
 */
export function parseSlotList(text: string, capacity: number): Int32Array | string {
  if (text.length > MAX_SLOT_LIST_CHARS) return `slots is ${text.length} characters; at most ${MAX_SLOT_LIST_CHARS}`;
  if (text === '') return new Int32Array(0);
  // starts[s] - ends[s]: ranges that begin at s less those that ended just before it.
  const diff = new Int32Array(capacity + 1);
  for (const item of text.split(',')) {
    const m = ITEM.exec(item);
    if (m === null) return `slots must be slot numbers and ranges (3,7-9), got ${JSON.stringify(item.slice(0, 40))}`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return `slots: the range ${item} runs backwards`;
    if (to >= capacity) return `slots: ${to} is past the last slot (${capacity - 1})`;
    diff[from]!++;
    diff[to + 1]!--;
  }
  let count = 0;
  let open = 0;
  for (let s = 0; s < capacity; s++) {
    open += diff[s]!;
    if (open > 0) count++;
  }
  const out = new Int32Array(count);
  open = 0;
  for (let s = 0, k = 0; s < capacity && k < count; s++) {
    open += diff[s]!;
    if (open > 0) out[k++] = s;
  }
  return out;
}
