// Types of overview.js for the TypeScript that imports it (the tests). overview.js stays plain
// JavaScript so the browser runs it as it is; keep these signatures in step with it.

export type ColumnKey = 'name' | 'status' | 'age' | 'cpu' | 'mem' | 'disk' | 'net' | 'temp' | 'power' | 'energy' | 'cost' | 'uptime';
export type PowerSource = 'measured' | 'estimated';
export type SortDir = 'asc' | 'desc';
export type StatusFilter = 'all' | 'online' | 'stale' | 'offline';
export type ViewName = 'table' | 'grid';
/** The layout a person chose, or 'auto' while they chose none (the width picks it). */
export type ViewChoice = ViewName | 'auto';
export type HostStatus = 'online' | 'stale' | 'offline';
export type Level = '' | 'warn' | 'alert';
export type AlertState = 'pending' | 'firing';

export const COLUMNS: readonly ColumnKey[];
export const STATUS_FILTERS: readonly StatusFilter[];
export const VIEWS: readonly ViewName[];
/** Each view's name in the URL (`view=cards` for the grid); the view's own name reads too. */
export const VIEW_IN_URL: Readonly<Record<ViewName, string>>;
export const SPARK_SERIES: readonly ['cpu_pct', 'mem_used_pct'];
export const MAX_QUERY_CHARS: number;
export const MAX_BANNER_ALERTS: number;
export const POWER_SOURCES: readonly PowerSource[];
export const PAGE_ROWS: number;
export const NO_TARIFF_HINT: string;

export interface ViewState { sort: ColumnKey; dir: SortDir; q: string; status: StatusFilter; view: ViewChoice }
export const DEFAULT_STATE: Readonly<ViewState>;
/** The media query of a screen that opens in the cards while no layout was chosen. */
export const NARROW_MEDIA: string;
export function shownView(view: ViewChoice, narrow: boolean): ViewName;

export interface Thresholds { cpu_pct: number | null; mem_used_pct: number | null; fs_used_pct: number | null; temp_max_c: number | null }
export const DEFAULT_THRESHOLDS: Readonly<Thresholds>;

/** A host alert as the payload lists it under the host. */
export interface HostAlert { rule: string; metric: string; instance: string; state: AlertState }

/** A host of the payload, every shown value present (null when unknown). */
export interface OverviewHost {
  name: string;
  /** The host's slot in the collector's store (`status` events address hosts by it); null when the payload has none. */
  slot: number | null;
  status: HostStatus;
  ageMs: number | null;
  cpuPct: number | null;
  cpuCores: number | null;
  memUsedBytes: number | null;
  memTotalBytes: number | null;
  memPct: number | null;
  diskPct: number | null;
  diskMount: string | null;
  rxBps: number | null;
  txBps: number | null;
  netBps: number | null;
  tempC: number | null;
  powerW: number | null;
  /** Where powerW comes from; null without watts or when the agent did not say. */
  powerSource: PowerSource | null;
  /** Energy drawn today (the tariff's local day), kWh, and its cost; null before any is counted / without a tariff. */
  todayKwh: number | null;
  todayCost: number | null;
  uptimeS: number | null;
  /** os · kernel · arch · cpu model · cores · agent, the parts that are known. */
  facts: string;
  /** The facts as sent (os, kernel, arch, cpu_model, agent), kept for deltas that leave them out. */
  machine: { os?: unknown; kernel?: unknown; arch?: unknown; cpu_model?: unknown; agent?: unknown };
  note: string;
  alerts: HostAlert[];
}

/** Anything JSON-shaped: the payload is read defensively. */
type Json = Record<string, unknown>;

export function defaultDir(key: ColumnKey): SortDir;
export function compareNames(a: string, b: string): number;
export function normalizeHost(h: Json, prev?: OverviewHost | null): OverviewHost;
export function normalizeHosts(payload: unknown): OverviewHost[];
export function hostAlertsOf(alerts: unknown): Map<string, HostAlert[]>;
/** A `status` event applied to the hosts: see overview.js. */
export function applyStatusEvent(hosts: readonly OverviewHost[], data: unknown): { hosts: OverviewHost[]; changed: string[]; statusChanged: boolean; gone: number };
export function sortValue(host: OverviewHost, key: ColumnKey): number | string | null;
export function hostComparator(key: ColumnKey, dir: SortDir): (a: OverviewHost, b: OverviewHost) => number;
export function matchesFilter(host: OverviewHost, q: string, status: StatusFilter): boolean;
export function visibleHosts(hosts: readonly OverviewHost[], state: ViewState): OverviewHost[];
export function pageModel(matching: readonly OverviewHost[], total: number, limit: number): { rows: readonly OverviewHost[]; count: string; more: string | null };
export function slotList(slots: readonly (number | null)[]): string;
export const MAX_SPARK_SLOTS_CHARS: number;
export function sparkRequest(rows: readonly OverviewHost[], total: number): { slots: string | null; names: ReadonlySet<string> | null };

export function parseQuery(search: unknown): Partial<ViewState>;
export function parseStored(text: unknown): Partial<ViewState>;
export function initialState(search: unknown, storedText: unknown): ViewState;
export function serialiseQuery(state: ViewState, linkView?: ViewState['view']): string;
export function serialiseStored(state: ViewState, chosenView?: ViewState['view']): string;
export function toggleSort(state: ViewState, key: ColumnKey): ViewState;

export function alertStates(alerts: readonly HostAlert[]): Partial<Record<ColumnKey, AlertState>>;
export function level(value: number | null, threshold: number | null, alertState: AlertState | undefined): Level;
export function thresholdsOf(payload: unknown): Thresholds;

export function formatAge(ms: number | null | undefined): string;
export function formatBytesPair(used: number | null | undefined, total: number | null | undefined): string;
export function formatPower(w: number | null | undefined): string;
export function formatCost(c: unknown, currency?: string | null): string;
export function currencyOf(payload: unknown): string | null;
export function powerSourcesText(summary: unknown): string;

export interface Cell {
  text: string;
  sub: string;
  level: Level;
  /** The power cell's badge: where the watts come from ('' for none). */
  badge: PowerSource | '';
  /** A tooltip saying why the value is missing (e.g. no tariff); '' for none. */
  hint: string;
}
export interface RowModel {
  name: string;
  /** /hosts/NAME, the name percent-encoded. */
  href: string;
  status: HostStatus;
  /** Whether any alert of the host fires. */
  firing: boolean;
  /** The link's tooltip: what the host is, and what it did not report. */
  title: string;
  cells: Record<Exclude<ColumnKey, 'name' | 'age'>, Cell>;
}
export function rowModel(host: OverviewHost, thresholds: Thresholds, currency?: string | null): RowModel;

export type FleetKey = 'hosts' | 'online' | 'stale' | 'offline' | 'cpu' | 'memory' | 'power' | 'power_detail'
  | 'energy' | 'energy_detail' | 'cost' | 'cost_detail' | 'projected' | 'projected_detail';
export function fleetModel(payload: unknown, hosts: readonly OverviewHost[]): Record<FleetKey, string>;

export interface BannerLine {
  rule: string;
  host: string;
  href: string;
  /** What the alert says of the host: 'CPU 97.0 % (alert at > 90.0 %) · firing for 5m 0s'. */
  detail: string;
  /** The rule as --alerts writes it: 'cpu_high: cpu_pct > 90 for 5m'. */
  title: string;
}
export function bannerModel(payload: unknown): { count: number; lines: BannerLine[]; more: number };
