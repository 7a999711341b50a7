// Types of detail_view.js for the TypeScript that imports it (the tests). detail_view.js stays
// plain JavaScript so the browser runs it as it is; keep these signatures in step with it.

export interface FamilyState {
  reported: boolean;
  /** Each missing reading with the agent's reason: "name: reason", or the name alone. */
  reasons: string[];
  /** What a card with nothing says: the one reason all gave, else `reasons` joined; '' for none. */
  why: string;
}
export interface HostAlertLine { rule: string; metric: string; instance: string; state: 'firing' | 'pending' }

export const FAMILIES: Readonly<Record<string, readonly string[]>>;
export function parseNote(note: string | null | undefined): Map<string, string>;
export function familyState(h: unknown, notes: Map<string, string>, keys: readonly string[]): FamilyState;
export function hostAlertLines(alerts: unknown): HostAlertLine[];
