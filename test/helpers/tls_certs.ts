/**
 * Certificates for TLS tests, made by scripts/make_tls_certs.sh with the real openssl (the same
 * commands README's how-to gives), in a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './procs.ts';

export interface TestCerts {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: string;
}

export function makeCerts(name = 'localhost', ip = '127.0.0.1'): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-tls-'));
  execFileSync('sh', [join(ROOT, 'scripts/make_tls_certs.sh'), dir, name, ip], { stdio: 'pipe', timeout: 20_000 });
  return { dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'collector.pem'), keyFile: join(dir, 'collector.key'), ca: readFileSync(join(dir, 'ca.pem'), 'utf8') };
}
