// A throwaway PostgreSQL cluster for tests that need server settings the shared one lacks (TLS, …):
// initdb in a temporary folder, its own port, run as the `postgres` user, removed afterwards.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ThrowawayPostgres {
  readonly port: number;
  readonly dir: string;
  /** `pg_ctl restart` with the given shutdown mode: every connection is cut, the server comes back on the same port. */
  restart(mode: 'fast' | 'immediate'): void;
  stop(): void;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  if (version === undefined) throw new Error('no PostgreSQL binaries found');
  return join(root, version, 'bin');
}

function asPostgres(cmd: string, args: readonly string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A streaming replica of `primary` on `port`: `pg_basebackup -R` of the primary (which needs
 * `wal_level = replica`, the default), started as a hot standby. Removed by `stop`.
 */
export function startThrowawayStandby(primary: ThrowawayPostgres, port: number): ThrowawayPostgres {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'backfill-pg-standby-'));
  chmodSync(dir, 0o700);
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
  const data = join(dir, 'data');
  asPostgres(join(bin, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream', '--no-sync']);
  // The copy carries the primary's settings: only the port, the socket folder and hot standby differ.
  appendFileSync(join(data, 'postgresql.conf'), `\nport = ${port}\nunix_socket_directories = '${dir}'\nhot_standby = on\n`);
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  return {
    port,
    dir,
    restart: (mode) => {
      asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-m', mode, '-w', '-t', '60', 'restart']);
    },
    stop: () => {
      try {
        if (existsSync(data)) asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Start a cluster on `port` with `settings` appended to postgresql.conf; `tls` makes a self-signed certificate. */
export function startThrowawayPostgres(port: number, options: { tls?: boolean; settings?: readonly string[] } = {}): ThrowawayPostgres {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'backfill-pg-'));
  chmodSync(dir, 0o700);
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
  const data = join(dir, 'data');
  asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const conf = [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${dir}'`, 'fsync = off', ...(options.settings ?? [])];
  if (options.tls === true) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=backfill-test',
      '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt')], { stdio: 'ignore' });
    execFileSync('chown', ['postgres:postgres', join(data, 'server.key'), join(data, 'server.crt')]);
    chmodSync(join(data, 'server.key'), 0o600);
    conf.push('ssl = on');
    // Only TLS connections from the network: a plain one is refused.
    writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
    execFileSync('chown', ['postgres:postgres', join(data, 'pg_hba.conf')]);
  }
  appendFileSync(join(data, 'postgresql.conf'), `\n${conf.join('\n')}\n`);
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  return {
    port,
    dir,
    restart: (mode) => {
      asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-m', mode, '-w', '-t', '60', 'restart']);
    },
    stop: () => {
      try {
        if (existsSync(data)) asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
