/**
 * How each protocol reading and table becomes Prometheus metrics: the table that dashboard/
 * metrics.ts writes from. Keyed by reading and table name, so a reading appended to
 * shared/protocol.ts does not compile until it is given a metric here or left out with a reason
 * (and test/dashboard/metrics.test.ts checks every table column the same way).
 *
 * Names follow Prometheus conventions: base units (bytes, seconds, celsius, hertz, watts; a
 * percent becomes a ratio 0..1), the unit last. The agent sends rates (per second, over its
 * interval), not the kernel's counters, so rates are gauges named `_per_second`; a counter would
 * have to survive agent restarts, and rate() over these would be wrong.
 *
 * A host total and its per-device breakdown are separate families (sentinel_network_receive_...
 * and sentinel_network_interface_receive_...), so that sum() over either never counts twice.
 */
import type { ReadingName, TableName } from '../shared/protocol.ts';

/** Percent (0-100) to ratio (0-1); a division, so 42.5 gives 0.425 exactly as written. */
const PERCENT = (v: number): number => v / 100;
const MHZ = (v: number): number => v * 1e6;

export interface FamilySpec {
  readonly help: string;
}

/**
 * Every family made from readings and tables, by name, in output order; all gauges. Help text
 * says the unit and where the value comes from.
 */
