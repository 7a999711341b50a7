/**
 * The realistic sample the benchmarks send: what an 8-core server's agent sends every second
 * (every reading, per-core CPU, two core temperatures, three filesystems, two interfaces, the
 * top 5 processes, measured power with its zones), as shared/protocol.ts defines it.
 */
const GIB = 1024 ** 3;

export const SAMPLE: Readonly<Record<string, unknown>> = Object.freeze({
  type: 'sample', seq: 123456, ts: 1795339419123,
  cpu_pct: 37.4, load_1m: 1.27, load_5m: 0.98, load_15m: 0.71,
  mem_total_bytes: 32 * GIB, mem_used_bytes: 12_884_901_888, mem_available_bytes: 21_474_836_480,
  swap_total_bytes: 8 * GIB, swap_used_bytes: 268_435_456, uptime_s: 1_234_567,
  cpu_user_pct: 30.1, cpu_system_pct: 6.2, cpu_iowait_pct: 0.9, cpu_steal_pct: 0.2, cpu_freq_mhz: 2894.5,
  mem_cached_bytes: 9_663_676_416, mem_buffers_bytes: 402_653_184,
  disk_read_bps: 1_048_576, disk_write_bps: 4_194_304, disk_read_iops: 12, disk_write_iops: 85,
  net_rx_bps: 2_345_678, net_tx_bps: 456_789, temp_cpu_c: 58, temp_max_c: 61,
  procs_total: 312, procs_running: 3, procs_blocked: 0, power_w: 96.5, power_source: 'measured',
  cpu_cores_pct: [41.2, 35.7, 38.9, 33.1, 44.6, 29.8, 36.4, 39.5],
  temp_cores_c: [57, 59, 56, 58],
  fs: [
    { mount: '/', type: 'ext4', size_bytes: 250 * GIB, used_bytes: 97 * GIB, free_bytes: 140 * GIB },
    { mount: '/var/lib', type: 'xfs', size_bytes: 1000 * GIB, used_bytes: 611 * GIB, free_bytes: 389 * GIB },
  ],
  net: [{ name: 'eth0', rx_bps: 2_345_678, tx_bps: 456_789, rx_pps: 1843, tx_pps: 975, rx_errs_ps: 0, tx_errs_ps: 0, rx_drops_ps: 0, tx_drops_ps: 0 }],
  procs_top: [
    { name: 'postgres', pid: 1834, cpu_pct: 88.5 }, { name: 'node', pid: 2210, cpu_pct: 41.2 },
    { name: 'nginx', pid: 977, cpu_pct: 7.3 },
  ],
});