const FAMILIES = {
  sentinel_cpu_usage_ratio: { help: 'CPU busy, all cores, as a ratio (0-1).' },
  sentinel_cpu_mode_ratio: { help: 'CPU time by mode, all cores, as a ratio (0-1): user (user + nice), system (system + irq + softirq), iowait, steal.' },
  sentinel_cpu_frequency_hertz: { help: 'Current CPU clock, mean over cores, hertz.' },
  sentinel_load1: { help: 'Load average over 1 minute.' },
  sentinel_load5: { help: 'Load average over 5 minutes.' },
  sentinel_load15: { help: 'Load average over 15 minutes.' },
  sentinel_memory_total_bytes: { help: 'Physical memory, bytes.' },
  sentinel_memory_used_bytes: { help: 'Memory in use (total - available), bytes.' },
  sentinel_memory_available_bytes: { help: 'Memory available for new work (MemAvailable), bytes.' },
  sentinel_memory_cached_bytes: { help: 'Page cache (Cached + SReclaimable), bytes.' },
  sentinel_memory_buffers_bytes: { help: 'Block-device buffers (Buffers), bytes.' },
  sentinel_swap_total_bytes: { help: 'Swap space, bytes.' },
  sentinel_swap_used_bytes: { help: 'Swap in use, bytes.' },
  sentinel_uptime_seconds: { help: 'Time since the host booted, seconds.' },
  sentinel_disk_read_bytes_per_second: { help: 'Bytes read per second, all physical disks; a rate over the agent\'s interval, not a counter.' },
  sentinel_disk_written_bytes_per_second: { help: 'Bytes written per second, all physical disks; a rate over the agent\'s interval, not a counter.' },
  sentinel_disk_reads_completed_per_second: { help: 'Read operations completed per second, all physical disks; a rate over the agent\'s interval, not a counter.' },
  sentinel_disk_writes_completed_per_second: { help: 'Write operations completed per second, all physical disks; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_receive_bytes_per_second: { help: 'Bytes received per second, all interfaces but loopback; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_transmit_bytes_per_second: { help: 'Bytes sent per second, all interfaces but loopback; a rate over the agent\'s interval, not a counter.' },
  sentinel_cpu_temperature_celsius: { help: 'CPU package temperature, degrees Celsius.' },
  sentinel_temperature_max_celsius: { help: 'Hottest temperature sensor of the machine, degrees Celsius.' },
  sentinel_processes: { help: 'Processes.' },
  sentinel_processes_running: { help: 'Processes running or runnable.' },
  sentinel_processes_blocked: { help: 'Processes blocked on I/O.' },
  sentinel_power_watts: { help: 'Power the machine draws, watts.' },
  // From tables.
  sentinel_cpu_core_usage_ratio: { help: 'CPU busy per logical CPU (label cpu: its index), as a ratio (0-1).' },
  sentinel_cpu_core_temperature_celsius: { help: 'Temperature per physical core (label core: its index), degrees Celsius.' },
  sentinel_filesystem_size_bytes: { help: 'Filesystem size, bytes.' },
  sentinel_filesystem_used_bytes: { help: 'Filesystem space used, bytes.' },
  sentinel_filesystem_avail_bytes: { help: 'Filesystem space available to unprivileged users, bytes (df\'s Avail).' },
  sentinel_network_interface_receive_bytes_per_second: { help: 'Bytes received per second by the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_transmit_bytes_per_second: { help: 'Bytes sent per second by the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_receive_packets_per_second: { help: 'Packets received per second by the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_transmit_packets_per_second: { help: 'Packets sent per second by the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_receive_errors_per_second: { help: 'Receive errors per second on the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_transmit_errors_per_second: { help: 'Transmit errors per second on the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_receive_drops_per_second: { help: 'Received packets dropped per second on the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_network_interface_transmit_drops_per_second: { help: 'Sent packets dropped per second on the interface; a rate over the agent\'s interval, not a counter.' },
  sentinel_gpu_utilization_ratio: { help: 'GPU utilisation (label device: its index), as a ratio (0-1).' },
  sentinel_gpu_memory_used_bytes: { help: 'GPU memory used, bytes.' },
  sentinel_gpu_memory_total_bytes: { help: 'GPU memory, bytes.' },
  sentinel_gpu_temperature_celsius: { help: 'GPU temperature, degrees Celsius.' },
  sentinel_gpu_power_watts: { help: 'GPU power draw, watts.' },
  sentinel_power_zone_watts: { help: 'Measured power of one RAPL zone (package, dram, psys ...), watts; sentinel_power_watts is their total without double counting.' },
} as const satisfies Record<string, FamilySpec>;

export type ReadingFamily = keyof typeof FAMILIES;
export const READING_FAMILIES: Readonly<Record<ReadingFamily, FamilySpec>> = Object.freeze(FAMILIES);

/** One reading written as one series of a family, with fixed labels and a unit conversion. */
export interface ReadingExport {
  readonly family: ReadingFamily;
  readonly labels?: Readonly<Record<string, string>>;
  readonly convert?: (v: number) => number;
}

/** A reading or column deliberately not exported, and why. */
export interface LeftOut {
  readonly leftOut: string;
}

/** Every reading: its metric, or why it is left out. A Record, so a new reading fails to compile here. */
export const READING_EXPORTS: Readonly<Record<ReadingName, ReadingExport | LeftOut>> = Object.freeze({
  cpu_pct: { family: 'sentinel_cpu_usage_ratio', convert: PERCENT },
  load_1m: { family: 'sentinel_load1' },
  load_5m: { family: 'sentinel_load5' },
  load_15m: { family: 'sentinel_load15' },
  mem_total_bytes: { family: 'sentinel_memory_total_bytes' },
  mem_used_bytes: { family: 'sentinel_memory_used_bytes' },
  mem_available_bytes: { family: 'sentinel_memory_available_bytes' },
  swap_total_bytes: { family: 'sentinel_swap_total_bytes' },
  swap_used_bytes: { family: 'sentinel_swap_used_bytes' },
  uptime_s: { family: 'sentinel_uptime_seconds' },
  cpu_user_pct: { family: 'sentinel_cpu_mode_ratio', labels: { mode: 'user' }, convert: PERCENT },
  cpu_system_pct: { family: 'sentinel_cpu_mode_ratio', labels: { mode: 'system' }, convert: PERCENT },
  cpu_iowait_pct: { family: 'sentinel_cpu_mode_ratio', labels: { mode: 'iowait' }, convert: PERCENT },
  cpu_steal_pct: { family: 'sentinel_cpu_mode_ratio', labels: { mode: 'steal' }, convert: PERCENT },
  cpu_freq_mhz: { family: 'sentinel_cpu_frequency_hertz', convert: MHZ },
  mem_cached_bytes: { family: 'sentinel_memory_cached_bytes' },
  mem_buffers_bytes: { family: 'sentinel_memory_buffers_bytes' },
  disk_read_bps: { family: 'sentinel_disk_read_bytes_per_second' },
  disk_write_bps: { family: 'sentinel_disk_written_bytes_per_second' },
  disk_read_iops: { family: 'sentinel_disk_reads_completed_per_second' },
  disk_write_iops: { family: 'sentinel_disk_writes_completed_per_second' },
  net_rx_bps: { family: 'sentinel_network_receive_bytes_per_second' },
  net_tx_bps: { family: 'sentinel_network_transmit_bytes_per_second' },
  temp_cpu_c: { family: 'sentinel_cpu_temperature_celsius' },
  temp_max_c: { family: 'sentinel_temperature_max_celsius' },
  procs_total: { family: 'sentinel_processes' },
  procs_running: { family: 'sentinel_processes_running' },
  procs_blocked: { family: 'sentinel_processes_blocked' },
  power_w: { family: 'sentinel_power_watts' },
} satisfies Record<ReadingName, ReadingExport | LeftOut>);

/** A table of rows with one numeric column per family; text columns become labels. */
export interface TableExport {
  /**
   * Labels of a row, after `host`: from its text columns (`labelColumns`, column to label name)
   * and, for the index label, its position (rows come sorted from the agent, so the position is
   * stable: core or GPU number).
   */
  readonly indexLabel?: string;
  readonly labelColumns?: Readonly<Record<string, string>>;
  /** Numeric columns by name (a per-core list's one column too): its metric, or why it is left out. */
  readonly columns: Readonly<Record<string, ReadingExport | LeftOut>>;
}

/** Every table: how it is exported, or why not. A Record, so a new table fails to compile here. */
export const TABLE_EXPORTS: Readonly<Record<TableName, TableExport | LeftOut>> = Object.freeze({
  cpu_cores_pct: { indexLabel: 'cpu', columns: { pct: { family: 'sentinel_cpu_core_usage_ratio', convert: PERCENT } } },
  // Physical cores, not logical CPUs: their own label, so the two indexes are never joined by mistake.
  temp_cores_c: { indexLabel: 'core', columns: { c: { family: 'sentinel_cpu_core_temperature_celsius' } } },
  fs: {
    labelColumns: { mount: 'mountpoint', type: 'fstype' },
    columns: {
      size_bytes: { family: 'sentinel_filesystem_size_bytes' },
      used_bytes: { family: 'sentinel_filesystem_used_bytes' },
      free_bytes: { family: 'sentinel_filesystem_avail_bytes' },
    },
  },
  net: {
    labelColumns: { name: 'interface' },
    columns: {
      rx_bps: { family: 'sentinel_network_interface_receive_bytes_per_second' },
      tx_bps: { family: 'sentinel_network_interface_transmit_bytes_per_second' },
      rx_pps: { family: 'sentinel_network_interface_receive_packets_per_second' },
      tx_pps: { family: 'sentinel_network_interface_transmit_packets_per_second' },
      rx_errs_ps: { family: 'sentinel_network_interface_receive_errors_per_second' },
      tx_errs_ps: { family: 'sentinel_network_interface_transmit_errors_per_second' },
      rx_drops_ps: { family: 'sentinel_network_interface_receive_drops_per_second' },
      tx_drops_ps: { family: 'sentinel_network_interface_transmit_drops_per_second' },
    },
  },
  gpu: {
    indexLabel: 'device',
    labelColumns: { model: 'model' },
    columns: {
      util_pct: { family: 'sentinel_gpu_utilization_ratio', convert: PERCENT },
      mem_used_bytes: { family: 'sentinel_gpu_memory_used_bytes' },
      mem_total_bytes: { family: 'sentinel_gpu_memory_total_bytes' },
      temp_c: { family: 'sentinel_gpu_temperature_celsius' },
      power_w: { family: 'sentinel_gpu_power_watts' },
    },
  },
  // A pid and a process name as labels would start new series every time the busiest processes
  // change: unbounded cardinality in Prometheus for little use. The dashboard shows them instead.
  procs_top: { leftOut: 'pid and process name labels churn: a new series for every process that is briefly busiest' },
  power_zones: { labelColumns: { zone: 'zone' }, columns: { watts: { family: 'sentinel_power_zone_watts' } } },
} satisfies Record<TableName, TableExport | LeftOut>);

export function isLeftOut(x: ReadingExport | TableExport | LeftOut): x is LeftOut {
  return Object.hasOwn(x, 'leftOut');
}
